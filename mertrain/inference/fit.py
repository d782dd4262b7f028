"""``mertrain fit``: one final model trained on every subject of the stores, for new data.

Same recipe and seed rules as a run (:func:`mertrain.prepare.prepare` with protocol ``all``:
one "fold" named ``all`` training on every clip; its seed derives from the run seed and that
name), recorded like a run: the output folder holds ``config.json`` (protocol ``all``, the
identity), ``splits.json``, ``folds/000.json`` (training history, subjects), ``curves.png``,
and is itself the model folder (``model.keras`` + ``preprocessing.json``). A final model has
no test clips, so it has no scores: evaluate the same configuration with ``mertrain run``
(``mertrain fit --config RUN/config.json`` trains the final model of that run's recipe).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from mertrain import rundir
from mertrain.config import RunConfig, RunError
from mertrain.folds import FoldOutcome
from mertrain.plots import plot_curves
from mertrain.prepare import prepare
from mertrain.protocols.splits import FINAL
from mertrain.trainer import FoldTrainer

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    out: Path
    outcome: FoldOutcome
    recipe: str


def final_config(config: RunConfig, out: Path | str) -> RunConfig:
    """``config`` as a final model: protocol ``all``, no protocol options or fold subset, the
    model saved into ``out``, trained in this process."""
    data = dataclasses.replace(
        config.data, protocol=FINAL, test_subjects=(), k=None, splits_file=None
    )
    execution = dataclasses.replace(
        config.execution,
        out=str(out),
        folds=None,
        resume=False,
        executor="local",
        ray_address=None,
        save_weights=True,
        tensorboard=False,
        seeds=1,
    )
    return config.replace(data=data, execution=execution)


def fit(
    config: RunConfig, *, progress: bool | None = None, command: str | None = None
) -> FitResult:
    """Train the final model of ``config`` (made final by :func:`final_config`) into
    ``config.execution.out``, which must be new or empty. Every check runs before the folder is
    created; a failed fit removes the folder it created."""
    config = final_config(config, config.execution.out)
    out = Path(config.execution.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError("already exists and is not empty; choose another --out", file=out)
    prepared = prepare(config, progress, final=True)
    created = not out.exists()
    try:
        rundir.init_run_dir(out, prepared.record(command), prepared.splits)
        job = prepared.job(0)
        log.info(
            "final model %s on %d clips of %d subjects",
            prepared.spec.name,
            len(job.train) + len(job.val),
            len(set(prepared.data.subjects)),
        )
        outcome = FoldTrainer(prepared.context()).train(prepared.data, job)
        if outcome.failure is not None:
            raise RunError(f"training failed: {outcome.failure}", file=out)
        rundir.save_fold(out, outcome)
        if outcome.history:
            plot_curves(
                [outcome.history],
                [outcome.name],
                out / "curves.png",
                title=f"{prepared.spec.name} final model",
            )
    except BaseException:
        if created and out.exists():
            shutil.rmtree(out)
        raise
    return FitResult(out, outcome, prepared.recipe_line())
