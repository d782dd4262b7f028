"""Named whole-run recipes: the settings of a published reference script, as data.

``mertrain run --recipe icip2024-casme2 STORE`` trains as that script does (input, frames,
preset, loss, class weights, schedule, epochs, batch size), with the run's honest evaluation;
every flag typed beside ``--recipe`` overrides the recipe's value, and the run's config.json
records the values and the recipe's name (``recipe.named_recipe``). Without ``--recipe`` a run
uses the project's own defaults (onset-difference input, the models' learnable defaults:
docs/models.md), which are not any paper's.

Every setting carries the reference file and line it copies (:class:`Setting`); the recipe
table of docs/models.md quotes them, and ``tests/test_recipes.py`` checks every recipe's
resolved configuration against that table.
"""

from __future__ import annotations

from merprep.registry import Registry

from .icip2024 import EXT_RECIPES, ICIP_RECIPES
from .stcnn import STCNN_RECIPES
from .types import NOT_APPLIED, RUN_OPTIONS, NamedRecipe, Setting

__all__ = [
    "NOT_APPLIED",
    "RECIPES",
    "RUN_OPTIONS",
    "NamedRecipe",
    "Setting",
    "get_recipe",
    "recipe_names",
]

#: every named recipe, by name
RECIPES: Registry[NamedRecipe] = Registry("recipe")
for _recipe in (*ICIP_RECIPES, *EXT_RECIPES, *STCNN_RECIPES):
    RECIPES.register(_recipe.name, _recipe)


def get_recipe(name: str) -> NamedRecipe:
    """The recipe registered under ``name``; ValueError naming the choices."""
    return RECIPES.get(name)


def recipe_names() -> list[str]:
    return RECIPES.names()
