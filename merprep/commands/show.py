"""``merprep show``: render one clip of a store as a PNG montage (library: merprep.show)."""

from __future__ import annotations

from pathlib import Path

import click

from merprep import stages
from merprep.clitools import example


@click.command(epilog=example("merprep show casme2.h5 --layer au --max-frames 6 -o clip.png"))
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--clip", "clip_id", help="Clip id (dataset/subject/clip); default: the first.")
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Picture to write: .png, .jpg, .pdf or .svg.",
)
@click.option(
    "--max-frames",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Draw at most this many of the clip's frames, evenly chosen.",
)
# --frames means frames per clip in extract (and mertrain); here it was the number drawn
@click.option(
    "--frames",
    "old_max_frames",
    type=click.IntRange(min=1),
    hidden=True,
    deprecated="use --max-frames",
    help="Old name of --max-frames.",
)
@click.option(
    "--scale",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Enlargement of each frame (nearest neighbour); default: tiles of at least 128 px "
    "(x2 for 64 px frames, x5 for 28 px flow maps).",
)
@click.option(
    "--layer",
    default=stages.FRAMES,
    show_default=True,
    type=click.Choice(list(stages.LAYERS)),
    help="What to draw: face frames with landmarks and AU boxes, the AU-region clips, "
    "the optical flow (u, v, strain, direction/magnitude), or magnified frames.",
)
@click.option("--list", "list_only", is_flag=True, help="Print the store's clip ids and exit.")
def show(store, clip_id, out, max_frames, old_max_frames, scale, layer, list_only):
    """Draw a clip's frames (with landmarks and AU boxes), AU crops or optical flow into one
    image."""
    from merprep.show import check_image_path, list_clips, render_montage, save_montage

    if list_only:
        for cid in list_clips(store):
            click.echo(cid)
        return
    if out is None:
        raise click.UsageError("--out FILE.png is required (or pass --list)")
    if old_max_frames is not None:
        max_frames = old_max_frames
    check_image_path(out)  # before drawing anything
    image = render_montage(store, clip_id, frames=max_frames, scale=scale, layer=layer)
    save_montage(image, out)
    click.echo(f"wrote {out} ({image.shape[1]}x{image.shape[0]})")
