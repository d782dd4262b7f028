"""Run directories: fold records, pooled results, tables, comparisons and pictures.

A run directory holds::

    config.json        the run configuration, model configuration, stores, versions, identity
    splits.json        the split (byte-identical to ``mertrain splits --json``)
    folds/NNN.json     one record per finished fold (written atomically as the fold finishes)
    folds/NNN.failed.json  a fold that failed (NaN loss, ...): why, and its training history
    predictions.csv    clip_id, dataset, subject, fold, y_true, y_pred, p_<class>...
    results.json       pooled UF1/UAR/ACC, per dataset, per subject, confusion, provenance
    per_subject.csv    confusion.png    curves.png    [weights/]  [tensorboard/]

Everything after ``folds/`` is derived from the fold records, so ``mertrain report`` can rebuild
it, and shards (``--folds`` subsets run into different directories) merge by pooling their
records, provided they share the split (sha256) and the configuration (identity).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from merprep.errors import MerprepError
from mertrain.metrics import confusion_matrix, scores, sliced_scores
from mertrain.protocols import Splits

log = logging.getLogger(__name__)

CONFIG = "config.json"
SPLITS = "splits.json"
FOLDS = "folds"
RESULTS = "results.json"
PREDICTIONS = "predictions.csv"
PER_SUBJECT = "per_subject.csv"
#: epoch-selection modes and how each is written in every output (results.json, tables,
#: predictions.csv); the oracle mode peeks at test data and says so everywhere
SELECT_LABELS = {"last": "last", "inner-val": "inner-val", "oracle": "oracle (optimistic)"}


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: files are created 0666 minus the umask, as open() would (mkstemp alone gives 0600)
_FILE_MODE = 0o666 & ~_current_umask()


class RunDirError(MerprepError):
    """A run directory that is missing, damaged, or does not match another one."""


# --------------------------------------------------------------------------- atomic files

POOLED_LOCK = ".pooled.lock"


@contextmanager
def pooled_outputs_lock(out: Path | str) -> Iterator[None]:
    """Hold ``RUN_DIR/.pooled.lock`` (waiting for it) while the pooled outputs are rebuilt.

    Shards of one run writing into one directory (a SLURM array with ``--folds``) each save
    their folds and then rebuild the pooled outputs from every fold record present. Each shard
    saves before it takes this lock, so whichever takes it last sees every fold, and the
    directory ends complete without a final ``mertrain report``. Where the file system has no
    ``flock`` (Lustre mounted without ``-o flock``) a warning says to run that report.
    """
    path = Path(out) / POOLED_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    locked = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError as exc:
            log.warning("cannot lock %s (%s): shards finishing together may each miss the "
                        "other's folds; run `mertrain report %s --out %s` at the end", path,
                        exc.strerror or exc, out, out)
        yield
    finally:
        if locked:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a
    torn one (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                Path(tmp).unlink(missing_ok=True)
            except OSError:
                pass
        if isinstance(exc, OSError):  # disk full, read-only, permissions: say which file
            raise RunDirError(f"cannot write ({exc.strerror or exc})", file=path) from None
        raise


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError("missing", file=path) from None
    except (OSError, ValueError) as exc:
        raise RunDirError(f"unreadable ({exc.__class__.__name__}: {exc})", file=path) from None


# --------------------------------------------------------------------------- the run directory

def init_run_dir(out: Path, config_record: Mapping[str, Any], splits: Splits) -> None:
    """Create the run directory, or check that an existing one holds the same run (same
    configuration identity and split); another run's directory is refused, not overwritten."""
    out = Path(out)
    cfg_path, splits_path = out / CONFIG, out / SPLITS
    if cfg_path.exists():
        old = _read_json(cfg_path)
        if old.get("identity_sha256") != config_record["identity_sha256"]:
            diff = identity_diff(old.get("identity", {}), config_record["identity"])
            raise RunDirError(f"holds a different run ({diff}); choose another --out", file=out)
    if splits_path.exists():
        old_splits = Splits.load(splits_path)
        if old_splits.sha256 != splits.sha256:
            raise RunDirError(f"holds a run on a different split (sha256 "
                              f"{old_splits.sha256[:12]} vs {splits.sha256[:12]}); choose "
                              "another --out", file=out)
    out.mkdir(parents=True, exist_ok=True)
    if not cfg_path.exists():
        write_atomic(cfg_path, json.dumps(config_record, indent=2, default=str) + "\n")
    if not splits_path.exists():
        write_atomic(splits_path, splits.to_json() + "\n")


def fold_path(out: Path, index: int) -> Path:
    return Path(out) / FOLDS / f"{index:03d}.json"


def save_fold(out: Path, record: Mapping[str, Any]) -> Path:
    """Persist one finished fold atomically (a run killed at any moment leaves whole records)."""
    path = fold_path(out, int(record["index"]))
    write_atomic(path, json.dumps(record, separators=(",", ":")) + "\n")
    return path


def failure_path(out: Path, index: int) -> Path:
    return Path(out) / FOLDS / f"{index:03d}.failed.json"


def save_failure(out: Path, record: Mapping[str, Any]) -> Path:
    """Persist a failed fold (its ``failure`` reason and history) apart from the finished
    folds: it is not a result, and ``--resume`` trains it again."""
    path = failure_path(out, int(record["index"]))
    write_atomic(path, json.dumps(record, separators=(",", ":")) + "\n")
    return path


def clear_failure(out: Path, index: int) -> None:
    """Forget an earlier failure of a fold that has now finished."""
    failure_path(out, index).unlink(missing_ok=True)


def failed_folds(out: Path, splits: Splits | None = None) -> dict[int, dict[str, Any]]:
    """index -> failure record for every failed fold in ``out`` that has not finished since."""
    out = Path(out)
    splits = splits or Splits.load(out / SPLITS)
    records: dict[int, dict[str, Any]] = {}
    for path in sorted((out / FOLDS).glob("[0-9][0-9][0-9].failed.json")):
        rec = _read_json(path)
        i = int(rec["index"])
        if i >= len(splits.folds) or splits.folds[i].name != rec["name"]:
            raise RunDirError("failed-fold record does not match the run's splits.json", file=path)
        if not fold_path(out, i).exists():
            records[i] = rec
    return records


def finished_folds(out: Path, splits: Splits | None = None) -> dict[int, dict[str, Any]]:
    """index -> fold record for every fold persisted in ``out`` (checked against its split)."""
    out = Path(out)
    splits = splits or Splits.load(out / SPLITS)
    records: dict[int, dict[str, Any]] = {}
    for path in sorted((out / FOLDS).glob("[0-9][0-9][0-9].json")):
        rec = _read_json(path)
        i = int(rec["index"])
        if i >= len(splits.folds) or splits.folds[i].name != rec["name"] \
                or list(splits.folds[i].test) != list(rec["clip_ids"]):
            raise RunDirError("fold record does not match the run's splits.json", file=path)
        records[i] = rec
    return records


@dataclass
class LoadedRun:
    """A run directory (or several merged shards) as the report sees it."""

    paths: list[Path]
    config: dict[str, Any]
    splits: Splits
    folds: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: folds that failed (NaN loss, ...) and have not finished since: index -> record
    failures: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return " + ".join(str(p) for p in self.paths)

    @property
    def complete(self) -> bool:
        return len(self.folds) == len(self.splits.folds)


def load_run(path: Path | str) -> LoadedRun:
    path = Path(path)
    if not path.is_dir():
        raise RunDirError("not a run directory", file=path)
    config = _read_json(path / CONFIG)
    if not (path / SPLITS).exists():
        raise RunDirError("not a run directory (no splits.json)", file=path)
    splits = Splits.load(path / SPLITS)
    return LoadedRun([path], config, splits, finished_folds(path, splits),
                     failed_folds(path, splits))


def identity_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """A short 'field: x vs y' list of where two configuration identities differ."""
    diffs = []

    def walk(x: Any, y: Any, where: str) -> None:
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{where}.{k}" if where else str(k))
        elif x != y:
            diffs.append(f"{where}: {x!r} vs {y!r}")

    walk(a, b, "")
    return "; ".join(diffs[:6]) + (" ..." if len(diffs) > 6 else "") if diffs else "no difference"


def merge_runs(runs: Sequence[LoadedRun]) -> LoadedRun:
    """Pool shard directories of ONE run: same split sha256 and same configuration identity
    required; a fold present in several shards must carry identical predictions."""
    if not runs:
        raise RunDirError("nothing to merge")
    first = runs[0]
    merged = LoadedRun(list(first.paths), first.config, first.splits, dict(first.folds),
                       dict(first.failures))
    for other in runs[1:]:
        if other.splits.sha256 != first.splits.sha256:
            raise RunDirError(f"cannot merge {first.name} and {other.name}: they use different "
                              f"splits (sha256 {first.splits.sha256[:12]} vs "
                              f"{other.splits.sha256[:12]})")
        if other.config.get("identity_sha256") != first.config.get("identity_sha256"):
            diff = identity_diff(first.config.get("identity", {}),
                                 other.config.get("identity", {}))
            raise RunDirError(f"cannot merge {first.name} and {other.name}: different "
                              f"configuration ({diff})")
        for i, rec in other.folds.items():
            have = merged.folds.get(i)
            if have is not None and (have["proba"] != rec["proba"]
                                     or have["clip_ids"] != rec["clip_ids"]):
                raise RunDirError(f"cannot merge: fold {i} ({rec['name']}) is in two shards "
                                  "with different predictions")
            merged.folds[i] = rec
        for i, rec in other.failures.items():
            merged.failures.setdefault(i, rec)
        merged.paths += other.paths
    merged.failures = {i: r for i, r in merged.failures.items() if i not in merged.folds}
    return merged


# --------------------------------------------------------------------------- results

def prediction_rows(run: LoadedRun) -> list[dict[str, Any]]:
    """One row per tested clip, in fold order (the pooled predictions)."""
    classes = list(run.splits.classes)
    select = run.config["run"].get("select", "last")
    rows = []
    for i in sorted(run.folds):
        f = run.folds[i]
        for cid, ds, subj, t, pr in zip(f["clip_ids"], f["datasets"], f["subjects"], f["y_true"],
                                        f["proba"]):
            row = {"clip_id": cid, "dataset": ds, "subject": subj, "fold": f["name"],
                   "y_true": int(t), "y_pred": int(np.argmax(pr)),
                   **{f"p_{c}": float(v) for c, v in zip(classes, pr)}}
            if select == "oracle":
                row["select"] = SELECT_LABELS["oracle"]
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
    cfg = run.config.get("run", {})
    info = run.splits.info
    folds = {}
    for i in sorted(run.folds):
        f = run.folds[i]
        folds[f["name"]] = {"index": i, "n_test": len(f["clip_ids"]),
                            "seconds": round(float(f["seconds"]), 2),
                            "best_epoch": f.get("best_epoch"),
                            "val_subjects": f.get("val_subjects") or []}
    return {
        "uf1": pooled["uf1"], "uar": pooled["uar"], "acc": pooled["acc"], "n": pooled["n"],
        "per_dataset": sliced_scores(y_true, y_pred, [r["dataset"] for r in rows], n),
        "per_subject": sliced_scores(y_true, y_pred, [r["subject"] for r in rows], n),
        "confusion": confusion_matrix(y_true, y_pred, n).tolist(),
        "classes": classes,
        "protocol": run.splits.protocol,
        "task": run.splits.task,
        "model": cfg.get("model"),
        "select": SELECT_LABELS.get(cfg.get("select", "last"), cfg.get("select")),
        "partial": bool(info.get("partial", False)),
        "coverage": {k: info[k] for k in ("official", "present", "missing", "missing_subjects",
                                          "excluded") if k in info},
        "complete": run.complete,
        "folds_done": len(run.folds),
        "folds_total": len(run.splits.folds),
        "failed_folds": {run.failures[i]["name"]: run.failures[i].get("failure", "failed")
                         for i in sorted(run.failures)},
        "splits_sha256": run.splits.sha256,
        "config_sha256": run.config.get("identity_sha256"),
        "stores": [{k: s.get(k) for k in ("path", "schema_version", "fingerprint", "n_clips")}
                   for s in run.config.get("stores", [])],
        "seed": cfg.get("seed"),
        "sources": [str(p) for p in run.paths],
        "folds": folds,
        "seconds": round(sum(float(f["seconds"]) for f in run.folds.values()), 1),
    }


def write_outputs(out: Path, run: LoadedRun) -> dict[str, Any]:
    """Write predictions.csv, per_subject.csv, results.json and the PNGs into ``out`` (and,
    when ``out`` is not the run's own directory, config.json, splits.json and the fold records,
    so a merged directory is a complete run directory); return the results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if [out.resolve()] != [p.resolve() for p in run.paths]:
        write_atomic(out / CONFIG, json.dumps(run.config, indent=2, default=str) + "\n")
        write_atomic(out / SPLITS, run.splits.to_json() + "\n")
        for rec in run.folds.values():
            save_fold(out, rec)
        for rec in run.failures.values():
            save_failure(out, rec)
    classes = list(run.splits.classes)
    rows = prediction_rows(run)
    fields = ["clip_id", "dataset", "subject", "fold", "y_true", "y_pred"] + \
        [f"p_{c}" for c in classes] + (["select"] if rows and "select" in rows[0] else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out / PREDICTIONS, buf.getvalue())

    results = compute_results(run)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["subject", "n", "uf1", "uar", "acc"])
    for subj, sc in results["per_subject"].items():
        w.writerow([subj, sc["n"], sc["uf1"], sc["uar"], sc["acc"]])
    write_atomic(out / PER_SUBJECT, buf.getvalue())
    write_atomic(out / RESULTS, json.dumps(results, indent=2) + "\n")

    title = f"{results['model']} ({results['protocol']}, select {results['select']})"
    plot_confusion(np.asarray(results["confusion"]), classes, out / "confusion.png", title=title)
    histories = [run.folds[i].get("history") or {} for i in sorted(run.folds)]
    if any(histories):
        plot_curves(histories, [run.folds[i]["name"] for i in sorted(run.folds)],
                    out / "curves.png", title=title)
    return results


# --------------------------------------------------------------------------- text

def _fmt(v: float | None) -> str:
    return "   -  " if v is None else f"{v:6.3f}"


def header(results: Mapping[str, Any]) -> str:
    line = (f"model {results['model']}  protocol {results['protocol']}  task {results['task']}"
            f"  select {results.get('select', 'last')}")
    if results.get("partial"):
        missing = results.get("coverage", {}).get("missing", {})
        line += "  PARTIAL (listed samples missing: " + ", ".join(
            f"{ds} {n}" for ds, n in missing.items() if n) + ")"
    if not results.get("complete", True):
        line += f"  INCOMPLETE ({results['folds_done']}/{results['folds_total']} folds)"
    failed = results.get("failed_folds") or {}
    if failed:
        line += f"  FAILED {len(failed)} fold(s): " + "; ".join(
            f"{name}: {why}" for name, why in failed.items())
    return line


def format_table(results: Mapping[str, Any]) -> str:
    """Per-subject rows, per-dataset rows and the pooled line, as plain text."""
    lines = [header(results), f"{'subject':<24} {'n':>4} {'UF1':>6} {'UAR':>6} {'ACC':>6}"]
    for subj, sc in results["per_subject"].items():
        lines.append(f"{subj:<24} {sc['n']:>4} {_fmt(sc['uf1'])} {_fmt(sc['uar'])} "
                     f"{_fmt(sc['acc'])}")
    lines.append("-" * 50)
    for ds, sc in results.get("per_dataset", {}).items():
        lines.append(f"{'dataset ' + ds:<24} {sc['n']:>4} {_fmt(sc['uf1'])} {_fmt(sc['uar'])} "
                     f"{_fmt(sc['acc'])}")
    lines.append(f"{'pooled':<24} {results['n']:>4} {_fmt(results['uf1'])} "
                 f"{_fmt(results['uar'])} {_fmt(results['acc'])}")
    return "\n".join(lines)


def format_comparison(named: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Side by side: run, model, protocol, task, select, UF1, UAR, ACC, n, folds."""
    head = (f"{'run':<28} {'model':<22} {'protocol':<9} {'task':<9} {'select':<20} "
            f"{'UF1':>6} {'UAR':>6} {'ACC':>6} {'n':>5} {'folds':>7}")
    lines = [head, "-" * len(head)]
    for name, r in named:
        folds = f"{r.get('folds_done', '?')}/{r.get('folds_total', '?')}"
        flag = " partial" if r.get("partial") else ""
        lines.append(f"{name[-28:]:<28} {str(r['model'])[:22]:<22} {r['protocol']:<9} "
                     f"{r['task']:<9} {r.get('select', 'last'):<20} {_fmt(r['uf1'])} "
                     f"{_fmt(r['uar'])} {_fmt(r['acc'])} {r['n']:>5} {folds:>7}{flag}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- pictures

def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2.5, 1.2 * len(classes) + 1.8))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curves(histories: Sequence[Mapping[str, list[float]]], names: Sequence[str],
                path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in ("loss", "accuracy", "val_loss", "val_uf1", "test_acc")
            if any(k in h for h in histories)]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    labels = {"loss": "training loss", "accuracy": "training accuracy",
              "val_loss": "inner-val loss", "val_uf1": "inner-val UF1",
              "test_acc": "TEST accuracy (oracle, optimistic)"}
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
