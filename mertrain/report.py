"""Run reports as text: the per-subject/per-dataset/pooled table of one run (with the pooled
scores' 95% interval and the as-published scores of the same predictions), and the comparison
of several runs on ONE split, with the paired difference of each to the first.

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
from mertrain.uncertainty import paired_difference

__all__ = [
    "SELECT_LABELS",
    "LoadedRun",
    "RunDirError",
    "check_comparable",
    "clear_failure",
    "compare_runs",
    "compute_results",
    "failed_folds",
    "finished_folds",
    "format_comparison",
    "format_differences",
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
    ci = results.get("ci")
    if ci:
        lines.append(_ci_line(ci))
    if results.get("published"):
        lines += format_published(results["published"])
    return "\n".join(lines)


def _range(interval: Sequence[float] | None) -> str:
    return "n/a" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _ci_line(ci: Mapping[str, Any]) -> str:
    what = (
        f"{ci['level']:.0%} CI, {ci['method']} ({ci['n_subjects']} subjects, "
        f"{ci['n_boot']} resamples, seed {ci['seed']})"
    )
    if ci.get("uf1") is None:
        return f"{what}: n/a (fewer than two subjects)"
    return f"{what}: UF1 {_range(ci['uf1'])}  UAR {_range(ci['uar'])}"


def format_published(published: Mapping[str, Any]) -> list[str]:
    """The as-published lines of a table: the same predictions under the references'
    protocols, each row saying whether it chose on the test subjects."""
    lines = ["as published: " + published["note"]]
    for key in (
        "per_subject_mean",
        "best_test_epoch_per_subject",
        "best_test_acc_per_fold_pooled",
    ):
        row = published.get(key)
        if row is None:
            continue
        label = f"  {row['label']:<50}"
        if not row.get("available", True):
            lines.append(f"{label} {row['reason']}")
            continue
        flag = "  OPTIMISTIC" if row.get("optimistic") else ""
        lines.append(
            f"{label} UF1 {_fmt(row['uf1'])} UAR {_fmt(row['uar'])} ACC {_fmt(row['acc'])}{flag}"
        )
    last = published.get("last_epoch")
    if last:
        p, m = last["pooled"], last["per_subject_mean"]
        lines.append(
            f"  {'last epoch, pooled (honest: the same training)':<50} UF1 {_fmt(p['uf1'])} "
            f"UAR {_fmt(p['uar'])} ACC {_fmt(p['acc'])}"
        )
        lines.append(
            f"  {'last epoch, per-subject mean, reference metric':<50} UF1 {_fmt(m['uf1'])} "
            f"UAR {_fmt(m['uar'])} ACC {_fmt(m['acc'])}"
        )
    return lines


def check_comparable(runs: Sequence[LoadedRun]) -> list[str]:
    """Refuse runs on different splits (their numbers answer different questions: other clips,
    other folds, other labels); return notes on what else differs (the stores read)."""
    first = runs[0]
    for other in runs[1:]:
        if other.splits.sha256 != first.splits.sha256:
            raise RunDirError(
                f"cannot compare {first.name} and {other.name}: they were evaluated on "
                f"different splits (sha256 {first.splits.sha256[:12]} vs "
                f"{other.splits.sha256[:12]}; protocol {first.splits.protocol}/"
                f"{other.splits.protocol}, task {first.splits.task}/{other.splits.task}); "
                "print their tables one by one, or pass --no-compare"
            )
    notes = []
    stores = [sorted(s.get("fingerprint") or "" for s in r.record.stores) for r in runs]
    for run, fps in zip(runs[1:], stores[1:]):
        if fps != stores[0]:
            notes.append(
                f"note: {run.name} read other stores than {first.name} (fingerprints "
                f"{', '.join(f[:12] for f in fps)} vs {', '.join(f[:12] for f in stores[0])}): "
                "the same clips, prepared differently"
            )
    return notes


def compare_runs(runs: Sequence[LoadedRun]) -> list[dict[str, Any]]:
    """The paired difference (bootstrap over subjects) of every run to the first, on the clips
    both tested; one dict per later run."""
    base = {r["clip_id"]: r for r in prediction_rows(runs[0])}
    n = len(runs[0].splits.classes)
    out = []
    for run in runs[1:]:
        rows = [r for r in prediction_rows(run) if r["clip_id"] in base]
        relabelled = [r["clip_id"] for r in rows if r["y_true"] != base[r["clip_id"]]["y_true"]]
        if relabelled:  # the split names clips, not labels: stores annotated otherwise
            raise RunDirError(
                f"cannot compare {runs[0].name} and {run.name}: {len(relabelled)} clip(s) "
                f"carry other labels (e.g. {relabelled[0]}); were the stores annotated or "
                "corrected differently?"
            )
        diff = paired_difference(
            [r["y_true"] for r in rows],
            [base[r["clip_id"]]["y_pred"] for r in rows],
            [r["y_pred"] for r in rows],
            [r["subject"] for r in rows],
            n,
        )
        out.append({"a": runs[0].name, "b": run.name, **diff})
    return out


def format_differences(diffs: Sequence[Mapping[str, Any]]) -> str:
    """One line per pair: B - A in UF1 and UAR with the paired interval."""
    lines = []
    for d in diffs:
        lines.append(
            f"{d['b']} - {d['a']}: UF1 {d['uf1']['diff']:+.3f} {_range(d['uf1']['ci'])}  "
            f"UAR {d['uar']['diff']:+.3f} {_range(d['uar']['ci'])}  ({d['level']:.0%} "
            f"{d['method']}, {d['n_subjects']} subjects, {d['n_clips']} clips both tested)"
        )
        if d["uf1"]["ci"] is None:
            lines[-1] += "; fewer than two subjects in common: no interval"
        elif d["uf1"]["ci"][0] <= 0 <= d["uf1"]["ci"][1]:
            lines[-1] += "; the UF1 interval contains 0: no difference shown"
    return "\n".join(lines)


def format_comparison(named: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Side by side: run, model, protocol, task, select, UF1, UAR, ACC, n, folds."""
    head = (
        f"{'run':<28} {'model':<22} {'protocol':<9} {'task':<9} {'select':<32} "
        f"{'UF1':>6} {'UF1 95% CI':>16} {'UAR':>6} {'ACC':>6} {'n':>5} {'folds':>7}"
    )
    lines = [head, "-" * len(head)]
    for name, r in named:
        folds = f"{r.get('folds_done', '?')}/{r.get('folds_total', '?')}"
        flag = " partial" if r.get("partial") else ""
        ci = _range((r.get("ci") or {}).get("uf1"))
        lines.append(
            f"{name[-28:]:<28} {str(r['model'])[:22]:<22} {r['protocol']:<9} "
            f"{r['task']:<9} {r.get('select', 'last'):<32} {_fmt(r['uf1'])} {ci:>16} "
            f"{_fmt(r['uar'])} {_fmt(r['acc'])} {r['n']:>5} {folds:>7}{flag}"
        )
    return "\n".join(lines)
