"""The ``local`` executor: folds one after another in this process, sharing one
:class:`~mertrain.trainer.FoldTrainer` (the compiled model is reused across folds,
re-initialised from each fold's seed)."""

from __future__ import annotations

from collections.abc import Sequence

from mertrain.data import ClipArrays
from mertrain.executors import OnDone
from mertrain.folds import FoldContext, FoldJob
from mertrain.trainer import FoldTrainer


class LocalExecutor:
    def run(
        self, ctx: FoldContext, data: ClipArrays, jobs: Sequence[FoldJob], on_done: OnDone
    ) -> None:
        trainer = FoldTrainer(ctx, run_folds=len(jobs))
        for job in jobs:
            on_done(trainer.train(data, job))
