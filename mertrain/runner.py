"""``mertrain run``: train and evaluate one model under one protocol, fold by fold.

Honest by construction:

- each fold's weights start from a seed derived from (run seed, fold name) only, so a fold gives
  the same result whether it runs first, after others, alone (``--folds``), resumed, or on a Ray
  worker; no state crosses folds (a reused compiled model is re-initialised from a fresh build
  with the fold seed and its optimizer reset, which is bit-identical to building it anew);
- normalisation statistics, class weights and logit priors come from the fold's training
  clips only (minus the inner-validation subjects with select inner-val); augmentation touches
  the training clips only, after that split, seeded by the fold seed;
- epoch selection is a fixed schedule by default (``last``); ``inner-val`` keeps the best epoch
  on whole training subjects held out; ``oracle`` (the published practice of keeping each held-out
  subject's best TEST epoch) exists only for comparison and is labelled "oracle (optimistic)";
- UF1/UAR are computed once on the predictions pooled over all folds.

Structure: :func:`mertrain.prepare.prepare` checks everything and reads the clips (no training
before every check has passed); an executor (:mod:`mertrain.executors`) runs the fold jobs
through a :class:`~mertrain.trainer.FoldTrainer`; each fold's outcome is persisted atomically
as it finishes (:mod:`mertrain.rundir`), and the run directory's outputs are derived from those
records (:mod:`mertrain.results`).

Failures: a damaged store is refused by ``prepare`` (every array is read and checksummed before
the run directory exists); a fold whose loss becomes NaN/inf fails alone (recorded in
``folds/NNN.failed.json`` and ``results.json`` ``failed_folds``; the other folds go on);
weights that cannot be written (disk full) stop the run with
:class:`~mertrain.weights.WeightsError`, leaving the finished fold records intact for resume.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mertrain import results as run_results
from mertrain import rundir
from mertrain.config import RunConfig, RunError
from mertrain.executors import Executor, get_executor
from mertrain.folds import FoldOutcome
from mertrain.metrics import scores
from mertrain.prepare import Prepared, prepare
from mertrain.protocols import parse_fold_selection

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    out: Path
    results: dict[str, Any]
    ran: list[int]  # fold indices trained by this call
    complete: bool
    #: fold name -> reason, for the folds of this call that failed (NaN loss, ...)
    failed: dict[str, str] = field(default_factory=dict)
    recipe: str = ""
    #: what looked wrong without failing (a fold predicting one class for every test clip)
    warnings: list[str] = field(default_factory=list)


def run(
    config: RunConfig,
    *,
    progress: bool | None = None,
    command: str | None = None,
    executor: Executor | None = None,
    on_start: Callable[[Prepared], None] | None = None,
) -> RunResult:
    """Train and evaluate the configured model on the selected folds; write the run directory.

    Finished folds are persisted one by one, so ``execution.resume`` after a crash (or a SLURM
    array of ``execution.folds`` subsets into one directory) trains only what is missing; the
    pooled outputs are rewritten from every fold record present. A fold that fails (NaN/inf
    loss) is recorded in ``folds/NNN.failed.json`` and in ``results.json`` ``failed_folds``; the
    other folds go on, the pooled scores cover the finished folds only and the run is incomplete
    (resuming retries failed folds). Writing weights that fails (disk full) stops the run with
    :class:`~mertrain.weights.WeightsError`; finished fold records stay intact. ``on_start`` is
    called once every check has passed, before any training (the CLI prints the recipe there).
    """
    if progress is not None:
        config = config.replace(execution=dataclasses.replace(config.execution, progress=progress))
    progress = config.execution.progress
    prepared = prepare(config, progress)
    if on_start is not None:
        on_start(prepared)
    execution = config.execution
    out = Path(execution.out)
    created = not out.exists()
    rundir.init_run_dir(out, prepared.record(command), prepared.splits)
    try:
        return _run_folds(prepared, out, progress, executor)
    except BaseException:
        # a run that fails (or is interrupted) before any fold is saved leaves nothing behind,
        # so the corrected command does not meet a half-made directory
        if created and not any((out / rundir.FOLDS).glob("*.json")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run_folds(
    prepared: Prepared, out: Path, progress: bool | None, executor: Executor | None
) -> RunResult:
    config = prepared.config
    execution = config.execution
    done = rundir.finished_folds(out)
    selected = parse_fold_selection(execution.folds, len(prepared.splits.folds))
    clash = [i for i in selected if i in done]
    if clash and not execution.resume:
        raise RunError(
            f"{out} already holds finished fold(s) {_ranges(clash)}; pass --resume to "
            "keep them, or choose another --out",
            file=out,
        )
    todo = [i for i in selected if i not in done]
    if clash:
        log.info("resuming: %d of %d selected folds already finished", len(clash), len(selected))
    jobs = [prepared.job(i) for i in todo]
    finished: dict[int, FoldOutcome] = dict(done)
    failed: dict[str, str] = {}
    warnings: list[str] = []
    n_classes = len(prepared.splits.classes)
    bar = tqdm(
        total=len(selected),
        initial=len(clash),
        unit="fold",
        dynamic_ncols=True,
        desc=f"{prepared.spec.name} {prepared.splits.protocol}",
        disable=None if progress is None else not progress,
    )

    def on_done(outcome: FoldOutcome) -> None:
        if outcome.failure is not None:
            rundir.save_failure(out, outcome)
            failed[outcome.name] = outcome.failure
            bar.update(1)
            return
        rundir.save_fold(out, outcome)
        rundir.clear_failure(out, outcome.index)
        finished[outcome.index] = outcome
        collapsed = single_class(outcome, prepared.splits.classes)
        if collapsed:
            log.warning("fold %d %s: %s", outcome.index, outcome.name, collapsed)
            warnings.append(f"fold {outcome.name}: {collapsed}")
        log.info(
            "fold %d %s: %d test clips, %.1f s",
            outcome.index,
            outcome.name,
            len(outcome.clip_ids),
            outcome.seconds,
        )
        pooled = scores(
            [t for f in finished.values() for t in f.y_true],
            [int(np.argmax(p)) for f in finished.values() for p in f.proba],
            n_classes,
        )
        bar.update(1)
        bar.set_postfix(uf1=f"{pooled['uf1']:.3f}")

    runner = executor or get_executor(
        execution.executor,
        address=execution.ray_address,
        pack=execution.pack,
        gpus_per_fold=execution.gpus_per_fold,
    )
    try:
        if jobs:
            runner.run(prepared.context(), prepared.data, jobs, on_done)
    finally:
        bar.close()
    with rundir.pooled_outputs_lock(out):  # shards of one directory: the last sees all folds
        results = run_results.write_outputs(out, rundir.load_run(out))
    return RunResult(
        out, results, todo, bool(results["complete"]), failed, prepared.recipe_line(), warnings
    )


def single_class(outcome: FoldOutcome, classes: Sequence[str]) -> str | None:
    """Why a fold looks collapsed: every test clip predicted as one class although the test
    clips hold several (a model that learnt the majority class, or nothing)."""
    predicted = set(outcome.y_pred)
    truth = set(outcome.y_true)
    if len(predicted) == 1 and len(truth) > 1:
        only = classes[next(iter(predicted))]
        return (
            f"every one of its {len(outcome.y_true)} test clips is predicted {only!r} "
            f"although they hold {len(truth)} classes: the model may have collapsed to one "
            "class (check the curves, the class weights, the learning rate)"
        )
    return None


def _ranges(indices: Sequence[int]) -> str:
    parts: list[str] = []
    start: int | None = None
    prev = -1
    for i in sorted(indices):
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = i
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(parts)
