"""The losses a recipe can name, as typed choices: cross-entropy (optionally weighted per class,
fixed or balanced), logit-adjusted cross-entropy, focal loss. The Keras side that computes them
is :mod:`mertrain.losses`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from mertrain.schedules import RecipeError

BALANCED: Final = "balanced"


ClassWeights = tuple[float, ...] | Literal["balanced"] | None


def check_weights(weights: ClassWeights, loss: str) -> ClassWeights:
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
        object.__setattr__(self, "class_weights", check_weights(self.class_weights, "ce"))

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
        object.__setattr__(self, "class_weights", check_weights(self.class_weights, "focal"))

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
