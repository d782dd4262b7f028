"""Run directories of the first release (config.json with a flat ``run`` and a
``model_config`` mixing architecture and recipe): what they trained, in today's terms.

Only reading is supported: a first-release directory resumes and merges when the run it
describes is the same, in effect, as the one asked for now (same architecture, same resolved
recipe, same data and numerics), and it is never rewritten in the new layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mertrain.recipe import (
    BALANCED,
    ClassWeights,
    CrossEntropy,
    Focal,
    LogitAdjusted,
    Loss,
    Recipe,
    parse_schedule,
)

#: the recipe fields the first release kept inside every model's configuration
V1_RECIPE_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "lr_schedule",
    "loss",
    "class_weights",
    "logit_adjust_tau",
    "focal_gamma",
    "seed",
)


def v1_architecture(model_config: Mapping[str, Any]) -> dict[str, Any]:
    """The architecture fields of a first-release ``model_config``."""
    return {k: v for k, v in model_config.items() if k not in V1_RECIPE_FIELDS}


def v1_loss(model_config: Mapping[str, Any], balance: bool) -> Loss:
    """The loss a first-release run trained with (its rules: ``balance`` counted weights on
    each training fold for ce, logit_adjusted and focal and took precedence over fixed focal
    weights; fixed weights applied to weighted_ce and focal only)."""
    kind = model_config.get("loss", "ce")
    raw = model_config.get("class_weights")
    fixed: ClassWeights = tuple(float(w) for w in raw) if raw is not None else None
    if kind == "weighted_ce":
        return CrossEntropy(fixed)
    balanced: ClassWeights = BALANCED if balance else None
    if kind == "logit_adjusted":
        return LogitAdjusted(float(model_config.get("logit_adjust_tau", 1.0)), balanced)
    if kind == "focal":
        return Focal(float(model_config.get("focal_gamma", 2.0)), balanced or fixed)
    return CrossEntropy(balanced)


def v1_recipe(model_config: Mapping[str, Any], balance: bool) -> Recipe:
    return Recipe(
        epochs=int(model_config["epochs"]),
        batch_size=int(model_config["batch_size"]),
        lr=float(model_config["lr"]),
        schedule=parse_schedule(model_config.get("lr_schedule", "constant")),
        loss=v1_loss(model_config, balance),
    )
