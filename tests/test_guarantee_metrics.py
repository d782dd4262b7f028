"""UF1 / UAR / ACC and the confusion matrix (mertrain/metrics.py) on one small case worked out
by hand, in the forms the toolkit passes labels (lists, int and float arrays).

test_metrics.py compares the scores with scikit-learn on generated labels; here mutation testing
(docs/reliability.md "Mutation testing") found that nothing checked the confusion matrix holds
whole counts: with a float matrix, results.json's "confusion" reads 1.0 instead of 1.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mertrain.metrics import confusion_matrix, scores, sliced_scores

Y_TRUE = [0, 0, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 2, 0, 2]
#: rows true, columns predicted, counted by hand from the two lists above
CONFUSION = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
#: F1 per class 2TP/(N_c + predicted_c): 2/4, 2/3, 4/5; recall 1/2, 1/1, 2/3; 4 of 6 right
UF1 = (1 / 2 + 2 / 3 + 4 / 5) / 3
UAR = (1 / 2 + 1 + 2 / 3) / 3


def test_the_confusion_matrix_holds_whole_counts_as_results_json_writes_them():
    """Kills ``confusion_matrix`` made with ``dtype=None`` or no dtype (float counts)."""
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.dtype == np.int64
    assert json.dumps(cm.tolist()) == json.dumps(CONFUSION) == "[[1, 1, 0], [0, 1, 0], [1, 0, 2]]"
    wide = confusion_matrix(np.asarray(Y_TRUE, np.int32), np.asarray(Y_PRED, float), 4)
    assert wide.dtype == np.int64 and wide.tolist() == [[*r, 0] for r in CONFUSION] + [[0] * 4]


@pytest.mark.parametrize(
    "convert", [list, np.asarray, lambda v: np.asarray(v, np.int32), lambda v: np.asarray(v, float)]
)
def test_scores_worked_by_hand_whatever_the_label_container(convert):
    """Labels come as lists (fold JSON), int arrays and float arrays (Keras targets): the same
    scores. A fourth class nobody shows or predicts changes neither UF1 nor UAR."""
    for n_classes in (3, 4):
        s = scores(convert(Y_TRUE), convert(Y_PRED), n_classes)
        assert s == {"uf1": pytest.approx(UF1), "uar": pytest.approx(UAR),
                     "acc": pytest.approx(4 / 6), "n": 6}  # fmt: skip
    per = sliced_scores(convert(Y_TRUE), convert(Y_PRED), ["b", "a", "a", "b", "b", "a"], 3)
    assert list(per) == ["a", "b"]
    # a: truth 0 1 2, predicted 1 1 2 -> F1 0, 2/3, 1; recall 0, 1, 1
    assert per["a"] == {"uf1": pytest.approx((0 + 2 / 3 + 1) / 3), "uar": pytest.approx(2 / 3),
                        "acc": pytest.approx(2 / 3), "n": 3}  # fmt: skip
    # b: truth 0 2 2, predicted 0 2 0 -> F1 2/3, 2/3; recall 1, 1/2
    assert per["b"] == {"uf1": pytest.approx(2 / 3), "uar": pytest.approx(3 / 4),
                        "acc": pytest.approx(2 / 3), "n": 3}  # fmt: skip
