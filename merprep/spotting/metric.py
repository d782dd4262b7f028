"""MEGC interval spotting metrics (docs/references.md#spot-1, #spot-2, #spot-4).

A spotted interval is a true positive for a ground-truth interval of the same type in the same
video when their IoU, counted in frames with both ends inclusive, is at least 0.5. Counts are
made per video and type and **pooled over every video** (including videos without ground
truth, whose spotted intervals are all false positives); P, R and F1 come from the pooled
counts, never from averaging. "overall" pools both types; "combined" pools datasets.

Matching rules (``mode``):

- ``one-to-one`` (default; MTSN/SFAMNet's "soft"): spotted intervals in temporal order, each
  takes its best still-free ground truth at IoU >= threshold;
- ``greedy`` (SOFTNet/MEAN): spotted intervals by descending score (ties in temporal order),
  each looks only at its best ground truth: a TP if that one is free and IoU >= threshold;
- ``megc2020_baseline`` (the official MEGC2020 baseline, to reproduce its numbers): TP = ground
  truths found by at least one spotted interval, FP = spotted - TP, FN = ground truths - TP,
  with the baseline's IoU (an intersection of disjoint intervals is 1 frame, an interval with
  end <= start has IoU 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

ME, MAE = "me", "mae"
TYPES = (ME, MAE)
MODES = ("one-to-one", "greedy", "megc2020_baseline")
THRESHOLD = 0.5


class Span(Protocol):
    onset: int
    offset: int
    type: str


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame ranges (0 when they do not overlap)."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def iou_megc2020_baseline(a: tuple[int, int], b: tuple[int, int]) -> float:
    """The official baseline's ``calc_iou`` (result_helper.py l.5-9), quirks included."""
    if a[1] <= a[0] or b[1] <= b[0]:
        return 0.0
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0])) + 1
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


@dataclass
class Counts:
    """Pooled TP/FP/FN (``n_pred`` spotted, ``n_gt`` ground-truth intervals)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def n_pred(self) -> int:
        return self.tp + self.fp

    @property
    def n_gt(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gt if self.n_gt else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "n_pred": self.n_pred,
            "n_gt": self.n_gt,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def match(
    preds: Sequence[tuple[int, int]],
    gts: Sequence[tuple[int, int]],
    *,
    mode: str = "one-to-one",
    threshold: float = THRESHOLD,
    scores: Sequence[float] | None = None,
) -> tuple[Counts, list[tuple[int, int]]]:
    """Match one video's spotted intervals of one type against its ground truth of that type.

    Returns the counts and the matched (spotted index, ground-truth index) pairs.
    """
    if mode not in MODES:
        raise ValueError(f"unknown matching mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "megc2020_baseline":
        pairs = []
        for g, gt in enumerate(gts):
            hit = next(
                (p for p, pr in enumerate(preds) if iou_megc2020_baseline(pr, gt) >= threshold),
                None,
            )
            if hit is not None:
                pairs.append((hit, g))
        tp = len(pairs)
        return Counts(tp, len(preds) - tp, len(gts) - tp), pairs
    order = sorted(range(len(preds)), key=lambda i: (preds[i][0], preds[i][1]))
    if mode == "greedy":
        s = scores or [0.0] * len(preds)
        order = sorted(order, key=lambda i: -s[i])  # stable: ties stay in temporal order
    taken: set[int] = set()
    pairs = []
    for p in order:
        ranked = sorted(
            ((iou(preds[p], gt), -g) for g, gt in enumerate(gts)), reverse=True
        )  # best IoU first, earlier ground truth on ties
        candidates = ranked[:1] if mode == "greedy" else ranked
        for value, neg_g in candidates:
            if value < threshold:
                break
            if -neg_g not in taken:
                taken.add(-neg_g)
                pairs.append((p, -neg_g))
                break
    tp = len(pairs)
    return Counts(tp, len(preds) - tp, len(gts) - tp), sorted(pairs, key=lambda x: x[1])


@dataclass
class VideoResult:
    """One video's ground truth and spotted intervals (any objects with onset/offset/type)."""

    video_id: str
    dataset: str
    gts: Sequence[Any]
    preds: Sequence[Any]


def evaluate(
    videos: Iterable[VideoResult], *, mode: str = "one-to-one", threshold: float = THRESHOLD
) -> dict[str, Any]:
    """MEGC tables: ``{"datasets": {name: table}, "combined": table, "matches": [...]}`` where a
    table is ``{"me": counts, "mae": counts, "overall": counts, "n_videos": n}`` (counts as
    :meth:`Counts.to_dict`), and ``matches`` lists every true positive (video, type, spotted
    and ground-truth index) for spot-then-recognise."""
    per: dict[str, dict[str, Counts]] = {}
    n_videos: dict[str, int] = {}
    matches: list[dict[str, Any]] = []
    for v in videos:
        table = per.setdefault(v.dataset, {t: Counts() for t in TYPES})
        n_videos[v.dataset] = n_videos.get(v.dataset, 0) + 1
        for t in TYPES:
            preds = [p for p in v.preds if p.type == t]
            gts = [g for g in v.gts if g.type == t]
            counts, pairs = match(
                [(p.onset, p.offset) for p in preds],
                [(g.onset, g.offset) for g in gts],
                mode=mode,
                threshold=threshold,
                scores=[float(getattr(p, "score", 0.0) or 0.0) for p in preds],
            )
            table[t] = table[t] + counts
            matches += [
                {"video_id": v.video_id, "type": t, "pred": preds[p], "gt": gts[g]}
                for p, g in pairs
            ]
    datasets = {name: _table(c, n_videos[name]) for name, c in sorted(per.items())}
    total = {t: sum((c[t] for c in per.values()), Counts()) for t in TYPES}
    return {
        "mode": mode,
        "threshold": threshold,
        "datasets": datasets,
        "combined": _table(total, sum(n_videos.values())),
        "matches": matches,
    }


def _table(counts: Mapping[str, Counts], n_videos: int) -> dict[str, Any]:
    overall = counts[ME] + counts[MAE]
    return {
        ME: counts[ME].to_dict(),
        MAE: counts[MAE].to_dict(),
        "overall": overall.to_dict(),
        "n_videos": n_videos,
    }


# ---------------------------------------------------------------------------------------------
# Spot-then-recognise
# ---------------------------------------------------------------------------------------------


def analysis_f1(
    truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str]
) -> dict[str, Any]:
    """The STR analysis F1 over matched (true positive) MEs: 2 P R / (P + R) with P and R the
    means over ``classes`` of the one-vs-rest precision and recall (an undefined one counts 0;
    docs/references.md#spot-4). UF1 and UAR are given alongside. No pairs: everything 0."""
    precisions, recalls, f1s = [], [], []
    for c in classes:
        tp = sum(1 for t, p in zip(truth, predicted) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, predicted) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, predicted) if t == c and p != c)
        p_c = tp / (tp + fp) if tp + fp else 0.0
        r_c = tp / (tp + fn) if tp + fn else 0.0
        precisions.append(p_c)
        recalls.append(r_c)
        f1s.append(2 * p_c * r_c / (p_c + r_c) if p_c + r_c else 0.0)
    n = len(classes) or 1
    p_mean, r_mean = sum(precisions) / n, sum(recalls) / n
    f1 = 2 * p_mean * r_mean / (p_mean + r_mean) if p_mean + r_mean else 0.0
    present = [c for c in classes if any(t == c for t in truth)]
    uar = sum(recalls[list(classes).index(c)] for c in present) / len(present) if present else 0.0
    return {
        "f1": f1,
        "precision_mean": p_mean,
        "recall_mean": r_mean,
        "uf1": sum(f1s) / n,
        "uar": uar,
        "n_pairs": len(truth),
        "classes": list(classes),
    }


def strs(spot_f1_me: float, analysis: float) -> float:
    """STRS = ME spotting F1 x analysis F1 (0 when no spotted ME was a true positive)."""
    return spot_f1_me * analysis
