"""``mertrain run`` and ``mertrain rerun``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from merprep.clitools import command_line
from mertrain.commands.run_options import FLAG_OPTIONS, run_options
from mertrain.config import RunConfig, RunError
from mertrain.prepare import Prepared
from mertrain.protocols import Splits
from mertrain.rundir import load_record


def _given(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The flat run options of the flags typed on the command line (not their defaults)."""
    out = {}
    for param, (option, convert) in FLAG_OPTIONS.items():
        if ctx.get_parameter_source(param) in (ParameterSource.DEFAULT, None):
            continue
        value = values[param]
        out[option] = convert(value) if convert is not None else value
    return out


def _all(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for param, (option, convert) in FLAG_OPTIONS.items():
        value = values[param]
        out[option] = convert(value) if convert is not None else value
    return out


def build_config(
    ctx: click.Context, stores: tuple[Path, ...], config_file: Path | None, values: dict[str, Any]
) -> RunConfig:
    """The run configuration: a recorded one (``--config``) with the typed flags over it, or
    the flags alone (protocol and task default to a ``--splits`` file's)."""
    if config_file is not None:
        base = load_record(config_file).config
        given = _given(ctx, values)
        if stores:
            given["stores"] = [str(s) for s in stores]
        return base.with_options(**given) if given else base
    if not stores:
        raise click.UsageError("give the clip STORE(s) to train on (or --config RUN/config.json)")
    flat = _all(values)
    if flat["splits_file"] is not None:
        saved = Splits.load(flat["splits_file"])
        flat["protocol"] = flat["protocol"] or saved.protocol
        flat["task"] = flat["task"] or saved.task
    flat["protocol"] = flat["protocol"] or "loso"
    flat["task"] = flat["task"] or "3class"
    if values["out"] is None:
        flat["out"] = str(Path("runs") / f"{flat['model']}-{flat['protocol']}-{flat['task']}")
    flat["stores"] = [str(s) for s in stores]
    return RunConfig.from_options(**flat)


def train_and_report(config: RunConfig, progress: bool | None) -> None:
    if config.execution.seeds > 1:  # one ordinary run per seed, then the summary
        from mertrain.seeds import format_seeds, seed_configs, write_summary  # heavy: Keras

        a_fold_failed = False
        for one in seed_configs(config):
            try:
                train_and_report(one, progress)
            except SystemExit as exc:  # a failed fold: the other seeds still run
                a_fold_failed = a_fold_failed or exc.code == 1
                if exc.code != 1:
                    raise
        click.echo(format_seeds(write_summary(config, command_line("mertrain"))))
        if a_fold_failed:
            raise SystemExit(1)
        return
    from mertrain.report import format_table
    from mertrain.runner import run as run_training  # heavy: Keras, matplotlib

    def started(prepared: Prepared) -> None:
        # before any training: what will run, in one line (flush: it precedes the bars)
        click.echo(prepared.recipe_line())
        click.echo(prepared.plan_line())
        sys.stdout.flush()

    result = run_training(
        config, progress=progress, command=command_line("mertrain"), on_start=started
    )
    click.echo(format_table(result.results))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not result.complete:
        r = result.results
        click.echo(
            f"{r['folds_done']}/{r['folds_total']} folds finished in {result.out}; run the "
            "rest (--folds/--resume) or merge shards with `mertrain report --merge`"
        )
    click.echo(f"run directory: {result.out}")
    failed = result.results.get("failed_folds") or {}
    if failed:
        for name, why in failed.items():
            click.echo(f"error: fold {name} failed: {why}", err=True)
        click.echo(
            f"error: {len(failed)} fold(s) failed; the pooled scores cover the "
            f"{result.results['folds_done']} finished fold(s) only",
            err=True,
        )
        raise SystemExit(1)


@click.command()
@click.argument("stores", nargs=-1, type=click.Path(path_type=Path))
@run_options
@click.pass_context
def run(
    ctx: click.Context,
    stores: tuple[Path, ...],
    config_file: Path | None,
    progress: bool | None,
    **values: Any,
) -> None:
    """Train and evaluate MODEL on STORE(s) fold by fold; print UF1/UAR/ACC.

    Exits 1 when a fold failed (e.g. its loss became NaN; the other folds are still trained and
    scored), 2 on bad input (nothing trained).

    Example: mertrain run casme2.h5 --model dual3dcnn-gru-ecbam --protocol loso -o runs/a
    """
    try:
        config = build_config(ctx, stores, config_file, values)
    except RunError as exc:
        raise click.UsageError(str(exc)) from None
    train_and_report(config, progress)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("stores", nargs=-1, type=click.Path(path_type=Path))
@run_options
@click.pass_context
def rerun(
    ctx: click.Context,
    run_dir: Path,
    stores: tuple[Path, ...],
    config_file: Path | None,
    progress: bool | None,
    **values: Any,
) -> None:
    """Repeat the run recorded in RUN_DIR exactly (``mertrain run --config
    RUN_DIR/config.json``); flags typed here override the record, STOREs replace its stores.

    Example: mertrain rerun runs/a -o runs/a-again
    """
    if config_file is not None:
        raise click.UsageError("rerun reads RUN_DIR/config.json; --config is for mertrain run")
    try:
        config = build_config(ctx, stores, run_dir / "config.json", values)
    except RunError as exc:
        raise click.UsageError(str(exc)) from None
    train_and_report(config, progress)
