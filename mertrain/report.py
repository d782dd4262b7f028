"""Run outputs: predictions, pooled/per-dataset/per-subject scores, tables and pictures."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mertrain.metrics import confusion_matrix, scores


def write_run_outputs(out: Path, *, config, spec, splits, samples: Mapping[str, Any], folds,
                      stores: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Write predictions.csv, per_subject.csv, results.json and the PNGs; return the results."""
    classes = list(splits.classes)
    n = len(classes)
    rows = []
    for f in folds:
        for cid, t, p, pr in zip(f.clip_ids, f.y_true, f.y_pred, f.proba):
            s = samples[cid]
            rows.append({"clip_id": cid, "dataset": s.dataset, "subject": s.subject_id,
                         "fold": f.name, "y_true": int(t), "y_pred": int(p),
                         **{f"p_{c}": float(v) for c, v in zip(classes, pr)}})
    with open(out / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["clip_id", "dataset", "subject", "fold", "y_true",
                                                "y_pred"] + [f"p_{c}" for c in classes])
        writer.writeheader()
        writer.writerows(rows)

    y_true = [r["y_true"] for r in rows]
    y_pred = [r["y_pred"] for r in rows]
    pooled = scores(y_true, y_pred, n)
    per_dataset = {}
    for ds in sorted({r["dataset"] for r in rows}):
        sel = [r for r in rows if r["dataset"] == ds]
        per_dataset[ds] = scores([r["y_true"] for r in sel], [r["y_pred"] for r in sel], n)
    per_subject = {}
    for subj in sorted({r["subject"] for r in rows}):
        sel = [r for r in rows if r["subject"] == subj]
        per_subject[subj] = scores([r["y_true"] for r in sel], [r["y_pred"] for r in sel], n)
    with open(out / "per_subject.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "n", "uf1", "uar", "acc"])
        for subj, sc in per_subject.items():
            w.writerow([subj, sc["n"], sc["uf1"], sc["uar"], sc["acc"]])

    cm = confusion_matrix(y_true, y_pred, n)
    results = {
        "uf1": pooled["uf1"], "uar": pooled["uar"], "acc": pooled["acc"], "n": pooled["n"],
        "per_dataset": per_dataset,
        "per_subject": per_subject,
        "confusion": cm.tolist(),
        "classes": classes,
        "protocol": splits.protocol,
        "task": splits.task,
        "model": spec.name,
        "select": "last",
        "partial": bool(splits.info.get("partial", False)),
        "splits_sha256": splits.sha256,
        "stores": stores,
        "folds": {f.name: {"n_test": len(f.clip_ids), "seconds": round(f.seconds, 2)}
                  for f in folds},
        "seconds": round(seconds, 1),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    plot_confusion(cm, classes, out / "confusion.png", title=f"{spec.name} ({splits.protocol})")
    if any(f.history for f in folds):
        plot_curves([f.history for f in folds], [f.name for f in folds], out / "curves.png")
    return results


def format_table(results: Mapping[str, Any]) -> str:
    """Per-subject rows, per-dataset rows and the pooled line, as plain text."""
    def fmt(v):
        return "   -  " if v is None else f"{v:6.3f}"

    lines = [f"model {results['model']}  protocol {results['protocol']}  task {results['task']}"
             f"  select {results.get('select', 'last')}",
             f"{'subject':<24} {'n':>4} {'UF1':>6} {'UAR':>6} {'ACC':>6}"]
    for subj, sc in results["per_subject"].items():
        lines.append(f"{subj:<24} {sc['n']:>4} {fmt(sc['uf1'])} {fmt(sc['uar'])} "
                     f"{fmt(sc['acc'])}")
    lines.append("-" * 50)
    for ds, sc in results.get("per_dataset", {}).items():
        lines.append(f"{'dataset ' + ds:<24} {sc['n']:>4} {fmt(sc['uf1'])} {fmt(sc['uar'])} "
                     f"{fmt(sc['acc'])}")
    lines.append(f"{'pooled':<24} {results['n']:>4} {fmt(results['uf1'])} "
                 f"{fmt(results['uar'])} {fmt(results['acc'])}")
    return "\n".join(lines)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.2 * len(classes) + 1.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(histories: Sequence[Mapping[str, list[float]]], names: Sequence[str],
                path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in ("loss", "accuracy") if any(k in h for h in histories)]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for h, name in zip(histories, names):
            if key in h:
                ax.plot(range(1, len(h[key]) + 1), h[key], alpha=0.6, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"training {key}")
    if len(names) <= 12:
        axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
