"""``mertrain fit``: one final model on every subject of the stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from merprep.clitools import command_line, example
from mertrain.commands.run import build_config
from mertrain.commands.run_options import run_options
from mertrain.config import RunError

#: ``mertrain run`` options that choose folds or where/how they run: a final model has one
#: "fold" (every clip) trained here, saved into --out
NOT_FOR_FIT = {
    "protocol": None,
    "test_subjects": (),
    "k": None,
    "splits_file": None,
    "folds": None,
    "resume": False,
    "executor": "local",
    "ray_address": None,
    "save_weights": True,
    "tensorboard": False,
    "seeds": 1,
    "out": None,
}


def fit_options(f: Any) -> Any:
    """``mertrain run``'s model, data and recipe options, without those of :data:`NOT_FOR_FIT`."""
    f = run_options(f)
    f.__click_params__ = [p for p in f.__click_params__ if p.name not in NOT_FOR_FIT]
    return f


@click.command(
    epilog=example("mertrain fit casme2.h5 --model stcnn-3dcnn --epochs 25 -o models/final")
)
@click.argument("stores", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "model_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The model folder to create (new or empty).",
)
@fit_options
@click.pass_context
def fit(
    ctx: click.Context,
    stores: tuple[Path, ...],
    model_dir: Path,
    config_file: Path | None,
    progress: bool | None,
    **values: Any,
) -> None:
    """Train one final model on every subject of STORE(s), with the recipe and seed rules of
    `mertrain run` (protocol all), for `mertrain predict` on new data. --config RUN/config.json
    trains the final model of a recorded run's configuration. A final model has no test clips:
    its recipe is scored by `mertrain run`.
    """
    values = {**NOT_FOR_FIT, **values, "out": model_dir}
    try:
        config = build_config(ctx, stores, config_file, values).with_options(out=str(model_dir))
    except RunError as exc:
        raise click.UsageError(str(exc)) from None
    from mertrain.inference.fit import fit as run_fit  # heavy: Keras

    result = run_fit(config, progress=progress, command=command_line("mertrain"))
    click.echo(result.recipe)
    n = len(result.outcome.train_subjects)
    click.echo(f"final model trained on {n} subject(s); model folder: {result.out}")
