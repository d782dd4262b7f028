"""``mertrain explain``: an occlusion heat map of one clip's prediction."""

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


@click.command(
    epilog=example("mertrain explain runs/final casme2.h5 casme2/sub01/EP02_01f -o heat.png")
)
@model_argument
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("clip_id")
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The PNG to write.",
)
@fold_option
@click.option(
    "--class",
    "target",
    default=None,
    help="The class to explain (default: the predicted one).",
)
@click.option(
    "--patch",
    type=click.IntRange(min=1),
    default=None,
    help="Side of the occluding square in input pixels (default: input size / 8).",
)
@click.option(
    "--stride",
    type=click.IntRange(min=1),
    default=None,
    help="Step between patches in input pixels (default: patch / 2).",
)
@click.option(
    "--max-frames",
    "frames",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Draw at most this many of the input's frames under the map, evenly chosen.",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Tile enlargement (default: tiles of about 160 px).",
)
@workers_option
@progress_option
def explain(
    model: Path,
    store: Path,
    clip_id: str,
    out: Path,
    fold: str | None,
    target: str | None,
    patch: int | None,
    stride: int | None,
    frames: int,
    scale: float | None,
    workers: int,
    progress: bool | None,
) -> None:
    """Draw which facial region drove MODEL's decision on CLIP_ID of STORE: the drop of the
    class's probability when the motion under a sliding patch is removed (occlusion), over the
    frames the model reads, as a PNG montage like `merprep show`'s.
    """
    from mertrain.inference.explain import explain as run_explain
    from mertrain.inference.model import limit_threads, load_trained

    limit_threads(workers)
    trained = load_trained(model, fold)
    shown = run_explain(
        trained,
        store,
        clip_id,
        out,
        target=target,
        patch=patch,
        stride=stride,
        frames=frames,
        scale=scale,
        progress=progress,
    )
    click.echo(
        f"explained class {shown['explained_class']!r} (p {shown['probability']:.3f}; "
        f"predicted {shown['predicted_class']!r}) by {trained.describe}"
    )
    click.echo(f"wrote {shown['out']}")
