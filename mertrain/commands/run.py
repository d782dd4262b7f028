"""``mertrain run``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mertrain.protocols.splits import PROTOCOLS
from mertrain.protocols.tasks import TASKS
from mertrain.report import SELECT_LABELS


def _split_list(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _model_options(items: tuple[str, ...]) -> dict:
    """``--set gru_units=64 --set embed_units=[64,32]``: values parsed as JSON, else text."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


@click.command()
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", default="dual3dcnn-gru-ecbam", show_default=True,
              help="Registered model name (see `mertrain models`).")
@click.option("--protocol", type=click.Choice(list(PROTOCOLS)), default=None,
              help="Evaluation protocol (default loso, or the --splits file's).")
@click.option("--task", type=click.Choice(list(TASKS)), default=None,
              help="Emotion -> class mapping (default 3class, or the --splits file's).")
@click.option("--test-subjects", multiple=True, help="holdout: test subjects (repeat or "
              "comma-separate; casme2/sub01 or sub01).")
@click.option("--k", type=int, default=None, help="kfold: number of subject-grouped folds.")
@click.option("--splits", "splits_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Reuse a saved split (splits.json / `mertrain splits --json`).")
@click.option("--preset", default=None, help="The paper's settings for a dataset (casme2, samm, "
              "smic, casme3, deception).")
@click.option("--epochs", type=int, help="Override the model's epochs.")
@click.option("--batch-size", type=int, help="Override the model's batch size.")
@click.option("--lr", type=float, help="Override the model's learning rate.")
@click.option("--frames", type=int,
              help="Frames per clip the model sees (resampled from the store).")
@click.option("--size", type=int, help="Input size in pixels (resized from the store).")
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE",
              help="Any other model configuration field (value as JSON), e.g. --set gru_units=64.")
@click.option("--input", "input_mode", default="onset-diff", show_default=True,
              type=click.Choice(["onset-diff", "raw"]), help="Input normalisation.")
@click.option("--balance", is_flag=True, help="Class weights n/(K n_c) from each fold's "
              "training clips.")
@click.option("--select", default="last", show_default=True, type=click.Choice(list(SELECT_LABELS)),
              help="Epoch selection: last (fixed schedule), inner-val (best epoch on training "
              "subjects held out), oracle (best TEST epoch per fold: optimistic, for comparison).")
@click.option("--val-fraction", default=0.2, show_default=True, type=float,
              help="inner-val: share of each fold's training subjects held out.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--deterministic/--no-deterministic", default=True, show_default=True,
              help="TensorFlow deterministic kernels.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/<model>-<protocol>-<task>).")
@click.option("--folds", default=None, help="Run only these folds, e.g. 0-9,12 (a SLURM array "
              "can run one fold per task into the same --out).")
@click.option("--resume", is_flag=True, help="Keep the folds already finished in --out.")
@click.option("--executor", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="local: folds in this process; ray: one Ray task per fold.")
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local "
              "instance).")
@click.option("--tensorboard", is_flag=True, help="TensorBoard logs under RUN_DIR/tensorboard/.")
@click.option("--save-weights", is_flag=True, help="Each fold's final weights under "
              "RUN_DIR/weights/.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a tty).")
def run(stores, model, protocol, task, test_subjects, k, splits_file, preset, epochs, batch_size,
        lr, frames, size, options, input_mode, balance, select, val_fraction, seed, deterministic,
        out, folds, resume, executor, ray_address, tensorboard, save_weights, progress):
    """Train and evaluate MODEL on STORE(s) fold by fold; print UF1/UAR/ACC."""
    from merprep.clitools import command_line
    from mertrain.protocols import Splits
    from mertrain.report import format_table
    from mertrain.train import RunConfig, run as run_training

    if splits_file is not None:
        saved = Splits.load(splits_file)
        protocol = protocol or saved.protocol
        task = task or saved.task
    protocol = protocol or "loso"
    task = task or "3class"
    out = out or Path("runs") / f"{model}-{protocol}-{task}"
    try:
        config = RunConfig(
            stores=[str(s) for s in stores], out=str(out), model=model, protocol=protocol,
            task=task, test_subjects=_split_list(test_subjects), k=k,
            splits_file=str(splits_file) if splits_file else None, preset=preset, epochs=epochs,
            batch_size=batch_size, lr=lr, frames=frames, size=size, input=input_mode,
            balance=balance, select=select, val_fraction=val_fraction, seed=seed,
            deterministic=deterministic, model_options=_model_options(options), folds=folds,
            resume=resume, executor=executor, ray_address=ray_address, tensorboard=tensorboard,
            save_weights=save_weights)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = run_training(config, progress=progress, command=command_line("mertrain"))
    click.echo(format_table(result.results))
    if not result.complete:
        r = result.results
        click.echo(f"{r['folds_done']}/{r['folds_total']} folds finished in {result.out}; run the "
                   "rest (--folds/--resume) or merge shards with `mertrain report --merge`")
    click.echo(f"run directory: {result.out}")
