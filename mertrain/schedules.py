"""Learning-rate schedules of a recipe, as typed choices: constant, step decay, plateau."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


class RecipeError(ValueError):
    """A recipe request that cannot be applied (names the recipe field)."""


@dataclass(frozen=True)
class Constant:
    """The learning rate stays at ``lr``."""

    kind: Literal["constant"] = "constant"

    @property
    def spec(self) -> str:
        return "constant"


@dataclass(frozen=True)
class StepDecay:
    """``lr * factor ** (epoch // every)`` (the reference's "x 0.9 every 40 epochs")."""

    factor: float
    every: int
    kind: Literal["step"] = "step"

    def __post_init__(self) -> None:
        if not (0 < self.factor <= 1) or self.every < 1:
            raise RecipeError(f"schedule {self.spec!r}: factor in (0, 1], every >= 1")

    @property
    def spec(self) -> str:
        return f"step:{self.factor:g}:{self.every}"


@dataclass(frozen=True)
class Plateau:
    """``ReduceLROnPlateau(factor, patience)`` on the inner-validation loss with ``select``
    inner-val, else on the training loss (never on the test fold)."""

    factor: float
    patience: int
    kind: Literal["plateau"] = "plateau"

    def __post_init__(self) -> None:
        if not (0 < self.factor < 1) or self.patience < 1:
            raise RecipeError(f"schedule {self.spec!r}: factor in (0, 1), patience >= 1")

    @property
    def spec(self) -> str:
        return f"plateau:{self.factor:g}:{self.patience}"


Schedule = Constant | StepDecay | Plateau


_SCHEDULE_RE = re.compile(
    r"^(constant|step:(?P<sf>[0-9.eE+-]+):(?P<se>\d+)|plateau:(?P<pf>[0-9.eE+-]+):(?P<pp>\d+))$"
)


def parse_schedule(value: str | Mapping[str, Any] | Schedule) -> Schedule:
    """``"constant"``, ``"step:F:N"``, ``"plateau:F:P"``, a ``{"kind": ...}`` mapping (as
    recorded in a run's config) or a schedule object."""
    if isinstance(value, (Constant, StepDecay, Plateau)):
        return value
    if isinstance(value, Mapping):
        kind = value.get("kind")
        fields = {k: v for k, v in value.items() if k != "kind"}
        try:
            if kind == "constant":
                return Constant()
            if kind == "step":
                return StepDecay(float(fields["factor"]), int(fields["every"]))
            if kind == "plateau":
                return Plateau(float(fields["factor"]), int(fields["patience"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecipeError(f"schedule {dict(value)}: {exc}") from None
        raise RecipeError(f"schedule kind {kind!r}: choose constant, step or plateau")
    m = _SCHEDULE_RE.match(str(value or ""))
    if not m:
        raise RecipeError(
            f"schedule {value!r}: expected 'constant', 'step:FACTOR:EVERY_EPOCHS' "
            "or 'plateau:FACTOR:PATIENCE'"
        )
    if m.group(1) == "constant":
        return Constant()
    if m.group("sf") is not None:
        return StepDecay(float(m.group("sf")), int(m.group("se")))
    return Plateau(float(m.group("pf")), int(m.group("pp")))
