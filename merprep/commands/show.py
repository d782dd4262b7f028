"""``merprep show``: render one clip of a store as a PNG montage (library: merprep.show)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--clip", "clip_id", help="Clip id (dataset/subject/clip); default: the first.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Image to write (.png).")
@click.option("--frames", default=10, show_default=True, type=click.IntRange(min=1),
              help="At most this many frames, evenly chosen.")
@click.option("--scale", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Enlargement of each frame (nearest neighbour).")
@click.option("--layer", default="frames", show_default=True,
              type=click.Choice(["frames", "magnified", "au", "flow"]),
              help="What to draw: face frames with landmarks and AU boxes, magnified frames, the "
              "AU-region clips, or the optical flow (u, v, strain, direction/magnitude).")
@click.option("--list", "list_only", is_flag=True, help="Print the store's clip ids and exit.")
def show(store, clip_id, out, frames, scale, layer, list_only):
    """Draw a clip's frames (with landmarks and AU boxes), AU crops or optical flow into one
    image."""
    from merprep.show import list_clips, render_montage, save_montage

    if list_only:
        for cid in list_clips(store):
            click.echo(cid)
        return
    if out is None:
        raise click.UsageError("--out FILE.png is required (or pass --list)")
    image = render_montage(store, clip_id, frames=frames, scale=scale, layer=layer)
    save_montage(image, out)
    click.echo(f"wrote {out} ({image.shape[1]}x{image.shape[0]})")
