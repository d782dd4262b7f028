"""The nested run configuration, the typed recipe, the run record and run directories of the
first release.

- every combination rule of ``--loss/--class-weights/--balance/--tau/--focal-gamma`` has one
  place (:func:`mertrain.recipe.resolve_recipe`) and one test here;
- a configuration survives config.json (``mertrain run --config`` / ``mertrain rerun``);
- the first release's run directories (``tests/data/legacy_v1``, written by its own code) still
  resume, and rerun from their own config.json to identical predictions;
- a renamed model keeps its old name as an alias, and a directory made under the old name
  resumes under the new one;
- fold records are typed on both sides and checked against the run directory's schema.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_run import write_store

from mertrain.config import RunConfig, RunError
from mertrain.recipe import (
    BALANCED,
    Constant,
    CrossEntropy,
    Focal,
    LogitAdjusted,
    Plateau,
    Recipe,
    RecipeError,
    RecipeRequest,
    StepDecay,
    parse_schedule,
    resolve_recipe,
)

LEGACY = Path(__file__).parent / "data" / "legacy_v1"
#: the fingerprint of write_store()'s store when the legacy records were written
LEGACY_FINGERPRINT = "7b2aa4f8a1d4b3bbcc5cf8bf03003f2cd9cfa1969a339d0f2476856fe2270bf0"
WEIGHTED = Recipe(loss=CrossEntropy((0.3, 0.35, 0.35)))


# --------------------------------------------------------------------------- recipe rules


@pytest.mark.parametrize(
    "default,request_,expected",
    [
        # loss replaces the kind; parameters of the same kind carry over
        (WEIGHTED, RecipeRequest(loss="weighted_ce"), CrossEntropy((0.3, 0.35, 0.35))),
        (WEIGHTED, RecipeRequest(loss="ce"), CrossEntropy()),
        (WEIGHTED, RecipeRequest(loss="focal"), Focal(2.0, None)),
        (Recipe(), RecipeRequest(loss="weighted_ce"), CrossEntropy(BALANCED)),
        (Recipe(), RecipeRequest(loss="logit_adjusted", tau=0.5), LogitAdjusted(0.5)),
        (Recipe(loss=LogitAdjusted(2.0)), RecipeRequest(loss="logit_adjusted"), LogitAdjusted(2.0)),
        (
            Recipe(),
            RecipeRequest(loss="focal", focal_gamma=1.5, class_weights=(1, 2, 3)),
            Focal(1.5, (1.0, 2.0, 3.0)),
        ),
        # class weights alone make ce weighted, and set focal's alpha
        (Recipe(), RecipeRequest(class_weights=(1, 1, 2)), CrossEntropy((1.0, 1.0, 2.0))),
        (WEIGHTED, RecipeRequest(class_weights=(1, 1, 2)), CrossEntropy((1.0, 1.0, 2.0))),
        (
            Recipe(loss=Focal(1.0)),
            RecipeRequest(class_weights=(1, 1, 2)),
            Focal(1.0, (1.0, 1.0, 2.0)),
        ),
        # tau and gamma alone change the model's own loss of that kind
        (Recipe(loss=LogitAdjusted()), RecipeRequest(tau=0.25), LogitAdjusted(0.25)),
        (Recipe(loss=Focal()), RecipeRequest(focal_gamma=0.0), Focal(0.0)),
        # balance counts the weights on each training fold, for ce, logit_adjusted and focal
        (Recipe(), RecipeRequest(balance=True), CrossEntropy(BALANCED)),
        (Recipe(loss=LogitAdjusted()), RecipeRequest(balance=True), LogitAdjusted(1.0, BALANCED)),
        (Recipe(), RecipeRequest(loss="focal", balance=True), Focal(2.0, BALANCED)),
    ],
)
def test_recipe_resolution(default, request_, expected):
    assert resolve_recipe(default, request_).loss == expected


@pytest.mark.parametrize(
    "default,request_,message",
    [
        (Recipe(), RecipeRequest(tau=1.0), "tau applies to loss logit_adjusted, not ce"),
        (Recipe(), RecipeRequest(loss="focal", tau=1.0), "tau applies to loss logit_adjusted"),
        (Recipe(), RecipeRequest(focal_gamma=1.0), "focal_gamma applies to loss focal, not ce"),
        (
            Recipe(loss=LogitAdjusted()),
            RecipeRequest(class_weights=(1, 2, 3)),
            "class_weights apply to loss ce/weighted_ce or focal",
        ),
        (WEIGHTED, RecipeRequest(balance=True), "balance would replace the model's recipe's fixed"),
        (
            Recipe(),
            RecipeRequest(balance=True, loss="focal", class_weights=(1, 2, 3)),
            "balance would replace the given fixed class weights",
        ),
    ],
)
def test_recipe_refusals_name_the_fields(default, request_, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_recipe(default, request_)


def test_recipe_overrides_and_schedules():
    r = resolve_recipe(
        Recipe(epochs=200, lr=1e-3),
        RecipeRequest(epochs=3, lr=0.01, batch_size=4, schedule=parse_schedule("step:0.5:10")),
    )
    assert (r.epochs, r.lr, r.batch_size, r.schedule) == (3, 0.01, 4, StepDecay(0.5, 10))
    assert parse_schedule("plateau:0.5:3") == Plateau(0.5, 3)
    assert parse_schedule({"kind": "constant"}) == Constant()
    assert parse_schedule(StepDecay(0.9, 40).spec) == StepDecay(0.9, 40)
    for bad in ("cosine", "step:2:10", "plateau:0.5:0", "step:0.5"):
        with pytest.raises(RecipeError):
            parse_schedule(bad)
    assert Recipe.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    with pytest.raises(RecipeError, match="epochs must be a whole number"):
        Recipe(epochs=0)


# --------------------------------------------------------------------------- configuration


def test_configuration_round_trips_and_names_fields(tmp_path):
    c = RunConfig.from_options(
        stores=["a.h5", "b.h5"],
        out=str(tmp_path / "r"),
        model="ststnet",
        epochs=3,
        loss="focal",
        focal_gamma=1.0,
        lr_schedule="step:0.9:40",
        select="inner-val",
        precision="bf16",
        folds="0-2",
        model_options={"dropout": 0.2},
    )
    assert (c.model.name, c.data.stores, c.recipe.epochs, c.execution.folds) == (
        "ststnet",
        ("a.h5", "b.h5"),
        3,
        "0-2",
    )
    assert RunConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert c.with_options(epochs=4).recipe.epochs == 4
    # the identity is everything but execution (and the paths, identified by content)
    assert (
        c.with_options(out="elsewhere", folds=None, resume=True).identity_sections()
        == c.identity_sections()
    )
    assert c.with_options(seed=1).identity_sections() != c.identity_sections()
    for options, message in (
        ({"val_fraction": 1.5}, "recipe.val_fraction"),
        ({"protocol": "nope"}, "data.protocol"),
        ({"protocol": "megc2019", "task": "binary"}, "data.task"),
        ({"jit": True}, "runtime.jit"),
        ({"executor": "slurm"}, "execution.executor"),
        ({"frames": 0}, "model.frames"),
        ({"epochs": 2.5}, "recipe"),
    ):
        with pytest.raises(RunError, match=message):
            RunConfig.from_options(stores=["a.h5"], **options)
    with pytest.raises(RunError, match="unknown run option"):
        RunConfig.from_options(stores=["a.h5"], epoch=3)


# --------------------------------------------------------------------------- the first release


@pytest.fixture(scope="module")
def legacy_store(tmp_path_factory) -> Path:
    """write_store()'s store, rebuilt: the same content, so the same fingerprint as when the
    first release wrote the records (its fingerprint is part of their identity)."""
    from merprep.store import ClipStore

    path = write_store(tmp_path_factory.mktemp("legacy") / "casme2.h5")
    with ClipStore(path) as s:
        assert s.fingerprint == LEGACY_FINGERPRINT
    return path


def test_first_release_records_are_the_same_runs_today(legacy_store):
    """13 configurations recorded by the first release: each resolves today to a run with the
    same identity (architecture, resolved recipe, data, numerics, stores), and changing any
    part of it changes the identity."""
    from mertrain.prepare import prepare
    from mertrain.runrecord import RunRecord

    records = json.loads((LEGACY / "config_records.json").read_text())
    assert len(records) == 13
    for name, rec in records.items():
        rec = {**rec, "stores": [{"path": str(legacy_store), "fingerprint": LEGACY_FINGERPRINT}]}
        old = RunRecord.from_json(rec)
        assert old.version == 1
        config = RunConfig.from_record(rec).with_options(stores=[str(legacy_store)])
        new = prepare(config, progress=False).record()
        assert new.identity == old.identity, name
        changed = prepare(config.with_options(seed=config.recipe.seed + 1), progress=False)
        assert changed.record().identity_sha256 != old.identity_sha256, name


def test_first_release_directory_resumes_and_reruns_identically(legacy_store, tmp_path, cli_runner):
    from mertrain.cli import cli

    old = tmp_path / "old"
    shutil.copytree(LEGACY / "run_v1", old)
    res = cli_runner.invoke(
        cli,
        [
            "run",
            str(legacy_store),
            "--model",
            "stcnn-3dcnn",
            "--epochs",
            "2",
            "--set",
            "size=32",
            "--seed",
            "3",
            "--folds",
            "0-1",
            "--resume",
            "-o",
            str(old),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (old / "folds").iterdir()) == ["000.json", "001.json"]
    # fold 0 was kept, not retrained; the first release's config.json is left as it was
    assert (old / "folds" / "000.json").read_text() == (
        LEGACY / "run_v1" / "folds" / "000.json"
    ).read_text()
    assert json.loads((old / "config.json").read_text())["run"]["epochs"] == 2
    res = cli_runner.invoke(
        cli,
        [
            "run",
            str(legacy_store),
            "--model",
            "stcnn-3dcnn",
            "--epochs",
            "3",
            "--set",
            "size=32",
            "--seed",
            "3",
            "--folds",
            "0-1",
            "--resume",
            "-o",
            str(old),
            "--no-progress",
        ],
    )
    assert res.exit_code == 2 and "holds a different run (recipe.epochs: 2 vs 3)" in res.output

    # rerun from the first release's own record: the same predictions, bit for bit
    again = tmp_path / "again"
    res = cli_runner.invoke(
        cli,
        [
            "run",
            "--config",
            str(LEGACY / "run_v1" / "config.json"),
            str(legacy_store),
            "-o",
            str(again),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    a = _without_timings(json.loads((again / "folds" / "000.json").read_text()))
    b = _without_timings(json.loads((LEGACY / "run_v1" / "folds" / "000.json").read_text()))
    # The same run: everything but the numbers equal. The record was written on another
    # machine, and TensorFlow's CPU kernels (oneDNN picks them by instruction set) round
    # differently there: with the same library versions the numbers agree to float tolerance
    # across machines, bit for bit on one machine (checked with the rerun below).
    numbers = ("proba", "history")
    assert {k: v for k, v in a.items() if k not in numbers} == {
        k: v for k, v in b.items() if k not in numbers
    }
    np.testing.assert_allclose(a["proba"], b["proba"], rtol=0, atol=0.05)
    for name, curve in b["history"].items():
        np.testing.assert_allclose(a["history"][name], curve, rtol=0.1, atol=0.05)
    # ... and `mertrain rerun` of the new directory repeats it (flags typed override)
    res = cli_runner.invoke(
        cli, ["rerun", str(again), "-o", str(tmp_path / "third"), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    c = _without_timings(json.loads((tmp_path / "third" / "folds" / "000.json").read_text()))
    assert c == a


def _without_timings(record: dict) -> dict:
    """A fold record minus how long it took (the fold's and each epoch's seconds)."""
    record = dict(record, recipe=dict(record["recipe"]))
    record.pop("seconds")
    record["recipe"].pop("epoch_seconds", None)
    return record


def test_renamed_model_resumes_under_its_new_name(legacy_store, tmp_path):
    """A model renamed with a deprecation alias: a directory made under the old name resumes
    when the run asks for the new one, and the old name still runs."""
    from mertrain.models.registry import MODELS, model_alias
    from mertrain.runner import run

    if "stcnn-3dcnn-old-name" not in MODELS:
        model_alias("stcnn-3dcnn-old-name", "stcnn-3dcnn", since="test")
    options = dict(stores=[str(legacy_store)], epochs=1, model_options={"size": 32})
    out = tmp_path / "alias"
    first = run(
        RunConfig.from_options(out=str(out), model="stcnn-3dcnn-old-name", folds="0", **options),
        progress=False,
    )
    assert first.ran == [0]
    second = run(
        RunConfig.from_options(
            out=str(out), model="stcnn-3dcnn", folds="0-1", resume=True, **options
        ),
        progress=False,
    )
    assert second.ran == [1]


def test_fold_records_are_typed_and_checked(tmp_path):
    from mertrain.folds import FoldOutcome
    from mertrain.rundir import RunDirError, finished_folds, load_run
    from mertrain.rundir_schema import record_errors

    run_dir = tmp_path / "r"
    shutil.copytree(LEGACY / "run_v1", run_dir)
    raw = json.loads((run_dir / "folds" / "000.json").read_text())
    outcome = FoldOutcome.from_record(raw)
    assert outcome.to_record() == raw and outcome.proba.shape == (6, 3)
    loaded = load_run(run_dir)
    assert isinstance(loaded.folds[0], FoldOutcome) and loaded.record.version == 1
    assert record_errors("config", json.loads((run_dir / "config.json").read_text())) == []
    bad = dict(raw, proba="not numbers")
    (run_dir / "folds" / "000.json").write_text(json.dumps(bad))
    with pytest.raises(RunDirError, match=r"000\.json: not a valid fold record: proba"):
        finished_folds(run_dir)
    np.testing.assert_array_equal(FoldOutcome.from_record(raw).proba, np.asarray(raw["proba"]))


def test_shipped_schemas_are_the_top_level_ones():
    """The package copies of schemas/*.json (what the code validates with) are the documented
    top-level files."""
    root = Path(__file__).parents[1]
    for top, shipped in (
        ("schemas/clipstore-v1.json", "merprep/schemas/clipstore-v1.json"),
        ("schemas/rundir-v1.json", "mertrain/schemas/rundir-v1.json"),
    ):
        assert (root / top).read_text() == (root / shipped).read_text(), top
