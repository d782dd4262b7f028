"""The as-published block of results.json (mertrain/published.py), key by key: every row says
what it is (label, source), whether it chose on the TEST subjects (``optimistic``) and whether
it could be computed at all (``available``); the honest last-epoch rows are never optimistic.
The numbers themselves are checked in test_published.py; here, what the report prints them
under, since a wrong flag turns an optimistic number into one that looks honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mertrain import published as pub


@dataclass
class Fold:
    y_true: list[int]
    proba: np.ndarray
    subjects: list[str]
    epoch_proba: np.ndarray | None


def onehot(preds, k: int = 3) -> np.ndarray:
    p = np.full((*np.shape(preds), k), 0.1)
    np.put_along_axis(p, np.asarray(preds)[..., None], 0.8, axis=-1)
    return p


EPOCHS = [[0, 0, 1, 0], [0, 1, 2, 0], [0, 1, 1, 0]]
TRUTH = [0, 1, 2, 0]


def folds(kept: bool) -> list[Fold]:
    return [
        Fold(TRUTH, onehot(EPOCHS[-1]), ["s/a", "s/a", "s/b", "s/b"],
             onehot(EPOCHS) if kept else None),
        Fold([], np.zeros((0, 3)), [], None),  # a final-model fold tests nothing: ignored
    ]  # fmt: skip


@pytest.mark.parametrize("optimistic", [False, True])
def test_without_every_epoch_only_the_per_subject_mean_is_available(optimistic):
    out = pub.published_scores(folds(kept=False), 3, optimistic=optimistic)
    assert set(out) == {
        "note", "per_subject_mean", "best_test_epoch_per_subject", "best_test_acc_per_fold_pooled",
    }  # fmt: skip
    assert out["note"] == pub.NOTE
    mean = out["per_subject_mean"]
    assert mean["optimistic"] is optimistic and mean["subjects"] == 2
    assert (mean["label"], mean["source"]) == (
        "per-subject mean, reference metric",
        "ICIP ME_model.py:27-63 (metric), 271-277 (mean over subjects)",
    )
    for key in ("best_test_epoch_per_subject", "best_test_acc_per_fold_pooled"):
        assert out[key] == {"available": False, "label": pub.LABELS[key], "reason": pub.NOT_KEPT}


def test_with_every_epoch_the_test_epoch_rows_are_available_and_optimistic():
    out = pub.published_scores(folds(kept=True), 3)
    assert set(out) == {
        "note", "per_subject_mean", "best_test_epoch_per_subject",
        "best_test_acc_per_fold_pooled", "last_epoch",
    }  # fmt: skip
    best = out["best_test_epoch_per_subject"]
    assert best["available"] is True and best["optimistic"] is True
    assert best["label"] == "best TEST epoch per subject, reference metric"
    assert best["source"] == pub.SOURCES["best_test_epoch_per_subject"]
    assert best["subjects"] == 2 and best["best_epochs"] == {"s/a": 2, "s/b": 2}
    pooled = out["best_test_acc_per_fold_pooled"]
    assert pooled["available"] is True and pooled["optimistic"] is True
    assert pooled["label"] == "best TEST-accuracy epoch per fold, pooled"
    assert pooled["source"] == "mertrain --select oracle (best TEST accuracy per fold)"
    assert pooled["acc"] == 1.0 and pooled["n"] == 4  # epoch 2 is all right
    last = out["last_epoch"]
    assert last["optimistic"] is False and last["label"] == "last epoch"
    assert set(last) == {"pooled", "per_subject_mean", "optimistic", "label"}
    assert last["pooled"]["acc"] == pytest.approx(0.75) and last["pooled"]["n"] == 4
    assert set(last["per_subject_mean"]) == {"uf1", "uar", "acc"}
    assert out["per_subject_mean"]["optimistic"] is False  # the run's own choice: honest here


def test_nothing_tested_gives_the_note_only():
    assert pub.published_scores([Fold([], np.zeros((0, 3)), [], None)], 3) == {"note": pub.NOTE}


@pytest.mark.parametrize(
    "shape", [(0, 4, 3), (4, 3), (1, 1, 4, 3)], ids=["no epochs", "2-d", "4-d"]
)
def test_per_subject_selection_needs_every_epochs_probabilities(shape):
    with pytest.raises(ValueError, match=r"epoch_proba must be \(epochs >= 1, clips, classes\)"):
        pub.select_per_subject(np.zeros(shape), TRUTH, ["s/a"] * 4)


def test_per_subject_selection_of_one_epoch_is_that_epoch():
    proba, chosen = pub.select_per_subject(onehot([EPOCHS[0]]), TRUTH, ["s/a", "s/a", "s/b", "s/b"])
    np.testing.assert_array_equal(proba, onehot(EPOCHS[0]))
    assert chosen == {"s/a": 1, "s/b": 1}


def test_a_subject_without_clips_has_no_reference_score():
    with pytest.raises(ValueError, match="a subject without clips has no score"):
        pub.reference_subject_scores([], [])
