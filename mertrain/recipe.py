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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mertrain.loss_choices import (
    BALANCED,
    LOSS_KINDS,
    ClassWeights,
    CrossEntropy,
    Focal,
    LogitAdjusted,
    Loss,
    check_weights,
    describe_loss,
    loss_from_dict,
    make_loss,
)
from mertrain.schedules import (
    Constant,
    Plateau,
    RecipeError,
    Schedule,
    StepDecay,
    parse_schedule,
)

__all__ = [
    "BALANCED",
    "LOSS_KINDS",
    "RECIPE_PRESET_KEYS",
    "ClassWeights",
    "Constant",
    "CrossEntropy",
    "Focal",
    "LogitAdjusted",
    "Loss",
    "Plateau",
    "Recipe",
    "RecipeError",
    "RecipeRequest",
    "Schedule",
    "StepDecay",
    "apply_preset",
    "describe_loss",
    "loss_from_dict",
    "make_loss",
    "parse_schedule",
    "resolve_recipe",
]


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
        if d["schedule"].get("min_lr", 0) is None:  # no floor: as recorded before it existed
            del d["schedule"]["min_lr"]
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
                self, "class_weights", check_weights(tuple(self.class_weights), "class_weights")
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
