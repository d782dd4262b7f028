"""Pictures of a run: the confusion matrix and the training curves of every fold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path, title: str = "") -> None:
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2.5, 1.2 * len(classes) + 1.8))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                color="white" if cm[i, j] > cm.max() / 2 else "black",
            )
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(
    histories: Sequence[Mapping[str, list[float]]],
    names: Sequence[str],
    path: Path,
    title: str = "",
) -> None:
    keys = [
        k
        for k in ("loss", "accuracy", "val_loss", "val_uf1", "test_acc")
        if any(k in h for h in histories)
    ]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    labels = {
        "loss": "training loss",
        "accuracy": "training accuracy",
        "val_loss": "inner-val loss",
        "val_uf1": "inner-val UF1",
        "test_acc": "TEST accuracy (oracle, optimistic)",
    }
    for ax, key in zip(axes[0], keys):
        for h, name in zip(histories, names):
            if key in h:
                ax.plot(range(1, len(h[key]) + 1), h[key], alpha=0.6, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(labels[key])
    if len(names) <= 12:
        axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
