"""Epoch selection (mertrain/fitting.py ``EpochSelector``, applied by mertrain/trainer.py): which
epoch each ``--select`` keeps, and that the predictions and weights a run reports are that
epoch's.

Issue 16: ``--select oracle`` reporting the last epoch's predictions (still labelled "oracle
(optimistic)") and ``--select inner-val`` keeping the last weights instead of the selected ones
both passed every test. Here:

- the selector alone, driven epoch by epoch with a real Keras model whose per-epoch outputs are
  set by hand (so the best epoch, the ties and the tie-breaks are known in advance);
- whole runs (``stcnn-3dcnn`` at 8x32x32, 3 epochs, the 3-subject store of test_run.py): an
  oracle fold's predictions are its best test epoch's, row for row; an inner-val fold's
  predictions equal those of the same fold trained only up to its selected epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from mertrain.backend import keras
from mertrain.fitting import EpochSelector
from mertrain.models.registry import get_model

Y = np.array([0, 0, 1, 2, 2, 2])
N_CLASSES = 3


def _one_hot_model() -> keras.Model:
    """logits = one_hot(clip) @ W: setting W sets each clip's output for the next 'epoch'."""
    x = keras.Input((len(Y),), name="clip")
    out = keras.layers.Dense(N_CLASSES, use_bias=False, name="table")(x)
    return keras.Model(x, out)


def _epochs(selector: EpochSelector, model: keras.Model, tables: list[np.ndarray]) -> list[dict]:
    """Run the selector over 'epochs' whose logits tables are given; return each epoch's logs."""
    selector.set_model(model)
    logs_seen = []
    for epoch, table in enumerate(tables):
        model.layers[-1].set_weights([np.asarray(table, np.float32)])
        logs: dict = {}
        selector.on_epoch_end(epoch, logs)
        logs_seen.append(logs)
    return logs_seen


def _table(pred: list[int], confidence: float = 2.0) -> np.ndarray:
    t = np.zeros((len(Y), N_CLASSES))
    t[np.arange(len(Y)), pred] = confidence
    return t


def _softmax(table: np.ndarray) -> np.ndarray:
    e = np.exp(table - table.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _selector(mode: str) -> EpochSelector:
    return EpochSelector(mode, {"clip": np.eye(len(Y), dtype=np.float32)}, Y, N_CLASSES,
                         get_model("stcnn-3dcnn"), batch_size=4)  # fmt: skip


def test_oracle_keeps_the_first_best_test_accuracy_epoch_and_its_probabilities():
    preds = [[0, 1, 1, 1, 1, 1], [0, 0, 1, 2, 2, 0], [0, 0, 1, 2, 2, 1], [0, 0, 1, 2, 0, 0]]
    tables = [_table(p) for p in preds]  # accuracy 1/6, 5/6, 5/6 (tie: the first), 4/6
    selector = _selector("oracle")
    logs = _epochs(selector, _one_hot_model(), tables)
    accs = [accuracy_score(Y, p) for p in preds]
    assert [entry["test_acc"] for entry in logs] == pytest.approx(accs)
    assert selector.best_epoch == 2 and selector.best_weights is None
    np.testing.assert_allclose(selector.best_proba, _softmax(tables[1]), rtol=1e-5)
    assert not np.allclose(selector.best_proba, _softmax(tables[2]))  # the tie's later epoch
    assert len(selector.epoch_proba) == 4  # every epoch kept for the as-published scores
    for kept, table in zip(selector.epoch_proba, tables):
        np.testing.assert_allclose(kept, _softmax(table), rtol=1e-5)


def test_inner_val_keeps_the_best_uf1_then_the_lower_loss_then_the_earlier_epoch():
    good = [0, 0, 1, 2, 2, 0]  # UF1 < 1, the same in epochs 2-4
    tables = [
        _table([1, 1, 1, 2, 2, 2]),
        _table(good, 1.0),
        _table(good, 3.0),  # same UF1, lower loss: better
        _table(good, 3.0),  # same UF1 and loss: not better (the earlier epoch stays)
        _table([0, 0, 1, 2, 0, 0], 9.0),
    ]
    model = _one_hot_model()
    selector = _selector("inner-val")
    logs = _epochs(selector, model, tables)
    for entry, table in zip(logs, tables):
        proba = _softmax(table)
        pred = proba.argmax(axis=1)
        assert entry["val_uf1"] == pytest.approx(f1_score(Y, pred, average="macro"))
        assert entry["val_loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(len(Y)), Y])))
    assert logs[1]["val_uf1"] == logs[2]["val_uf1"] and logs[2]["val_loss"] < logs[1]["val_loss"]
    assert selector.best_epoch == 3 and selector.best_proba is None
    (kept,) = selector.best_weights
    np.testing.assert_array_equal(kept, tables[2].astype(np.float32))
    assert selector.epoch_proba is None  # inner-val never keeps test-set probabilities


def test_oracle_per_subject_chooses_nothing_but_keeps_every_epoch():
    selector = _selector("oracle-per-subject")
    tables = [_table([0] * 6), _table(list(Y))]
    logs = _epochs(selector, _one_hot_model(), tables)
    assert selector.best_epoch is None and selector.best_proba is None
    assert len(selector.epoch_proba) == 2 and logs[1]["test_acc"] == 1.0


def test_the_selector_predicts_as_the_models_spec_says_with_the_runs_batch_size():
    """A spec's own prediction (the 2D-CNN's majority vote) is what gets scored; labels given
    as floats and Keras passing no logs work too."""
    import dataclasses

    calls = []

    def vote(model, x, batch_size):
        calls.append(batch_size)
        return np.tile([0.1, 0.1, 0.8], (len(Y), 1))  # always class 2

    spec = dataclasses.replace(get_model("stcnn-3dcnn"), predict_fn=vote)
    selector = EpochSelector("inner-val", {"clip": np.eye(len(Y), dtype=np.float32)},
                             Y.astype(float), N_CLASSES, spec, batch_size=5)  # fmt: skip
    selector.set_model(_one_hot_model())
    selector.on_epoch_end(0, None)
    assert calls == [5] and selector.best_epoch == 1
    assert selector.best_key == pytest.approx(
        (f1_score(Y, [2] * len(Y), average="macro"), np.log(0.8) / 2 + np.log(0.1) / 2)
    )


# --------------------------------------------------------------------------------------------
# whole runs: what a run reports is the selected epoch's
# --------------------------------------------------------------------------------------------

EPOCHS = 3


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from test_run import write_store

    return write_store(tmp_path_factory.mktemp("selection") / "casme2.h5")


def _run(store: Path, out: Path, **options):
    from mertrain.train import RunConfig, run

    config = RunConfig.from_options(
        stores=[str(store)],
        out=str(out),
        model="stcnn-3dcnn",
        model_options={"size": 32},
        epochs=options.pop("epochs", EPOCHS),
        **options,
    )
    return run(config, progress=False)


def _folds(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "folds").glob("[0-9][0-9][0-9].json"))]


def test_an_oracle_run_reports_its_best_test_epoch_predictions(store, tmp_path):
    result = _run(store, tmp_path / "oracle", select="oracle")
    folds = _folds(result.out)
    assert len(folds) == 3
    not_last = 0
    for fold in folds:
        epochs = np.asarray(fold["epoch_proba"])  # (epochs, clips, classes)
        truth = np.asarray(fold["y_true"])
        accs = [(e.argmax(axis=1) == truth).mean() for e in epochs]
        best = int(np.argmax(accs))  # the first best epoch
        assert fold["best_epoch"] == best + 1
        assert fold["history"]["test_acc"] == pytest.approx(accs)
        np.testing.assert_array_equal(np.asarray(fold["proba"]), epochs[best])
        not_last += best != EPOCHS - 1
    assert not_last, "every fold's best epoch was its last: the test cannot tell them apart"
    rows = (result.out / "predictions.csv").read_text().splitlines()
    assert all(line.endswith(",oracle (optimistic)") or "select" in line for line in rows)


def test_inner_val_predicts_with_the_selected_epochs_weights(store, tmp_path):
    """The fold trained 3 epochs and restored to its best epoch k predicts exactly as the same
    fold trained k epochs (deterministic training; the best of k epochs is k itself)."""
    options = {"select": "inner-val", "val_fraction": 0.5, "folds": "2", "seed": 1}
    full = _folds(_run(store, tmp_path / "full", save_weights=True, **options).out)[0]
    best = full["best_epoch"]
    assert 1 <= best < EPOCHS, f"best epoch {best}: choose another seed for this test"
    assert full["history"]["val_uf1"][best - 1] == max(full["history"]["val_uf1"])
    short = _folds(_run(store, tmp_path / "short", epochs=best, **options).out)[0]
    assert short["best_epoch"] == best and short["val_subjects"] == full["val_subjects"]
    assert short["history"]["loss"] == full["history"]["loss"][:best]  # the same training
    np.testing.assert_array_equal(np.asarray(full["proba"]), np.asarray(short["proba"]))
    record = json.loads((tmp_path / "full" / "weights" / "002" / "preprocessing.json").read_text())
    assert record["training"]["weights_epoch"] == best
