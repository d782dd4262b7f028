"""``mertrain predict``: class probabilities per clip from a trained model or a run."""

from __future__ import annotations

from pathlib import Path

import click

from merprep.clitools import example
from mertrain.commands.inference_options import (
    fold_option,
    model_argument,
    progress_option,
    split_ids,
    workers_option,
)


@click.command(epilog=example("mertrain predict runs/final mine.h5 -o predictions.csv"))
@model_argument
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The CSV to write (one row per clip).",
)
@fold_option
@click.option(
    "--clips",
    multiple=True,
    metavar="ID[,ID...]",
    help="Only these clip ids (repeat or comma-separate); default: every clip.",
)
@workers_option
@progress_option
def predict(
    model: Path,
    stores: tuple[Path, ...],
    out: Path,
    fold: str | None,
    clips: tuple[str, ...],
    workers: int,
    progress: bool | None,
) -> None:
    """Predict every clip of STORE(s) with MODEL: a model folder (`mertrain fit`, or a run's
    weights/NNN) or a run directory saved with --save-weights (the mean of its folds'
    probabilities, or one with --fold). Stores need no labels; each is refused if it was
    preprocessed differently from the model's training stores.
    """
    from mertrain.inference.model import limit_threads
    from mertrain.inference.predict import predict as run_predict

    limit_threads(workers)
    ids = split_ids(clips)
    result = run_predict(model, stores, out, fold=fold, clip_ids=ids, progress=progress)
    click.echo(f"{len(result.rows)} clip(s) predicted by {result.model.describe}")
    if result.seen:
        click.echo(
            f"note: {result.seen} clip(s) are of subjects the model trained on "
            "(seen_in_training > 0): their probabilities are optimistic"
        )
    click.echo(f"wrote {result.out}")
