"""The MEGC spotting metric on hand-made cases (one per rule) and on the published numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from merprep.spotting.metric import (
    Counts,
    VideoResult,
    analysis_f1,
    evaluate,
    iou,
    iou_megc2020_baseline,
    match,
    strs,
)

RESULTS = Path(__file__).parent / "data" / "longvideo" / "MEGC2020baseline__MEGC2020_results.txt"


@dataclass
class S:
    onset: int
    offset: int
    type: str = "me"
    score: float = 0.0


def test_iou_counts_frames_inclusively():
    assert iou((1, 10), (1, 10)) == 1.0
    assert iou((1, 10), (6, 15)) == pytest.approx(5 / 15)
    assert iou((1, 10), (11, 20)) == 0.0  # adjacent, no shared frame
    assert iou((5, 5), (5, 5)) == 1.0  # a 1-frame interval matches itself
    assert iou((1, 20), (1, 10)) == 0.5


def test_baseline_iou_keeps_its_quirks():
    assert iou_megc2020_baseline((1, 10), (12, 20)) == pytest.approx(1 / 18)  # disjoint: 1 frame
    assert iou_megc2020_baseline((5, 5), (5, 5)) == 0.0  # end <= start never matches
    assert iou_megc2020_baseline((1, 10), (6, 15)) == iou((1, 10), (6, 15))


def test_threshold_is_inclusive():
    counts, _ = match([(1, 20)], [(1, 10)])  # IoU exactly 0.5
    assert (counts.tp, counts.fp, counts.fn) == (1, 0, 0)
    counts, _ = match([(1, 21)], [(1, 10)])  # 10/21 < 0.5
    assert (counts.tp, counts.fp, counts.fn) == (0, 1, 1)


def test_two_spots_on_one_ground_truth_one_is_a_false_positive():
    for mode in ("one-to-one", "greedy", "megc2020_baseline"):
        counts, _ = match([(1, 10), (2, 11)], [(1, 10)], mode=mode)
        assert (counts.tp, counts.fp, counts.fn) == (1, 1, 0), mode


def test_one_spot_over_two_ground_truths():
    """One-to-one rules match it once; the baseline counts both ground truths found and so
    under-counts false positives (FP = spotted - TP = -1), as its own code does."""
    preds, gts = [(1, 20)], [(1, 10), (11, 20)]
    counts, pairs = match(preds, gts)
    assert (counts.tp, counts.fp, counts.fn) == (1, 0, 1) and pairs == [(0, 0)]
    counts, _ = match(preds, gts, mode="megc2020_baseline")
    assert (counts.tp, counts.fp, counts.fn) == (2, -1, 0)


def test_one_to_one_takes_the_next_best_free_ground_truth_greedy_does_not():
    preds, gts = [(1, 10), (2, 11)], [(2, 11), (4, 13)]
    # P0: G0 0.82, G1 0.54; P1: G0 1.0, G1 0.67
    counts, pairs = match(preds, gts, mode="one-to-one")
    assert (counts.tp, counts.fp, counts.fn) == (2, 0, 0) and pairs == [(0, 0), (1, 1)]
    counts, pairs = match(preds, gts, mode="greedy")
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 1) and pairs == [(0, 0)]
    # greedy goes by score: the better-scored P1 takes G0 first, P0's best (G0) is taken
    counts, pairs = match(preds, gts, mode="greedy", scores=[0.1, 0.9])
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 1) and pairs == [(1, 0)]


def test_types_are_matched_separately_and_videos_without_truth_count():
    videos = [
        # an ME spotted on a MaE: an FP for ME, an FN for MaE
        VideoResult("d/s1/v1", "d", [S(10, 60, "mae")], [S(10, 60, "me")]),
        # no ground truth at all: its spotted interval is a false positive
        VideoResult("d/s1/v2", "d", [], [S(5, 15, "mae")]),
        VideoResult("d/s2/v1", "d", [S(100, 110, "me")], [S(100, 110, "me")]),
    ]
    table = evaluate(videos)["datasets"]["d"]
    assert (table["me"]["tp"], table["me"]["fp"], table["me"]["fn"]) == (1, 1, 0)
    assert (table["mae"]["tp"], table["mae"]["fp"], table["mae"]["fn"]) == (0, 1, 1)
    assert (table["overall"]["tp"], table["overall"]["fp"], table["overall"]["fn"]) == (1, 2, 1)
    assert table["n_videos"] == 3


def test_counts_are_pooled_over_videos_and_datasets_not_averaged():
    videos = [
        VideoResult("a/s1/v", "a", [S(1, 10)], [S(1, 10)]),  # F1 1
        VideoResult(
            "a/s2/v", "a", [S(1, 10)] + [S(100 * k, 100 * k + 9) for k in range(1, 4)], [S(50, 60)]
        ),
        VideoResult("b/s1/v", "b", [S(1, 10)], [S(1, 10), S(30, 40), S(60, 70)]),
    ]
    result = evaluate(videos)
    a = result["datasets"]["a"]["me"]
    assert (a["tp"], a["fp"], a["fn"]) == (1, 1, 4)
    assert a["f1"] == pytest.approx(2 * 0.5 * 0.2 / 0.7)  # pooled: not the mean of 1 and 0
    combined = result["combined"]["me"]
    assert (combined["tp"], combined["fp"], combined["fn"]) == (2, 3, 4)
    assert combined["f1"] == pytest.approx(2 * (2 / 5) * (2 / 6) / (2 / 5 + 2 / 6))


def test_no_true_positive_gives_f1_zero():
    assert Counts(0, 5, 3).f1 == 0.0 and Counts(0, 0, 0).f1 == 0.0


def test_published_megc2020_baseline_f1_from_its_own_counts():
    """The baseline publishes predictions, true predictions and labels per dataset and type
    (MEGC2020_results.txt); its predictions themselves are not public, so its F1s are
    recomputed from those counts (variant A: FP = predicted - TP, FN = labels - TP)."""
    text = RESULTS.read_text()
    pattern = re.compile(
        r"(micro-expression|macro-expression|total):\s+predict:\s*(\d+)\s+true_predict:\s*(\d+)"
        r"\s+labels:\s*(\d+)\s+recall:\s*([\d.]+)\s+precision:\s*([\d.]+)\s+F1-Score:\s*([\d.]+)"
    )
    rows = pattern.findall(text)
    assert len(rows) == 6
    for i in range(0, 6, 3):
        per_type = []
        for _kind, pred, tp, labels, recall, precision, f1 in rows[i : i + 3]:
            pred, tp, labels = int(pred), int(tp), int(labels)
            c = Counts(tp, pred - tp, labels - tp)
            assert c.recall == pytest.approx(float(recall), abs=1e-12)
            assert c.precision == pytest.approx(float(precision), abs=1e-12)
            assert c.f1 == pytest.approx(float(f1), abs=1e-12)
            per_type.append(c)
        me, mae, total = per_type
        pooled = me + mae  # "total" is the pooled counts, not a mean of the two F1s
        assert (pooled.tp, pooled.n_pred, pooled.n_gt) == (total.tp, total.n_pred, total.n_gt)
    # the published figures (docs/references.md#spot-6): CAS(ME)^2 0.0082 / 0.1196 / 0.0376
    assert round(Counts(21, 5035 - 21, 57 - 21).f1, 4) == 0.0082
    assert round(Counts(130, 6558 - 130, 357 - 130).f1, 4) == 0.0376


def test_analysis_f1_and_strs():
    # hand-made: 3 classes, 4 matched MEs
    truth = ["negative", "negative", "positive", "surprise"]
    predicted = ["negative", "positive", "positive", "negative"]
    out = analysis_f1(truth, predicted, ["negative", "positive", "surprise"])
    p = [1 / 2, 1 / 2, 0.0]  # negative 1/2, positive 1/2, surprise undefined -> 0
    r = [1 / 2, 1.0, 0.0]
    pm, rm = sum(p) / 3, sum(r) / 3
    assert out["f1"] == pytest.approx(2 * pm * rm / (pm + rm))
    assert out["uf1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert out["n_pairs"] == 4
    assert analysis_f1([], [], ["a", "b"])["f1"] == 0.0
    # MEAN's published CAS(ME)^2 line: spotting TP 17, FP 206, FN 40; analysis 0.6667 -> 0.0809
    assert round(Counts(17, 206, 40).f1, 4) == 0.1214
    assert round(strs(round(Counts(17, 206, 40).f1, 4), 0.6667), 4) == 0.0809
