"""``mertrain run --recipe NAME``: a named recipe (mertrain.recipes) as the defaults of the other
options, so each flag typed beside it overrides that one value; and the ``--augment`` type that
takes a recipe's mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from click.core import ParameterSource

from mertrain.recipes import NamedRecipe, get_recipe

#: --loss spelling -> the recipe's loss name
LOSSES = {
    "ce": "ce",
    "weighted-ce": "weighted_ce",
    "logit-adjusted": "logit_adjusted",
    "focal": "focal",
}
#: flat run option a recipe sets -> the click parameter of ``mertrain run`` that sets it
PARAMS = {
    "model": "model",
    "named_recipe": "recipe",
    "preset": "preset",
    "input": "input_mode",
    "protocol": "protocol",
    "task": "task",
    "frames": "frames",
    "size": "size",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "lr_schedule": "lr_schedule",
    "loss": "loss",
    "class_weights": "class_weights",
    "augment": "augment",
}
_LOSS_FLAGS = {name: flag for flag, name in LOSSES.items()}


def recipe_defaults(recipe: NamedRecipe) -> dict[str, Any]:
    """A named recipe as click defaults (``ctx.default_map``): each value in the form its flag
    takes, so a flag typed on the command line replaces it and nothing else."""
    out: dict[str, Any] = {}
    for option, value in recipe.run_options().items():
        if option == "loss":
            value = _LOSS_FLAGS[value]
        elif option == "class_weights":
            if value is None:
                continue  # the loss decides (ce: unweighted)
            value = ",".join(f"{w:g}" for w in value)
        elif option == "augment" and value is None:
            value = "none"
        out[PARAMS[option]] = value
    return out


def apply_recipe(ctx: click.Context, param: click.Parameter, name: str | None) -> str | None:
    """``--recipe``: eager, so its values become the defaults of the other options before
    they are read (a typed flag still wins)."""
    if name is None:
        return None
    recipe = get_recipe(name)
    ctx.meta["mertrain.recipe"] = recipe
    ctx.default_map = {**(ctx.default_map or {}), **recipe_defaults(recipe)}
    return name


def check_model(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A recipe is for one model: another model typed beside it is refused by name."""
    recipe = ctx.meta.get("mertrain.recipe")
    typed = ctx.get_parameter_source("model") == ParameterSource.COMMANDLINE
    if recipe is not None and typed and value != recipe.model:
        raise click.BadParameter(
            f"recipe {recipe.name} is the reference recipe of model {recipe.model}, not "
            f"{value}; drop --model (or --recipe)"
        )
    return value


class AugmentParam(click.ParamType):
    """--augment: text (none, default, FILE.json), or a named recipe's mapping as is."""

    name = "none|default|FILE.json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Mapping):
            return dict(value)
        return str(value)
