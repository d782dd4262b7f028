"""The training recipe, as typed choices resolved once per run.

A model registers its default recipe (:class:`Recipe`: epochs, batch size, learning rate,
:data:`Schedule`, :data:`Loss`) beside, not inside, its architecture configuration; a preset may
change both. :func:`resolve_recipe` applies the user's requests (:class:`RecipeRequest`, what
``mertrain run --epochs/--lr/--lr-schedule/--loss/--class-weights/--balance/--tau/--focal-gamma``
asked for) to that default, in one place and with every rule about how those requests combine.
The trainer and the record of a run only ever see the resolved, typed recipe.

Class weights (:data:`ClassWeights`): ``None`` (unweighted), a tuple in class order (fixed), or
:data:`BALANCED`: ``n / (K n_c)`` counted on each fold's training clips.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

BALANCED: Final = "balanced"
ClassWeights = tuple[float, ...] | Literal["balanced"] | None


class RecipeError(ValueError):
    """A recipe request that cannot be applied (names the recipe field)."""


# --------------------------------------------------------------------------- schedules


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


# --------------------------------------------------------------------------- losses


def _check_weights(weights: ClassWeights, loss: str) -> ClassWeights:
    if weights is None or weights == BALANCED:
        return weights
    if isinstance(weights, str):
        raise RecipeError(f"{loss}: class_weights must be numbers or {BALANCED!r}, got {weights!r}")
    out = tuple(float(w) for w in weights)
    if not out or not all(math.isfinite(w) and w >= 0 for w in out) or not any(out):
        raise RecipeError(f"{loss}: class_weights must be finite, non-negative and not all zero")
    return out


@dataclass(frozen=True)
class CrossEntropy:
    """Cross-entropy, optionally weighted per class (``weighted_ce``)."""

    class_weights: ClassWeights = None
    kind: Literal["ce"] = "ce"

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_weights", _check_weights(self.class_weights, "ce"))

    @property
    def name(self) -> str:
        """The name fold records use: ``weighted_ce`` once weights apply."""
        return "ce" if self.class_weights is None else "weighted_ce"


@dataclass(frozen=True)
class LogitAdjusted:
    """Cross-entropy on ``logits + tau * log(prior)``, the prior counted on the training fold
    (AM3F-FlowNet; Menon et al. 2021); optionally with balanced class weights."""

    tau: float = 1.0
    class_weights: ClassWeights = None
    kind: Literal["logit_adjusted"] = "logit_adjusted"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tau) and self.tau >= 0):
            raise RecipeError("logit_adjusted: tau must be a finite number >= 0")
        if self.class_weights not in (None, BALANCED):
            raise RecipeError(
                "logit_adjusted: class_weights may only be 'balanced' (fixed "
                "weights apply to ce and focal)"
            )

    @property
    def name(self) -> str:
        return "logit_adjusted"


@dataclass(frozen=True)
class Focal:
    """``(1 - p_y)^gamma * CE`` (Lin et al. 2017); alpha = the class weights."""

    gamma: float = 2.0
    class_weights: ClassWeights = None
    kind: Literal["focal"] = "focal"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise RecipeError("focal: gamma must be a finite number >= 0")
        object.__setattr__(self, "class_weights", _check_weights(self.class_weights, "focal"))

    @property
    def name(self) -> str:
        return "focal"


Loss = CrossEntropy | LogitAdjusted | Focal
LOSS_KINDS = ("ce", "weighted_ce", "logit_adjusted", "focal")


def loss_from_dict(d: Mapping[str, Any]) -> Loss:
    """The loss recorded as ``{"kind": ..., ...}`` in a run's config."""
    kind = d.get("kind")
    weights = d.get("class_weights")
    if isinstance(weights, list):
        weights = tuple(weights)
    if kind in ("ce", "weighted_ce"):
        return CrossEntropy(weights)
    if kind == "logit_adjusted":
        return LogitAdjusted(float(d.get("tau", 1.0)), weights)
    if kind == "focal":
        return Focal(float(d.get("gamma", 2.0)), weights)
    raise RecipeError(f"loss kind {kind!r}: choose one of {', '.join(LOSS_KINDS)}")


# --------------------------------------------------------------------------- the recipe


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: resolved and typed (see the module docstring)."""

    epochs: int = 100
    batch_size: int = 8
    lr: float = 1e-3
    schedule: Schedule = Constant()
    loss: Loss = CrossEntropy()

    def __post_init__(self) -> None:
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise RecipeError(f"epochs must be a whole number >= 1, got {self.epochs!r}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise RecipeError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise RecipeError(f"lr must be a number > 0, got {self.lr!r}")
        object.__setattr__(self, "epochs", int(self.epochs))
        object.__setattr__(self, "batch_size", int(self.batch_size))
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "schedule", parse_schedule(self.schedule))

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"epochs", "batch_size", "lr", "schedule": {...}, "loss": {...}}``."""
        d = dataclasses.asdict(self)
        if isinstance(d["loss"].get("class_weights"), tuple):
            d["loss"]["class_weights"] = list(d["loss"]["class_weights"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Recipe:
        return cls(
            int(d["epochs"]),
            int(d["batch_size"]),
            float(d["lr"]),
            parse_schedule(d["schedule"]),
            loss_from_dict(d["loss"]),
        )


#: recipe keys a flat preset may hold beside architecture fields (presets are data: one flat
#: mapping per dataset, as the reference scripts set them)
RECIPE_PRESET_KEYS = (
    "epochs",
    "batch_size",
    "lr",
    "lr_schedule",
    "loss",
    "class_weights",
    "logit_adjust_tau",
    "focal_gamma",
)


def apply_preset(recipe: Recipe, preset: Mapping[str, Any]) -> Recipe:
    """The recipe with a flat preset's recipe keys applied (a preset names the whole loss:
    ``loss`` with its ``class_weights``/``logit_adjust_tau``/``focal_gamma``)."""
    changes: dict[str, Any] = {k: preset[k] for k in ("epochs", "batch_size", "lr") if k in preset}
    if "lr_schedule" in preset:
        changes["schedule"] = parse_schedule(preset["lr_schedule"])
    if any(k in preset for k in ("loss", "class_weights", "logit_adjust_tau", "focal_gamma")):
        changes["loss"] = make_loss(
            preset.get("loss", recipe.loss.kind),
            class_weights=preset.get("class_weights"),
            tau=preset.get("logit_adjust_tau"),
            gamma=preset.get("focal_gamma"),
            base=recipe.loss,
        )
    return recipe.replace(**changes)


def make_loss(
    kind: str,
    *,
    class_weights: ClassWeights = None,
    tau: float | None = None,
    gamma: float | None = None,
    base: Loss | None = None,
) -> Loss:
    """A loss of ``kind`` (one of :data:`LOSS_KINDS`); parameters not given come from ``base``
    when it is a loss of the same kind, else from the loss's own defaults."""
    same = (
        base
        if base is not None and base.kind == ("ce" if kind == "weighted_ce" else kind)
        else None
    )
    if kind in ("ce", "weighted_ce"):
        weights: ClassWeights = (
            class_weights
            if class_weights is not None
            else (same.class_weights if same is not None else None)
        )
        if kind == "weighted_ce" and weights is None:
            weights = BALANCED  # weighted CE without weights: counted on each training fold
        if kind == "ce" and class_weights is None:
            weights = None
        return CrossEntropy(weights)
    if kind == "logit_adjusted":
        return LogitAdjusted(
            tau if tau is not None else getattr(same, "tau", 1.0),
            class_weights if class_weights is not None else getattr(same, "class_weights", None),
        )
    if kind == "focal":
        return Focal(
            gamma if gamma is not None else getattr(same, "gamma", 2.0),
            class_weights if class_weights is not None else getattr(same, "class_weights", None),
        )
    raise RecipeError(f"loss {kind!r}: choose one of {', '.join(LOSS_KINDS)}")


@dataclass(frozen=True)
class RecipeRequest:
    """What the user asked to change in the model's recipe (``None``: keep the model's)."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    schedule: Schedule | None = None
    loss: str | None = None
    class_weights: tuple[float, ...] | None = None
    balance: bool = False
    tau: float | None = None
    focal_gamma: float | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise RecipeError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.lr is not None and not (
            isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0
        ):
            raise RecipeError(f"lr must be a number > 0, got {self.lr!r}")
        if self.schedule is not None:
            object.__setattr__(self, "schedule", parse_schedule(self.schedule))
        if self.loss is not None and self.loss not in LOSS_KINDS:
            raise RecipeError(f"loss {self.loss!r}: choose one of {', '.join(LOSS_KINDS)}")
        if self.class_weights is not None:
            object.__setattr__(
                self, "class_weights", _check_weights(tuple(self.class_weights), "class_weights")
            )
        for name in ("tau", "focal_gamma"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise RecipeError(f"{name} must be a finite number >= 0")

    def is_empty(self) -> bool:
        return self == RecipeRequest()


def resolve_recipe(default: Recipe, request: RecipeRequest) -> Recipe:
    """The model's (preset-applied) recipe with the user's requests, every combination rule in
    one place:

    - ``loss`` replaces the model's loss kind; its parameters start from the model's loss when
      it is the same kind, else from that loss's defaults. ``weighted_ce`` without weights (none
      given, none in the model's loss) counts them on each training fold (balanced).
    - ``class_weights`` apply to ce (making it weighted_ce) and focal (alpha); with
      logit_adjusted they are refused.
    - ``balance``: class weights counted on each training fold, for ce, logit_adjusted and focal;
      refused beside fixed class weights (the model's or the user's): set one or the other.
    - ``tau`` only with logit_adjusted, ``focal_gamma`` only with focal.
    """
    changes: dict[str, Any] = {
        k: getattr(request, k)
        for k in ("epochs", "batch_size", "lr")
        if getattr(request, k) is not None
    }
    if request.schedule is not None:
        changes["schedule"] = request.schedule
    loss = default.loss
    if request.loss is not None:
        loss = make_loss(
            request.loss,
            class_weights=request.class_weights,
            tau=request.tau,
            gamma=request.focal_gamma,
            base=default.loss,
        )
    else:
        if request.class_weights is not None:
            if loss.kind not in ("ce", "focal"):
                raise RecipeError(
                    f"class_weights apply to loss ce/weighted_ce or focal (alpha), not {loss.name}"
                )
            loss = dataclasses.replace(loss, class_weights=request.class_weights)
        if request.tau is not None:
            if not isinstance(loss, LogitAdjusted):
                raise RecipeError(f"tau applies to loss logit_adjusted, not {loss.name}")
            loss = dataclasses.replace(loss, tau=request.tau)
        if request.focal_gamma is not None:
            if not isinstance(loss, Focal):
                raise RecipeError(f"focal_gamma applies to loss focal, not {loss.name}")
            loss = dataclasses.replace(loss, gamma=request.focal_gamma)
    if request.loss is not None:
        if request.tau is not None and not isinstance(loss, LogitAdjusted):
            raise RecipeError(f"tau applies to loss logit_adjusted, not {loss.name}")
        if request.focal_gamma is not None and not isinstance(loss, Focal):
            raise RecipeError(f"focal_gamma applies to loss focal, not {loss.name}")
        if request.class_weights is not None and isinstance(loss, LogitAdjusted):
            raise RecipeError(
                "class_weights apply to loss ce/weighted_ce or focal (alpha), not logit_adjusted"
            )
    if request.balance:
        if isinstance(loss.class_weights, tuple):
            whose = "the given" if request.class_weights is not None else "the model's recipe's"
            raise RecipeError(
                f"balance would replace {whose} fixed class weights "
                f"{list(loss.class_weights)} of loss {loss.name}; set one or the "
                "other"
            )
        balanced: ClassWeights = BALANCED
        loss = dataclasses.replace(loss, class_weights=balanced)
    changes["loss"] = loss
    try:
        return default.replace(**changes)
    except RecipeError:
        raise
    except (TypeError, ValueError) as exc:
        raise RecipeError(str(exc)) from None


def describe_loss(loss: Loss) -> str:
    """``weighted_ce (class weights [0.3, 0.35, 0.35])``, ``focal (gamma 2)``, ..."""
    text = loss.name
    weights = loss.class_weights
    if weights == BALANCED:
        text += " (class weights n/(K n_c) from each fold's training clips)"
    elif weights is not None:
        text += f" (class weights {list(weights)})"
    if isinstance(loss, LogitAdjusted):
        text += f" (tau {loss.tau:g})"
    if isinstance(loss, Focal):
        text += f" (gamma {loss.gamma:g})"
    return text
