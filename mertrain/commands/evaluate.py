"""``mertrain evaluate``: a trained model scored on other stores (cross-dataset)."""

from __future__ import annotations

from pathlib import Path

import click

from merprep.clitools import example
from mertrain.commands.inference_options import (
    fold_option,
    model_argument,
    progress_option,
    workers_option,
)


@click.command(epilog=example("mertrain evaluate runs/casme2 samm.h5 -o runs/casme2-on-samm"))
@model_argument
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for results.json, predictions.csv, per_subject.csv, confusion.png.",
)
@fold_option
@workers_option
@progress_option
def evaluate(
    model: Path,
    stores: tuple[Path, ...],
    out: Path,
    fold: str | None,
    workers: int,
    progress: bool | None,
) -> None:
    """Score MODEL (a run directory: the mean of its saved folds, or --fold; a model folder)
    on STORE(s) of other data, e.g. trained on CASME II, tested on SAMM; emotions are mapped
    to classes through the model's task, and clips of subjects the model trained on are
    refused. Writes the files of a run directory and prints the table.
    """
    from mertrain.inference.evaluate import evaluate as run_evaluate
    from mertrain.inference.model import limit_threads
    from mertrain.report import format_table

    limit_threads(workers)
    results = run_evaluate(model, stores, out, fold=fold, progress=progress)
    click.echo(f"model: {results['evaluation']['model']}")
    click.echo(format_table(results))
    left = results["evaluation"]["left_out"]
    if left:
        click.echo(
            "left out (no class in task "
            f"{results['task']}): " + ", ".join(f"{k} {v}" for k, v in left.items())
        )
    click.echo(f"evaluation written to {out}")
