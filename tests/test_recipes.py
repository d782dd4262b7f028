"""Named recipes (mertrain.recipes, ``mertrain run --recipe``).

Every recipe is resolved the way a user gets it (the real ``mertrain run`` options and
``build_config``, then the model, preset and recipe resolution a run does before training) and
the configuration it would train with is checked against every row of its table in
docs/models.md, which quotes the reference file and line of each value. Typed flags override
one value each; another model is refused; the recipe's name and values are recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mertrain.commands.run import build_config
from mertrain.commands.run_options import run_options
from mertrain.prepare import resolve_model
from mertrain.recipes import RECIPES, get_recipe

DOCS = Path(__file__).parents[1] / "docs" / "models.md"


def _doc_tables() -> dict[str, dict[str, tuple[object, str]]]:
    """recipe -> setting -> (value, reference) from the Recipes section of docs/models.md."""
    text = DOCS.read_text(encoding="utf-8").split("\n## Recipes", 1)[1]
    tables: dict[str, dict[str, tuple[object, str]]] = {}
    current = None
    for line in text.splitlines():
        head = re.match(r"^### `([^`]+)`", line)
        if head:
            current = tables.setdefault(head.group(1), {})
            continue
        row = re.match(r"^\| ([a-z0-9_.]+) \| `(.*)` \| (.+) \|$", line)
        if row and current is not None and row.group(1) != "setting":
            try:
                value: object = json.loads(row.group(2))
            except ValueError:
                value = row.group(2)
            current[row.group(1)] = (value, row.group(3))
    return tables


TABLES = _doc_tables()


@click.command()
@click.argument("stores", nargs=-1)
@run_options
@click.pass_context
def _resolve(ctx, stores, config_file, progress, **values):
    """``mertrain run``'s options resolved to a RunConfig (no stores opened, nothing trained)."""
    ctx.obj["config"] = build_config(ctx, tuple(stores), config_file, values)


def _config(*args: str):
    box: dict = {}
    res = CliRunner().invoke(_resolve, ["store.h5", *args], obj=box)
    assert res.exit_code == 0, res.output
    return box["config"]


def _as_json(value):
    if isinstance(value, tuple):
        return [_as_json(v) for v in value]
    return value


def _resolved(config) -> dict[str, object]:
    """Every setting a recipe table can name, as the run would train with it."""
    spec, model_config, recipe = resolve_model(config)
    out: dict[str, object] = {
        "preset": config.model.preset,
        "input": config.data.input,
        "protocol": config.data.protocol,
        "task": config.data.task,
        "frames": model_config.frames,
        "size": model_config.size,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "lr": recipe.lr,
        "schedule": recipe.schedule.spec,
        "loss": recipe.loss.name,
        "class_weights": _as_json(recipe.loss.class_weights),
        "augment": config.recipe.augment,
    }
    for name, value in vars(model_config).items():
        out[f"model.{name}"] = _as_json(value)
    return out


def test_the_docs_table_lists_every_recipe_and_every_setting():
    assert sorted(TABLES) == sorted(RECIPES.names())
    for name in RECIPES.names():
        recipe = get_recipe(name)
        rows = TABLES[name]
        assert sorted(rows) == sorted(s.name for s in recipe.settings), name
        for s in recipe.settings:
            value, source = rows[s.name]
            assert re.search(r"\.py[^ ]*:\d", source) or "script" in source, (name, s.name)
            if s.name != "store":
                assert value == s.value, (name, s.name)


@pytest.mark.parametrize("name", RECIPES.names())
def test_each_recipe_resolves_to_its_table(name):
    config = _config("--recipe", name)
    assert config.model.name == get_recipe(name).model
    assert config.recipe.named_recipe == name
    resolved = _resolved(config)
    for setting, (value, source) in TABLES[name].items():
        if setting == "store":
            continue
        got = resolved[setting]
        if setting == "augment" and isinstance(value, dict):
            assert got is not None and {k: got[k] for k in value} == value, (name, source)
        elif isinstance(value, float):
            assert got == pytest.approx(value), (name, setting, source)
        else:
            assert got == value, (name, setting, got, value, source)


def test_typed_flags_override_one_value_and_keep_the_rest():
    base = _resolved(_config("--recipe", "icip2024-ext-casme3"))
    changed = _resolved(
        _config("--recipe", "icip2024-ext-casme3", "--epochs", "3", "--set", "head_dropout=0.1")
    )
    assert changed["epochs"] == 3 and changed["model.head_dropout"] == 0.1
    differ = {k for k in base if base[k] != changed[k]}
    assert differ == {"epochs", "model.head_dropout"}
    onset = _config("--recipe", "icip2024-casme2", "--input", "onset-diff")
    assert onset.data.input == "onset-diff" and onset.recipe.named_recipe == "icip2024-casme2"
    # recorded: the name and every value travel in the run's configuration
    record = onset.to_dict()
    assert record["recipe"]["named_recipe"] == "icip2024-casme2"
    assert (
        record["recipe"]["class_weights"] == [0.3, 0.35, 0.35] and record["model"]["frames"] == 30
    )


def test_a_recipe_belongs_to_its_model():
    res = CliRunner().invoke(
        _resolve, ["s.h5", "--recipe", "icip2024-casme2", "--model", "ststnet"], obj={}
    )
    assert res.exit_code == 2 and "recipe icip2024-casme2 is the reference recipe" in res.output
    res = CliRunner().invoke(_resolve, ["s.h5", "--recipe", "nope"], obj={})
    assert res.exit_code == 2 and "icip2024-casme2" in res.output


def test_without_a_recipe_the_project_defaults_apply():
    config = _config()
    assert config.recipe.named_recipe is None and config.data.input == "onset-diff"
    assert config.model.preset is None


def test_plateau_floor_reaches_keras_and_leaves_earlier_records_alone():
    """``plateau:F:P:MIN_LR`` (section C's ReduceLROnPlateau(min_lr=1e-4)): parsed, written
    back, handed to Keras; without a floor the recorded schedule is what it was before."""
    from mertrain.fitting import schedule_callbacks
    from mertrain.recipe import Plateau, Recipe, RecipeError, parse_schedule

    floor = Recipe(lr=3e-3, schedule="plateau:0.5:3:0.0001")
    assert floor.schedule == Plateau(0.5, 3, min_lr=1e-4)
    assert floor.schedule.spec == "plateau:0.5:3:0.0001"
    assert Recipe.from_dict(floor.to_dict()) == floor
    (cb,) = schedule_callbacks(floor, "loss")
    assert (cb.factor, cb.patience, cb.min_lr) == (0.5, 3, 1e-4)
    plain = Recipe(schedule="plateau:0.5:3")
    assert plain.to_dict()["schedule"] == {"factor": 0.5, "patience": 3, "kind": "plateau"}
    assert schedule_callbacks(plain, "loss")[0].min_lr == 0
    for bad in ("plateau:0.5:3:0", "plateau:0.5:3:1e"):
        with pytest.raises(RecipeError, match="schedule"):
            parse_schedule(bad)


def test_every_recipe_option_has_its_flag():
    from mertrain.commands.recipe_options import PARAMS
    from mertrain.commands.run_options import FLAG_OPTIONS
    from mertrain.recipes import RUN_OPTIONS

    for option, param in PARAMS.items():
        assert FLAG_OPTIONS[param][0] == option
    assert set(RUN_OPTIONS.values()) | {"model", "named_recipe"} == set(PARAMS)
