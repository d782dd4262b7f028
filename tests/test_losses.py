"""Losses, class weights, priors, schedules and the training-option CLI of ``mertrain run``.

Every loss is checked on a fixed batch against a NumPy computation written from its definition
(through Keras' own reduction, as ``model.fit`` applies it), and the fold statistics a loss
uses (class weights, logit prior) are shown to come from the training fold only: changing the
test fold's labels changes nothing, changing a training subject's labels does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_run import EMOTIONS, _clip, _record

from mertrain.config import RunConfig
from mertrain.fold_inputs import fold_inputs
from mertrain.losses import balanced_weights, class_prior, fold_loss_statistics
from mertrain.prepare import prepare
from mertrain.recipe import BALANCED, CrossEntropy, Focal, LogitAdjusted, Recipe

LOGITS = np.array(
    [[2.0, -1.0, 0.5], [0.1, 0.2, 0.3], [-3.0, 4.0, 1.0], [1.5, 1.5, -2.0], [0.0, -0.5, 2.5]],
    np.float32,
)
Y = np.array([0, 2, 1, 1, 0])
Y_TRAIN = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2])  # prior 1/2, 1/6, 1/3


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def _ce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -_log_softmax(z)[np.arange(len(y)), y]


def _keras_loss(loss, y_train=Y_TRAIN) -> tuple[float, dict]:
    """The batch loss exactly as model.fit reduces it (sum over batch / batch size)."""
    from keras.src.losses.losses import LossFunctionWrapper  # what compile() wraps a function in

    from mertrain.losses import FoldLoss

    fold_loss = FoldLoss(loss, 3)
    stats = fold_loss.prepare(y_train)
    reduced = LossFunctionWrapper(fold_loss.fn)(Y, LOGITS)
    return float(reduced), stats


def test_ce_matches_hand_computation():
    value, stats = _keras_loss(CrossEntropy())
    assert value == pytest.approx(_ce(LOGITS, Y).mean(), rel=1e-6)
    assert stats["class_weights"] is None


def test_weighted_ce_with_given_weights():
    w = np.array([0.3, 0.35, 0.35])
    value, stats = _keras_loss(CrossEntropy(tuple(w)))
    # Keras' class_weight convention: mean over the batch of w[y_i] * CE_i
    assert value == pytest.approx((w[Y] * _ce(LOGITS, Y)).mean(), rel=1e-6)
    assert (
        stats["class_weights"] == pytest.approx(list(w)) and stats["class_weights_from"] == "config"
    )


def test_weighted_ce_from_training_frequencies():
    value, stats = _keras_loss(CrossEntropy(BALANCED))
    counts = np.bincount(Y_TRAIN, minlength=3)
    w = len(Y_TRAIN) / (3 * counts)  # inverse frequency, mean weight over training clips = 1
    assert (w * counts).sum() / len(Y_TRAIN) == pytest.approx(1.0)
    assert stats["class_weights"] == pytest.approx(list(w))
    assert stats["class_weights_from"] == "training fold"
    assert value == pytest.approx((w[Y] * _ce(LOGITS, Y)).mean(), rel=1e-6)
    # a class absent from the training fold gets weight 0 (no division by zero)
    assert balanced_weights(np.array([0, 0, 1]), 3)[2] == 0.0


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_logit_adjusted_matches_hand_computation(tau):
    value, stats = _keras_loss(LogitAdjusted(tau))
    prior = np.array([6, 2, 4]) / 12
    assert class_prior(Y_TRAIN, 3) == pytest.approx(prior)
    expected = _ce(LOGITS + tau * np.log(prior), Y).mean()
    assert value == pytest.approx(expected, rel=1e-6)
    assert stats["logit_prior"] == pytest.approx(list(prior))


@pytest.mark.parametrize("gamma,alpha", [(2.0, None), (0.0, None), (1.5, (0.2, 0.5, 0.3))])
def test_focal_matches_hand_computation(gamma, alpha):
    value, stats = _keras_loss(Focal(gamma, alpha))
    ce = _ce(LOGITS, Y)
    p = np.exp(-ce)
    a = np.ones(3) if alpha is None else np.asarray(alpha)
    expected = (a[Y] * (1 - p) ** gamma * ce).mean()
    assert value == pytest.approx(expected, rel=1e-5)
    if gamma == 0 and alpha is None:
        assert value == pytest.approx(ce.mean(), rel=1e-6)  # focal(0) == CE
    assert stats["focal_gamma"] == gamma


def test_loss_is_float32_on_low_precision_logits():
    """Mixed precision: the logits are cast to float32 before the loss."""
    import keras

    from mertrain.losses import FoldLoss

    loss = FoldLoss(CrossEntropy(), 3)
    loss.prepare(Y_TRAIN)
    per_sample = loss.fn(Y, keras.ops.cast(LOGITS, "bfloat16"))
    assert keras.backend.standardize_dtype(per_sample.dtype) == "float32"


# --------------------------------------------------------------------------- fold statistics


def _store(path: Path, labels: dict[str, list[int]]) -> Path:
    from merprep.store import StoreWriter

    rng = np.random.default_rng(0)
    prov = {
        "datasets": ["casme2"],
        "command": "pytest",
        "params": {},
        "landmark_backend": "none",
        "landmark_backend_version": "0",
        "frame_height": 32,
        "frame_width": 32,
        "channels": 3,
        "color": "rgb",
    }
    with StoreWriter(path, prov) as w:
        for subject, labs in labels.items():
            for j, label in enumerate(labs):
                w.add_clip(_record(subject, f"EP{j:02d}", EMOTIONS[label], 8), _clip(label, rng))
    return path


def _fold_stats(store: Path, tmp_path: Path, index: int, **kw):
    config = RunConfig.from_options(
        stores=[str(store)],
        out=str(tmp_path / "never"),
        model="stcnn-3dcnn",
        epochs=1,
        model_options={"size": 32},
        **kw,
    )
    prepared = prepare(config, progress=False)
    ctx = prepared.context()
    inputs = fold_inputs(ctx, prepared.data, prepared.job(index))
    stats = fold_loss_statistics(ctx.recipe.loss, inputs.y_train, ctx.n_classes)
    return prepared, inputs, stats


@pytest.mark.parametrize(
    "kw",
    [
        {"loss": "weighted_ce"},
        {"loss": "logit_adjusted", "logit_adjust_tau": 1.0},
        {"loss": "focal", "balance": True},
    ],
)
def test_fold_statistics_come_from_the_training_fold_only(tmp_path, kw):
    base = {"sub01": [0, 1, 2, 0, 1, 2], "sub02": [0, 0, 0, 1, 2, 2], "sub03": [0, 1, 1, 1, 2, 2]}
    # the same clips with only sub01's labels (the test fold of fold 0) changed
    relabelled = dict(base, sub01=[2, 2, 2, 2, 2, 1])
    # ... and with a TRAINING subject's labels changed (the statistics must follow)
    trained = dict(base, sub02=[1, 1, 1, 1, 2, 2])
    a, ia, sa = _fold_stats(_store(tmp_path / "a.h5", base), tmp_path, 0, **kw)
    _, ib, sb = _fold_stats(_store(tmp_path / "b.h5", relabelled), tmp_path, 0, **kw)
    _, _, sc = _fold_stats(_store(tmp_path / "c.h5", trained), tmp_path, 0, **kw)
    assert a.splits.folds[0].name == "casme2/sub01"
    assert list(ia.y_test) != list(ib.y_test)  # the test labels did change
    assert list(ia.y_train) == list(ib.y_train)
    assert sa == sb  # ... the fold's statistics did not
    assert sc != sa  # training labels do move them
    if kw["loss"] == "weighted_ce":  # no weights given: training fold
        counts = np.bincount(ia.y_train, minlength=3)
        assert sa["class_weights"] == pytest.approx(list(len(ia.y_train) / (3 * counts)))
        assert a.recipe.loss == CrossEntropy(BALANCED)
        assert a.describe()["loss"] == "weighted_ce"
        assert "training clips" in a.describe()["class_weights"]


# --------------------------------------------------------------------------- options, schedules


def test_training_options_reach_the_model_recipe(tmp_path):
    from test_run import write_store

    store = write_store(tmp_path / "s.h5")
    config = RunConfig.from_options(
        stores=[str(store)],
        out=str(tmp_path / "x"),
        model="stcnn-3dcnn",
        model_options={"size": 32},
        lr_schedule="step:0.9:40",
        loss="weighted_ce",
        class_weights=[0.3, 0.35, 0.35],
    )
    prepared = prepare(config, progress=False)
    recipe = prepared.recipe
    assert (recipe.schedule.spec, recipe.loss) == ("step:0.9:40", CrossEntropy((0.3, 0.35, 0.35)))
    rec = prepared.record().to_json()["recipe_description"]
    assert rec["class_weights"] == [0.3, 0.35, 0.35] and rec["optimizer"] == "adam"

    # the step schedule: lr0 * 0.9 ** (epoch // 40)
    from mertrain.fitting import make_callbacks, schedule_callbacks

    (sched,) = schedule_callbacks(recipe, "loss")
    assert [sched.schedule(e, None) for e in (0, 39, 40, 80)] == pytest.approx(
        [recipe.lr * 0.9**k for k in (0, 0, 1, 2)]
    )
    # plateau: the inner-validation loss with --select inner-val, else the training loss
    for select, monitor, words in (
        ("inner-val", "val_loss", "inner-validation loss"),
        ("last", "loss", "training loss"),
        ("oracle", "loss", "training loss"),
    ):
        p = prepare(
            RunConfig.from_options(
                stores=[str(store)],
                out=str(tmp_path / "x"),
                model="stcnn-3dcnn",
                model_options={"size": 32},
                select=select,
                lr_schedule="plateau:0.5:3",
            ),
            progress=False,
        )
        ctx = p.context()
        job = p.job(0)
        inputs = fold_inputs(ctx, p.data, job)
        callbacks, _ = make_callbacks(ctx, job, inputs, p.spec)
        plateau = [c for c in callbacks if type(c).__name__ == "ReduceLROnPlateau"]
        assert plateau[0].monitor == monitor
        assert p.describe()["lr_schedule"] == f"plateau:0.5:3 on the {words}"


def test_cli_training_options(tmp_path, cli_runner):
    from test_run import write_store

    from mertrain.cli import cli

    store = write_store(tmp_path / "s.h5")
    out = tmp_path / "never"
    base = ["run", str(store), "--model", "stcnn-3dcnn", "--set", "size=32", "--out", str(out)]
    for args, message in (
        (["--loss", "ce", "--tau", "2"], "tau applies to loss logit_adjusted, not ce"),
        (
            ["--loss", "logit-adjusted", "--class-weights", "1,2,3"],
            "class_weights may only be 'balanced' (fixed weights apply to ce and focal)",
        ),
        (["--focal-gamma", "1"], "focal_gamma applies to loss focal, not ce"),
        (
            ["--balance", "--class-weights", "1,2,3", "--loss", "focal"],
            "balance would replace the given fixed class weights",
        ),
        (["--loss", "focal", "--class-weights", "1,2"], "class_weights has 2 entries"),
        (["--loss", "weighted-ce", "--class-weights", "nan,1,1"], "must be finite"),
        (["--lr-schedule", "cosine"], "schedule 'cosine'"),
        (["--augment", "nothing.json"], "no such file"),
        (["--model", "ststnet", "--augment", "default"], "which are never augmented"),
        (["--precision", "fp8"], "Invalid value for '--precision'"),
    ):
        res = cli_runner.invoke(cli, [*base, *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)
        assert "Traceback" not in res.output
    bad = tmp_path / "aug.json"
    bad.write_text(json.dumps({"max_rotate": 400}))
    res = cli_runner.invoke(cli, [*base, "--augment", str(bad)])
    assert res.exit_code == 2 and "max_rotate must be in [0, 180)" in res.output
    bad.write_text(json.dumps({"rotate": 4}))
    res = cli_runner.invoke(cli, [*base, "--augment", str(bad)])
    assert res.exit_code == 2 and "unknown field(s) ['rotate']" in res.output
    assert not out.exists()


def test_reset_optimizer_restores_a_new_optimizer_including_the_loss_scale():
    """The reused compiled model's optimizer is reset per fold: step 0, zero moments, initial
    rate, and (mixed_float16 on a GPU wraps Adam in a LossScaleOptimizer) the initial loss
    scale. Checked here on CPU with an explicitly wrapped optimizer."""
    import keras

    from mertrain.fitting import make_optimizer, reset_optimizer

    cfg = Recipe(lr=0.01)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    opt = keras.optimizers.LossScaleOptimizer(make_optimizer(cfg), initial_scale=2.0**8)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.fit(x, np.arange(8) % 3, epochs=2, verbose=0)
    opt.learning_rate = 0.5
    opt.dynamic_scale.assign(3.0)
    assert int(opt.iterations) > 0
    reset_optimizer(opt, cfg)
    assert int(opt.iterations) == 0 and float(opt.dynamic_scale) == 2.0**8
    assert float(opt.learning_rate) == pytest.approx(0.01)
    inner = [
        v for v in opt.inner_optimizer.variables if "momentum" in v.path or "velocity" in v.path
    ]
    assert inner and all(not np.any(np.asarray(v)) for v in inner)
