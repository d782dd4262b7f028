"""``mertrain spot-train``: the learned spotter, trained and evaluated leave-one-subject-out
on a long-video store (library: mertrain.spotting.run)."""

from __future__ import annotations

from pathlib import Path

import click

from merprep.clitools import command_line, example, progress_option, workers_option
from merprep.parallel import worker_count
from merprep.spotting.timeline import timelines
from mertrain.spotting.config import INPUTS, THRESHOLD_SELECT, TYPING, LearnedSpotConfig

MODES = ("one-to-one", "greedy", "megc2020_baseline")
DEFAULT = LearnedSpotConfig()


@click.command(
    "spot-train",
    epilog=example("mertrain spot-train casme2_long.h5 samm_long.h5 -o spots/learned"),
)
@click.argument(
    "stores", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder: spots.json, curves.npz, folds/*.json, features-*.npz.",
)
@click.option(
    "--epochs",
    default=DEFAULT.epochs,
    show_default=True,
    type=click.IntRange(1, 10000),
    help="Training epochs of every fold (fixed: no epoch is chosen on any video).",
)
@click.option(
    "--seed",
    default=DEFAULT.seed,
    show_default=True,
    type=click.IntRange(0),
    help="Run seed; each fold's seed is derived from it and the held-out subject.",
)
@click.option(
    "--ensemble",
    default=DEFAULT.ensemble,
    show_default=True,
    type=click.IntRange(1, 20),
    help="Networks per fold (each its own seed); their scores are averaged.",
)
@click.option(
    "--threshold",
    default=DEFAULT.threshold,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    help="Detection threshold on the learned scores (0-1).",
)
@click.option(
    "--select-threshold",
    default=DEFAULT.threshold_select,
    show_default=True,
    type=click.Choice(THRESHOLD_SELECT),
    help="fixed: --threshold; train: the best on each fold's training subjects' videos.",
)
@click.option(
    "--typing",
    default=DEFAULT.typing,
    show_default=True,
    type=click.Choice(TYPING),
    help="Type of a spotted interval: the output that spotted it, or its length.",
)
@click.option(
    "--inputs",
    default=DEFAULT.inputs,
    show_default=True,
    type=click.Choice(INPUTS),
    help="The network reads each region's flow as its length or as x, y.",
)
@click.option(
    "--flow-size",
    default=DEFAULT.flow_size,
    show_default=True,
    type=click.IntRange(16, 256),
    help="Side (px) the face crop is resized to for optical flow.",
)
@click.option(
    "--mode",
    default="one-to-one",
    show_default=True,
    type=click.Choice(MODES),
    help="Matching rule of the evaluation (when the store has ground truth).",
)
@click.option(
    "--plots",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Timeline pictures of the first N videos (timeline/*.png).",
)
@workers_option
@progress_option
def spot_train(
    stores,
    out,
    epochs,
    seed,
    ensemble,
    threshold,
    select_threshold,
    typing,
    inputs,
    flow_size,
    mode,
    plots,
    workers,
    progress,
):
    """Train the learned spotter (region optical flow -> temporal network -> ME and MaE
    scores, SOFTNet-style pseudo-labels) leave-one-subject-out on the long-video STORE(s), and
    spot every video with the fold that held its subject out: spots.json as `merprep spot`
    writes it. Several stores: one leave-one-subject-out over all their subjects."""
    from mertrain.spotting.run import run_spot_train  # heavy: Keras

    config = LearnedSpotConfig(
        epochs=epochs,
        seed=seed,
        ensemble=ensemble,
        threshold=threshold,
        threshold_select=select_threshold,
        typing=typing,
        inputs=inputs,
        flow_size=flow_size,
    )
    result = run_spot_train(
        stores,
        out,
        config,
        workers=worker_count(workers),
        mode=mode,
        command=command_line("mertrain"),
        progress=progress,
    )
    if plots:
        for path in timelines(out, limit=plots):
            click.echo(f"wrote {path}")
    click.echo(result.summary())
