"""A run's results, derived from its fold records only: pooled predictions, UF1/UAR/ACC pooled
(MEGC2019 definition) with a 95% interval (bootstrap over subjects), per dataset and per
subject, the confusion matrix, what the same predictions score under the published protocols
(labelled; :mod:`mertrain.published`) and provenance; and the files ``mertrain run`` and
``mertrain report`` write from them.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from mertrain.config import OPTIMISTIC_SELECTS, SELECT_LABELS
from mertrain.metrics import confusion_matrix, scores, sliced_scores
from mertrain.plots import plot_confusion, plot_curves, plot_per_subject
from mertrain.published import published_scores
from mertrain.rundir import (
    CONFIG,
    PER_SUBJECT,
    PREDICTIONS,
    RESULTS,
    SPLITS,
    LoadedRun,
    save_failure,
    save_fold,
    write_text,
)
from mertrain.runrecord import RunRecord
from mertrain.uncertainty import bootstrap_ci


def record_sha256(record: RunRecord) -> str:
    """The identity hash a results file cites: the one written in config.json (a first-release
    directory keeps its own), else the identity's."""
    raw = record.raw or {}
    return str(raw.get("identity_sha256") or record.identity_sha256)


def prediction_rows(run: LoadedRun) -> list[dict[str, Any]]:
    """One row per tested clip, in fold order (the pooled predictions)."""
    classes = list(run.splits.classes)
    select = run.record.select
    rows = []
    for i in sorted(run.folds):
        f = run.folds[i]
        for cid, ds, subj, t, pr in zip(f.clip_ids, f.datasets, f.subjects, f.y_true, f.proba):
            row = {
                "clip_id": cid,
                "dataset": ds,
                "subject": subj,
                "fold": f.name,
                "y_true": int(t),
                "y_pred": int(np.argmax(pr)),
                **{f"p_{c}": float(v) for c, v in zip(classes, pr)},
            }
            if select in OPTIMISTIC_SELECTS:
                row["select"] = SELECT_LABELS[select]
            rows.append(row)
    return rows


def compute_results(run: LoadedRun) -> dict[str, Any]:
    """results.json content: pooled scores (MEGC2019 definition), the same predictions sliced
    per dataset and per subject, the confusion matrix and provenance."""
    classes = list(run.splits.classes)
    n = len(classes)
    rows = prediction_rows(run)
    y_true = [r["y_true"] for r in rows]
    y_pred = [r["y_pred"] for r in rows]
    pooled = scores(y_true, y_pred, n)
    record = run.record
    info = run.splits.info
    folds = {}
    for i in sorted(run.folds):
        f = run.folds[i]
        folds[f.name] = {
            "index": i,
            "n_test": len(f.clip_ids),
            "seconds": round(f.seconds, 2),
            "best_epoch": f.best_epoch,
            "val_subjects": list(f.val_subjects),
        }
    subjects = [r["subject"] for r in rows]
    return {
        "uf1": pooled["uf1"],
        "uar": pooled["uar"],
        "acc": pooled["acc"],
        "n": pooled["n"],
        "ci": bootstrap_ci(y_true, y_pred, subjects, n),
        "published": published_scores(
            [run.folds[i] for i in sorted(run.folds)],
            n,
            optimistic=record.select in OPTIMISTIC_SELECTS,
        ),
        "per_dataset": sliced_scores(y_true, y_pred, [r["dataset"] for r in rows], n),
        "per_subject": sliced_scores(y_true, y_pred, subjects, n),
        "confusion": confusion_matrix(y_true, y_pred, n).tolist(),
        "classes": classes,
        "protocol": run.splits.protocol,
        "task": run.splits.task,
        "model": record.config.model.name,
        "select": SELECT_LABELS[record.select],
        "partial": bool(info.get("partial", False)),
        "coverage": {
            k: info[k]
            for k in ("official", "present", "missing", "missing_subjects", "excluded")
            if k in info
        },
        "complete": run.complete,
        "folds_done": len(run.folds),
        "folds_total": len(run.splits.folds),
        "failed_folds": {
            run.failures[i].name: run.failures[i].failure or "failed" for i in sorted(run.failures)
        },
        "splits_sha256": run.splits.sha256,
        "config_sha256": record_sha256(record),
        "stores": [
            {k: s.get(k) for k in ("path", "schema_version", "fingerprint", "n_clips")}
            for s in record.stores
        ],
        "seed": record.seed,
        "sources": [str(p) for p in run.paths],
        "folds": folds,
        "seconds": round(sum(f.seconds for f in run.folds.values()), 1),
    }


def write_outputs(out: Path, run: LoadedRun) -> dict[str, Any]:
    """Write predictions.csv, per_subject.csv, results.json and the PNGs into ``out`` (and,
    when ``out`` is not the run's own directory, config.json, splits.json and the fold records,
    so a merged directory is a complete run directory); return the results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if [out.resolve()] != [p.resolve() for p in run.paths]:
        write_text(out / CONFIG, json.dumps(run.record.to_json(), indent=2, default=str) + "\n")
        write_text(out / SPLITS, run.splits.to_json() + "\n")
        for outcome in run.folds.values():
            save_fold(out, outcome)
        for outcome in run.failures.values():
            save_failure(out, outcome)
    classes = list(run.splits.classes)
    rows = prediction_rows(run)
    fields = (
        ["clip_id", "dataset", "subject", "fold", "y_true", "y_pred"]
        + [f"p_{c}" for c in classes]
        + (["select"] if rows and "select" in rows[0] else [])
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / PREDICTIONS, buf.getvalue())

    results = compute_results(run)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["subject", "n", "uf1", "uar", "acc"])
    for subj, sc in results["per_subject"].items():
        w.writerow([subj, sc["n"], sc["uf1"], sc["uar"], sc["acc"]])
    write_text(out / PER_SUBJECT, buf.getvalue())
    write_text(out / RESULTS, json.dumps(results, indent=2) + "\n")

    title = f"{results['model']} ({results['protocol']}, select {results['select']})"
    plot_confusion(np.asarray(results["confusion"]), classes, out / "confusion.png", title=title)
    histories = [run.folds[i].history for i in sorted(run.folds)]
    if any(histories):
        plot_curves(
            histories,
            [run.folds[i].name for i in sorted(run.folds)],
            out / "curves.png",
            title=title,
            best_epochs=[run.folds[i].best_epoch for i in sorted(run.folds)],
        )
    if results["per_subject"]:
        plot_per_subject(results["per_subject"], out / "per_subject.png", title=title)
    return results
