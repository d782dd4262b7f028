"""Run reports as text: the per-subject/per-dataset/pooled table of one run, and the
comparison of several.

(The run directory's files live in :mod:`mertrain.rundir`, results in :mod:`mertrain.results`,
pictures in :mod:`mertrain.plots`; their names are re-exported here for the first release's
import paths.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mertrain.config import SELECT_LABELS
from mertrain.results import compute_results, prediction_rows, write_outputs
from mertrain.rundir import (
    LoadedRun,
    RunDirError,
    clear_failure,
    failed_folds,
    finished_folds,
    identity_diff,
    init_run_dir,
    load_run,
    merge_runs,
    pooled_outputs_lock,
    save_failure,
    save_fold,
)

__all__ = [
    "SELECT_LABELS",
    "LoadedRun",
    "RunDirError",
    "clear_failure",
    "compute_results",
    "failed_folds",
    "finished_folds",
    "format_comparison",
    "format_table",
    "header",
    "identity_diff",
    "init_run_dir",
    "load_run",
    "merge_runs",
    "pooled_outputs_lock",
    "prediction_rows",
    "save_failure",
    "save_fold",
    "write_outputs",
]


def _fmt(v: float | None) -> str:
    return "   -  " if v is None else f"{v:6.3f}"


def header(results: Mapping[str, Any]) -> str:
    line = (
        f"model {results['model']}  protocol {results['protocol']}  task {results['task']}"
        f"  select {results.get('select', 'last')}"
    )
    if results.get("partial"):
        missing = results.get("coverage", {}).get("missing", {})
        line += (
            "  PARTIAL (listed samples missing: "
            + ", ".join(f"{ds} {n}" for ds, n in missing.items() if n)
            + ")"
        )
    if not results.get("complete", True):
        line += f"  INCOMPLETE ({results['folds_done']}/{results['folds_total']} folds)"
    failed = results.get("failed_folds") or {}
    if failed:
        line += f"  FAILED {len(failed)} fold(s): " + "; ".join(
            f"{name}: {why}" for name, why in failed.items()
        )
    return line


def format_table(results: Mapping[str, Any]) -> str:
    """Per-subject rows, per-dataset rows and the pooled line, as plain text."""
    lines = [header(results), f"{'subject':<24} {'n':>4} {'UF1':>6} {'UAR':>6} {'ACC':>6}"]
    for subj, sc in results["per_subject"].items():
        lines.append(
            f"{subj:<24} {sc['n']:>4} {_fmt(sc['uf1'])} {_fmt(sc['uar'])} {_fmt(sc['acc'])}"
        )
    lines.append("-" * 50)
    for ds, sc in results.get("per_dataset", {}).items():
        lines.append(
            f"{'dataset ' + ds:<24} {sc['n']:>4} {_fmt(sc['uf1'])} {_fmt(sc['uar'])} "
            f"{_fmt(sc['acc'])}"
        )
    lines.append(
        f"{'pooled':<24} {results['n']:>4} {_fmt(results['uf1'])} "
        f"{_fmt(results['uar'])} {_fmt(results['acc'])}"
    )
    return "\n".join(lines)


def format_comparison(named: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Side by side: run, model, protocol, task, select, UF1, UAR, ACC, n, folds."""
    head = (
        f"{'run':<28} {'model':<22} {'protocol':<9} {'task':<9} {'select':<20} "
        f"{'UF1':>6} {'UAR':>6} {'ACC':>6} {'n':>5} {'folds':>7}"
    )
    lines = [head, "-" * len(head)]
    for name, r in named:
        folds = f"{r.get('folds_done', '?')}/{r.get('folds_total', '?')}"
        flag = " partial" if r.get("partial") else ""
        lines.append(
            f"{name[-28:]:<28} {str(r['model'])[:22]:<22} {r['protocol']:<9} "
            f"{r['task']:<9} {r.get('select', 'last'):<20} {_fmt(r['uf1'])} "
            f"{_fmt(r['uar'])} {_fmt(r['acc'])} {r['n']:>5} {folds:>7}{flag}"
        )
    return "\n".join(lines)
