"""Learning-rate schedules of a recipe, as typed choices: constant, step decay, plateau."""

from __future__ import annotations

import math
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
    """``ReduceLROnPlateau(factor, patience, min_lr)`` on the inner-validation loss with
    ``select`` inner-val, else on the training loss (never on the test fold). ``min_lr`` None:
    no floor (Keras' 0); section C's reference sets 1e-4."""

    factor: float
    patience: int
    kind: Literal["plateau"] = "plateau"
    min_lr: float | None = None

    def __post_init__(self) -> None:
        if not (0 < self.factor < 1) or self.patience < 1:
            raise RecipeError(f"schedule {self.spec!r}: factor in (0, 1), patience >= 1")
        if self.min_lr is not None:
            if not (math.isfinite(self.min_lr) and self.min_lr > 0):
                raise RecipeError(f"schedule {self.spec!r}: min_lr must be a number > 0")
            object.__setattr__(self, "min_lr", float(self.min_lr))

    @property
    def spec(self) -> str:
        floor = "" if self.min_lr is None else f":{self.min_lr:g}"
        return f"plateau:{self.factor:g}:{self.patience}{floor}"


Schedule = Constant | StepDecay | Plateau


_SCHEDULE_RE = re.compile(
    r"^(constant|step:(?P<sf>[0-9.eE+-]+):(?P<se>\d+)"
    r"|plateau:(?P<pf>[0-9.eE+-]+):(?P<pp>\d+)(?::(?P<pm>[0-9.eE+-]+))?)$"
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
                floor = fields.get("min_lr")
                return Plateau(
                    float(fields["factor"]),
                    int(fields["patience"]),
                    min_lr=None if floor is None else float(floor),
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecipeError(f"schedule {dict(value)}: {exc}") from None
        raise RecipeError(f"schedule kind {kind!r}: choose constant, step or plateau")
    m = _SCHEDULE_RE.match(str(value or ""))
    if not m:
        raise RecipeError(
            f"schedule {value!r}: expected 'constant', 'step:FACTOR:EVERY_EPOCHS' "
            "or 'plateau:FACTOR:PATIENCE[:MIN_LR]'"
        )
    if m.group(1) == "constant":
        return Constant()
    try:
        if m.group("sf") is not None:
            return StepDecay(float(m.group("sf")), int(m.group("se")))
        floor = m.group("pm")
        return Plateau(
            float(m.group("pf")), int(m.group("pp")), min_lr=None if floor is None else float(floor)
        )
    except ValueError as exc:  # "1e" matches the pattern but is no number
        if isinstance(exc, RecipeError):
            raise
        raise RecipeError(f"schedule {value!r}: {exc}") from None
