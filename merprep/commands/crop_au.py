"""``merprep crop-au``: add action-unit region clips to a store (library: merprep.regions)."""

from __future__ import annotations

from pathlib import Path

import click

from merprep.clitools import command_line, example, progress_option, workers_option

# The same as merprep.regions.DEFAULT_CODES / MODES / SIZE_RANGE / MARGIN_RANGE (a test keeps
# them equal); literal here so that listing commands does not import OpenCV.
DEFAULT_CODES = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 43)
MODES = ("rule", "union", "all")
SIZE_RANGE = (8, 1024)
MARGIN_RANGE = (0.0, 2.0)
FRAMES_FROM = ("store", "source")


def _parse_codes(ctx, param, value: str) -> tuple[int, ...]:
    """``1,2,4`` (or ``AU1,AU2``, as the annotation files write them)."""
    tokens = [c.strip() for c in value.replace(" ", ",").split(",") if c.strip()]
    try:
        codes = tuple(int(c[2:] if c[:2].lower() == "au" else c) for c in tokens)
    except ValueError:
        raise click.BadParameter(
            f"expected AU numbers separated by commas, got {value!r}"
        ) from None
    if not codes:
        raise click.BadParameter("list at least one AU number")
    return codes


@click.command(epilog=example("merprep crop-au casme2.h5 --size 64 --mode rule"))
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--codes",
    default=",".join(map(str, DEFAULT_CODES)),
    show_default=True,
    callback=_parse_codes,
    help="Annotated AU codes that count, comma-separated.",
)
@click.option(
    "--size",
    default=128,
    show_default=True,
    type=click.IntRange(*SIZE_RANGE),
    help="Side of the square AU crops written (px).",
)
@click.option(
    "--margin",
    default=0.0,
    show_default=True,
    type=click.FloatRange(*MARGIN_RANGE),
    help="Grow each box by this fraction of its width/height on every side (0 = reference).",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML/JSON rule table replacing the reference one (see docs/au-regions.md).",
)
@click.option(
    "--mode",
    default="rule",
    show_default=True,
    type=click.Choice(MODES),
    help="rule: first matching rule; union: box around every matching rule; "
    "all: one crop per region (eyebrows, eyes, nose, mouth, cheeks).",
)
@click.option(
    "--frames-from",
    default="store",
    show_default=True,
    type=click.Choice(FRAMES_FROM),
    help="store: crop the stored face frames with the onset landmarks; source: crop the "
    "dataset's own frames at source resolution with landmarks found on every kept frame (as "
    "the dual-branch reference does; needs the dataset, see --root).",
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="--frames-from source: where the dataset is now (default: the --root the store was "
    "extracted from, as recorded in it).",
)
@workers_option
@progress_option
def crop_au(store, codes, size, margin, rules_file, mode, frames_from, root, workers, progress):
    """Crop the action-unit region of every clip from its stored face frames (or, with
    --frames-from source, from the dataset's own frames)."""
    from merprep.regions import DEFAULT_RULES, CropConfig, load_rules, run_crop_au
    from merprep.regions_source import run_crop_au_source

    rules = load_rules(rules_file) if rules_file else DEFAULT_RULES
    config = CropConfig(
        codes=codes,
        size=size,
        margin=margin,
        mode=mode,
        rules=rules,
        rules_file=None if rules_file is None else str(rules_file.resolve()),
    )
    if frames_from == "store" and root is not None:
        raise click.UsageError("--root applies to --frames-from source only")
    if frames_from == "source":
        result = run_crop_au_source(
            store,
            config,
            root=root,
            workers=workers,
            command=command_line("merprep"),
            progress=progress,
        )
    else:
        result = run_crop_au(store, config, command=command_line("merprep"), progress=progress)
    click.echo(result.summary())
