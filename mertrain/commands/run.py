"""``mertrain run``."""

from __future__ import annotations

from pathlib import Path

import click

from mertrain.protocols.tasks import TASKS


@click.command()
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", default="dual3dcnn-gru-ecbam", show_default=True,
              help="Registered model name (see `mertrain models`).")
@click.option("--protocol", default="loso", show_default=True, help="Evaluation protocol.")
@click.option("--task", default="3class", show_default=True, type=click.Choice(list(TASKS)),
              help="Emotion -> class mapping.")
@click.option("--preset", default=None, help="The paper's settings for a dataset (casme2, samm, "
              "smic, casme3, deception).")
@click.option("--epochs", type=int, help="Override the model's epochs.")
@click.option("--batch-size", type=int, help="Override the model's batch size.")
@click.option("--lr", type=float, help="Override the model's learning rate.")
@click.option("--frames", type=int, help="Frames per clip the model sees (resampled from the store).")
@click.option("--size", type=int, help="Input size in pixels (resized from the store).")
@click.option("--input", "input_mode", default="onset-diff", show_default=True,
              type=click.Choice(["onset-diff", "raw"]), help="Input normalisation.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/<model>-<protocol>-<task>).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a tty).")
def run(stores, model, protocol, task, preset, epochs, batch_size, lr, frames, size, input_mode,
        seed, out, progress):
    """Train and evaluate MODEL on STORE(s) fold by fold; print UF1/UAR/ACC."""
    from mertrain.report import format_table
    from mertrain.train import RunConfig, run as run_training

    out = out or Path("runs") / f"{model}-{protocol}-{task}"
    try:
        config = RunConfig(stores=[str(s) for s in stores], out=str(out), model=model,
                           protocol=protocol, task=task, preset=preset, epochs=epochs,
                           batch_size=batch_size, lr=lr, frames=frames, size=size,
                           input=input_mode, seed=seed)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = run_training(config, progress=progress)
    click.echo(format_table(result.results))
    click.echo(f"run directory: {result.out}")
