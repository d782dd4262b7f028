"""``mertrain export``: a trained model as a SavedModel (and TFLite) with a model card."""

from __future__ import annotations

from pathlib import Path

import click

from merprep.clitools import example
from mertrain.commands.inference_options import fold_option, model_argument, workers_option


@click.command(epilog=example("mertrain export runs/final -o exported/final"))
@model_argument
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New folder for saved_model/, model.tflite and model_card.json.",
)
@fold_option
@click.option(
    "--tflite/--no-tflite",
    default=True,
    show_default=True,
    help="Also convert to TFLite (built-in ops only; skipped, with the reason, when the "
    "model needs others).",
)
@workers_option
def export(model: Path, out: Path, fold: str | None, tflite: bool, workers: int) -> None:
    """Export MODEL (a model folder, or a run directory with --fold) as a TensorFlow SavedModel
    whose serving_default signature takes clips as stored (uint8) and returns probabilities:
    the preprocessing is inside, so plain TensorFlow runs it. Writes a JSON model card
    (classes, inputs, training data fingerprints, the run's results, protocol, honesty).
    """
    from mertrain.inference.export import export as run_export
    from mertrain.inference.model import limit_threads

    limit_threads(workers)
    card = run_export(model, out, fold=fold, tflite=tflite)
    lite = card["tflite"]
    click.echo(f"SavedModel: {out / 'saved_model'} (signature serving_default)")
    if lite is not None:
        click.echo(
            f"TFLite: {out / 'model.tflite'}" if lite["written"] else f"no TFLite: {lite['reason']}"
        )
    click.echo(f"model card: {out / 'model_card.json'}")
