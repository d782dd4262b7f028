"""``merprep flow`` and ``merprep magnify`` (libraries: merprep.flow, merprep.magnify)."""

from __future__ import annotations

from pathlib import Path

import click

from merprep.clitools import command_line, example, progress_option, workers_option

# The same tuples and bounds as merprep.flow / merprep.magnify (a test keeps them equal);
# literal here so that listing commands does not import OpenCV.
METHODS = ("tvl1", "farneback")
TVL1_PRESETS = ("opencv", "ipol")
PAIRS = ("onset-apex", "sequence")
APEX_CHOICES = ("annotated", "spot", "middle")
NORMALISATIONS = ("none", "clip")
FILTERS = ("ideal", "butterworth")
SIZE_RANGE = (4, 1024)
LEVELS_RANGE = (1, 8)


@click.command(epilog=example("merprep flow casme2.h5 --method farneback --size 28"))
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--method",
    default="tvl1",
    show_default=True,
    type=click.Choice(METHODS),
    help="TV-L1 (accurate) or Farneback (fast).",
)
@click.option(
    "--tvl1",
    default="opencv",
    show_default=True,
    type=click.Choice(TVL1_PRESETS),
    help="TV-L1 parameters: OpenCV's defaults, or the IPOL program's (zoom 0.5, 300 "
    "iterations, no median filter, pre-smoothing 0.8), as STSTNet's flow; docs/flow.md.",
)
@click.option(
    "--pair",
    default="onset-apex",
    show_default=True,
    type=click.Choice(PAIRS),
    help="onset-apex only, or also onset to every stored frame (flow/sequence).",
)
@click.option(
    "--size",
    default=28,
    show_default=True,
    type=click.IntRange(*SIZE_RANGE),
    help="Side of the square flow maps written (px).",
)
@click.option(
    "--apex",
    default="annotated",
    show_default=True,
    type=click.Choice(APEX_CHOICES),
    help="Annotated apex (spotted where missing), spotted, or the middle frame.",
)
@click.option(
    "--normalize",
    default="none",
    show_default=True,
    type=click.Choice(NORMALISATIONS),
    help="none: displacements in output pixels; clip: divide by the clip's maximum.",
)
@workers_option
@progress_option
def flow(store, method, tvl1, pair, size, apex, normalize, workers, progress):
    """Optical flow (u, v) and optical strain from onset to apex for every clip."""
    from merprep.flow import FlowConfig, run_flow

    if tvl1 != "opencv" and method != "tvl1":
        raise click.UsageError("--tvl1 applies to --method tvl1 only")
    config = FlowConfig(
        method=method,
        tvl1=tvl1,
        pair=pair,
        size=size,
        apex=apex,
        normalize=normalize,
        workers=workers,
    )
    result = run_flow(store, config, command=command_line("merprep"), progress=progress)
    click.echo(result.summary())


def _check_band(
    ctx: click.Context, param: click.Parameter, value: tuple[float, float]
) -> tuple[float, float]:
    low, high = value
    if not 0 <= low < high:
        raise click.BadParameter(f"needs 0 <= LOW < HIGH (Hz), got {low:g} {high:g}")
    return value


@click.command(epilog=example("merprep magnify casme2.h5 --alpha 8 --band 5 40"))
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--alpha",
    required=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Amplification factor.",
)
@click.option(
    "--band",
    required=True,
    nargs=2,
    type=click.FloatRange(min=0),
    metavar="LOW HIGH",
    callback=_check_band,
    help="Temporal pass band in Hz (0 <= LOW < HIGH).",
)
@click.option(
    "--levels",
    default=4,
    show_default=True,
    type=click.IntRange(*LEVELS_RANGE),
    help="Laplacian pyramid levels.",
)
@click.option(
    "--filter",
    "filter_",
    default="ideal",
    show_default=True,
    type=click.Choice(FILTERS),
    help="Temporal filter.",
)
@progress_option
def magnify(store, alpha, band, levels, filter_, progress):
    """Eulerian motion magnification of every clip (optional; writes magnified/frames)."""
    from merprep.magnify import MagnifyConfig, run_magnify

    config = MagnifyConfig(alpha=alpha, low=band[0], high=band[1], levels=levels, filter=filter_)
    result = run_magnify(store, config, command=command_line("merprep"), progress=progress)
    click.echo(result.summary())
