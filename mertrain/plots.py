"""Pictures of a run: the confusion matrix (counts beside row-normalised recall), the training
curves of every fold (with the selected epoch marked, and their mean when there are many), and
per-subject scores as bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

#: with more folds than this, the curves are drawn faint and their mean bold, without a legend
MANY_FOLDS = 12


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path, title: str = "") -> None:
    """Counts (left) and each row divided by its total (right: the recall of every class, what
    UAR averages), so rare classes read as well as common ones."""
    cm = np.asarray(cm)
    totals = cm.sum(axis=1, keepdims=True)
    rates = np.divide(cm, totals, out=np.zeros(cm.shape, float), where=totals > 0)
    k = len(classes)
    fig, axes = plt.subplots(1, 2, figsize=(2 * (1.1 * k + 2.2), 1.1 * k + 1.9))
    for ax, values, what in ((axes[0], cm, "counts"), (axes[1], rates, "row-normalised")):
        ax.imshow(values, cmap="Blues", vmin=0, vmax=values.max() or 1)
        ax.set_xticks(range(k), classes, rotation=45, ha="right")
        ax.set_yticks(range(k), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(what, fontsize=9)
        top = values.max() or 1
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                text = str(int(values[i, j])) if what == "counts" else f"{values[i, j]:.2f}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if values[i, j] > top / 2 else "black",
                )
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


CURVE_LABELS = {
    "loss": "training loss",
    "accuracy": "training accuracy",
    "val_loss": "inner-val loss",
    "val_uf1": "inner-val UF1",
    "test_acc": "TEST accuracy (oracle, optimistic)",
}


def plot_curves(
    histories: Sequence[Mapping[str, list[float]]],
    names: Sequence[str],
    path: Path,
    title: str = "",
    best_epochs: Sequence[int | None] | None = None,
) -> None:
    """One panel per recorded quantity; each fold's selected epoch (``best_epochs``, 1-based)
    is marked with a dot; with many folds, the folds are faint and their mean is drawn."""
    keys = [k for k in CURVE_LABELS if any(k in h for h in histories)]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    many = len(names) > MANY_FOLDS
    best = list(best_epochs) if best_epochs is not None else [None] * len(histories)
    for ax, key in zip(axes[0], keys):
        curves = [h[key] for h in histories if key in h]
        for h, name, epoch in zip(histories, names, best):
            if key not in h:
                continue
            ys = h[key]
            (line,) = ax.plot(
                range(1, len(ys) + 1),
                ys,
                alpha=0.25 if many else 0.6,
                lw=0.8 if many else 1.2,
                label=None if many else name,
            )
            if epoch is not None and 1 <= epoch <= len(ys):
                ax.plot([epoch], [ys[epoch - 1]], "o", ms=4, color=line.get_color())
        if many and curves:
            n = min(len(c) for c in curves)
            mean = np.mean([c[:n] for c in curves], axis=0)
            ax.plot(range(1, n + 1), mean, color="black", lw=2, label=f"mean of {len(curves)}")
            ax.legend(fontsize=7)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(CURVE_LABELS[key])
    if not many:
        axes[0][-1].legend(fontsize=7)
    if any(e is not None for e in best):
        fig.text(0.01, 0.01, "dots: each fold's selected epoch", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_subject(
    per_subject: Mapping[str, Mapping[str, Any]], path: Path, title: str = ""
) -> None:
    """UF1 and accuracy of every subject as bars (subjects sorted by UF1), with the number of
    clips under each: which subjects the pooled score hides."""
    items = sorted(per_subject.items(), key=lambda kv: (kv[1].get("uf1") or 0.0, kv[0]))
    names = [n for n, _ in items]
    uf1 = [s.get("uf1") or 0.0 for _, s in items]
    acc = [s.get("acc") or 0.0 for _, s in items]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.28 * len(names) + 2.0), 3.8))
    ax.bar(x - 0.2, uf1, 0.4, label="UF1")
    ax.bar(x + 0.2, acc, 0.4, label="ACC", alpha=0.7)
    ax.set_xticks(x, [f"{n} ({s['n']})" for n, s in items], rotation=90, fontsize=6)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("per subject (clips)")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
