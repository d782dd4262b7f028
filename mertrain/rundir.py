"""Run directories on disk: creating one, persisting fold records, reading runs back, merging
shards of one run.

A run directory holds::

    config.json        the run configuration, what it resolved to, stores, versions, identity
    splits.json        the split (byte-identical to ``mertrain splits --json``)
    folds/NNN.json     one record per finished fold (written atomically as the fold finishes)
    folds/NNN.failed.json  a fold that failed (NaN loss, ...): why, and its training history
    predictions.csv    results.json    per_subject.csv    confusion.png    curves.png
    [weights/]  [tensorboard/]

Everything after ``folds/`` is derived from the fold records (:mod:`mertrain.results`), so
``mertrain report`` can rebuild it, and shards (``--folds`` subsets run into different
directories) merge by pooling their records, provided they share the split (sha256) and the
run's identity. Every file is written atomically and durably (:func:`merprep.fsio.atomic_write`);
records are checked against the run directory's JSON Schema when read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from merprep.errors import MerprepError
from merprep.fsio import atomic_write
from merprep.locks import LockUnsupported, file_lock
from mertrain.folds import FoldOutcome, fold_file_stem
from mertrain.protocols import Splits
from mertrain.rundir_schema import record_errors
from mertrain.runrecord import RunRecord

log = logging.getLogger(__name__)

CONFIG = "config.json"
SPLITS = "splits.json"
FOLDS = "folds"
RESULTS = "results.json"
PREDICTIONS = "predictions.csv"
PER_SUBJECT = "per_subject.csv"
POOLED_LOCK = ".pooled.lock"


class RunDirError(MerprepError):
    """A run directory that is missing, damaged, or does not match another one."""


# --------------------------------------------------------------------------- files


def write_text(path: Path | str, text: str) -> None:
    """Atomic, durable; a failure (disk full, read-only) names the file."""
    try:
        atomic_write(path, text, durable=True)
    except OSError as exc:
        raise RunDirError(f"cannot write ({exc.strerror or exc})", file=path) from None


def read_json(path: Path | str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError("missing", file=path) from None
    except (OSError, ValueError) as exc:
        raise RunDirError(f"unreadable ({exc.__class__.__name__}: {exc})", file=path) from None


def _checked(path: Path, kind: str) -> Any:
    data = read_json(path)
    errors = record_errors(kind, data)
    if errors:
        raise RunDirError(f"not a valid {kind} record: {'; '.join(errors[:3])}", file=path)
    return data


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
    with ExitStack() as stack:
        try:
            stack.enter_context(file_lock(path, wait=True))
        except LockUnsupported as exc:
            log.warning(
                "cannot lock %s (%s): shards finishing together may each miss the "
                "other's folds; run `mertrain report %s --out %s` at the end",
                path,
                exc.strerror,
                out,
                out,
            )
        yield


# --------------------------------------------------------------------------- one run directory


def init_run_dir(out: Path, record: RunRecord, splits: Splits) -> None:
    """Create the run directory, or check that an existing one holds the same run (same
    identity and split); another run's directory is refused, not overwritten."""
    out = Path(out)
    cfg_path, splits_path = out / CONFIG, out / SPLITS
    if cfg_path.exists():
        old = load_record(cfg_path)
        if old.identity_sha256 != record.identity_sha256:
            diff = identity_diff(old.identity, record.identity)
            raise RunDirError(f"holds a different run ({diff}); choose another --out", file=out)
    if splits_path.exists():
        old_splits = Splits.load(splits_path)
        if old_splits.sha256 != splits.sha256:
            raise RunDirError(
                f"holds a run on a different split (sha256 "
                f"{old_splits.sha256[:12]} vs {splits.sha256[:12]}); choose "
                "another --out",
                file=out,
            )
    out.mkdir(parents=True, exist_ok=True)
    if not cfg_path.exists():
        write_text(cfg_path, json.dumps(record.to_json(), indent=2) + "\n")
    if not splits_path.exists():
        write_text(splits_path, splits.to_json() + "\n")


def load_record(path: Path) -> RunRecord:
    data = read_json(path)
    errors = record_errors("config", data)
    if errors:
        raise RunDirError(f"not a run configuration: {'; '.join(errors[:3])}", file=path)
    try:
        return RunRecord.from_json(data)
    except (MerprepError, KeyError, TypeError, ValueError) as exc:
        raise RunDirError(f"unreadable run configuration ({exc})", file=path) from None


def fold_path(out: Path, index: int) -> Path:
    return Path(out) / FOLDS / f"{fold_file_stem(index)}.json"


def failure_path(out: Path, index: int) -> Path:
    return Path(out) / FOLDS / f"{fold_file_stem(index)}.failed.json"


def save_fold(out: Path, outcome: FoldOutcome) -> Path:
    """Persist one finished fold atomically (a run killed at any moment leaves whole records)."""
    path = fold_path(out, outcome.index)
    write_text(path, json.dumps(outcome.to_record(), separators=(",", ":")) + "\n")
    return path


def save_failure(out: Path, outcome: FoldOutcome) -> Path:
    """Persist a failed fold (its ``failure`` reason and history) apart from the finished
    folds: it is not a result, and ``--resume`` trains it again."""
    path = failure_path(out, outcome.index)
    write_text(path, json.dumps(outcome.to_record(), separators=(",", ":")) + "\n")
    return path


def clear_failure(out: Path, index: int) -> None:
    """Forget an earlier failure of a fold that has now finished."""
    failure_path(out, index).unlink(missing_ok=True)


def _matches(splits: Splits, outcome: FoldOutcome, *, check_clips: bool) -> bool:
    i = outcome.index
    if i >= len(splits.folds) or splits.folds[i].name != outcome.name:
        return False
    return not check_clips or list(splits.folds[i].test) == list(outcome.clip_ids)


def finished_folds(out: Path, splits: Splits | None = None) -> dict[int, FoldOutcome]:
    """index -> outcome for every fold persisted in ``out`` (checked against its split)."""
    out = Path(out)
    splits = splits or Splits.load(out / SPLITS)
    records: dict[int, FoldOutcome] = {}
    for path in sorted((out / FOLDS).glob("[0-9][0-9][0-9].json")):
        outcome = FoldOutcome.from_record(_checked(path, "fold"))
        if not _matches(splits, outcome, check_clips=True):
            raise RunDirError("fold record does not match the run's splits.json", file=path)
        records[outcome.index] = outcome
    return records


def failed_folds(out: Path, splits: Splits | None = None) -> dict[int, FoldOutcome]:
    """index -> failed outcome for every failed fold in ``out`` that has not finished since."""
    out = Path(out)
    splits = splits or Splits.load(out / SPLITS)
    records: dict[int, FoldOutcome] = {}
    for path in sorted((out / FOLDS).glob("[0-9][0-9][0-9].failed.json")):
        outcome = FoldOutcome.from_record(_checked(path, "fold"))
        if not _matches(splits, outcome, check_clips=False):
            raise RunDirError("failed-fold record does not match the run's splits.json", file=path)
        if not fold_path(out, outcome.index).exists():
            records[outcome.index] = outcome
    return records


# --------------------------------------------------------------------------- runs read back


@dataclass
class LoadedRun:
    """A run directory (or several merged shards) as the report sees it."""

    paths: list[Path]
    record: RunRecord
    splits: Splits
    folds: dict[int, FoldOutcome] = field(default_factory=dict)
    #: folds that failed (NaN loss, ...) and have not finished since
    failures: dict[int, FoldOutcome] = field(default_factory=dict)

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
    record = load_record(path / CONFIG)
    if not (path / SPLITS).exists():
        raise RunDirError("not a run directory (no splits.json)", file=path)
    splits = Splits.load(path / SPLITS)
    return LoadedRun(
        [path], record, splits, finished_folds(path, splits), failed_folds(path, splits)
    )


def identity_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """A short 'field: x vs y' list of where two run identities differ."""
    diffs: list[str] = []

    def walk(x: Any, y: Any, where: str) -> None:
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{where}.{k}" if where else str(k))
        elif x != y:
            diffs.append(f"{where}: {x!r} vs {y!r}")

    walk(a, b, "")
    return "; ".join(diffs[:6]) + (" ..." if len(diffs) > 6 else "") if diffs else "no difference"


def merge_runs(runs: Sequence[LoadedRun]) -> LoadedRun:
    """Pool shard directories of ONE run: same split sha256 and same identity required; a fold
    present in several shards must carry identical predictions."""
    if not runs:
        raise RunDirError("nothing to merge")
    first = runs[0]
    merged = LoadedRun(
        list(first.paths), first.record, first.splits, dict(first.folds), dict(first.failures)
    )
    for other in runs[1:]:
        if other.splits.sha256 != first.splits.sha256:
            raise RunDirError(
                f"cannot merge {first.name} and {other.name}: they use different "
                f"splits (sha256 {first.splits.sha256[:12]} vs "
                f"{other.splits.sha256[:12]})"
            )
        if other.record.identity_sha256 != first.record.identity_sha256:
            diff = identity_diff(first.record.identity, other.record.identity)
            raise RunDirError(
                f"cannot merge {first.name} and {other.name}: different configuration ({diff})"
            )
        for i, outcome in other.folds.items():
            have = merged.folds.get(i)
            if have is not None and not have.same_predictions(outcome):
                raise RunDirError(
                    f"cannot merge: fold {i} ({outcome.name}) is in two shards "
                    "with different predictions"
                )
            merged.folds[i] = outcome
        for i, outcome in other.failures.items():
            merged.failures.setdefault(i, outcome)
        merged.paths += other.paths
    merged.failures = {i: r for i, r in merged.failures.items() if i not in merged.folds}
    return merged
