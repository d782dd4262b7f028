"""``merprep extract``."""

from __future__ import annotations

from pathlib import Path

import click

from merprep.clitools import command_line, example, progress_option, workers_option
from merprep.datasets import available_datasets
from merprep.faces import available_backends
from merprep.faces.align import ALIGNERS
from merprep.frames.sampling import SAMPLING_MODES

# The same bounds as merprep.extract.config (a test keeps them equal); literal here so that
# listing commands does not import OpenCV.
SIZE_RANGE = (16, 1024)
MARGIN_RANGE = (0.0, 1.0)
FRAME_COMPRESSIONS = ("fast", "small", "none")

#: adapter options: CLI name -> (option key, the one dataset family that takes it)
DATASET_OPTIONS = {
    "--modality": ("modality", "smic"),
    "--part": ("part", "casme3"),
    "--subjects-map": ("subjects_map", "deception"),
}


def _corrections_option(ctx: click.Context, param: click.Parameter, value: str | None):
    """'known' (the shipped errata) or an existing corrections file."""
    if value is None or value == "known":
        return value
    path = Path(value)
    if not path.is_file():
        raise click.BadParameter(f"no such file: {value!r} (or give 'known')")
    return path


@click.command(epilog=example("merprep extract --dataset casme2 --root CASME2 -o c2.h5 --size 64"))
@click.option(
    "--dataset",
    required=True,
    type=click.Choice(available_datasets()),
    help="Which dataset layout --root holds.",
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The dataset's top folder as unpacked, or its frames folder.",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The clip store to write (.h5).",
)
@click.option(
    "--annotations",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this annotation file instead of the one found under --root.",
)
@click.option(
    "--corrections",
    callback=_corrections_option,
    metavar="FILE|known",
    help="CSV of explicit cell corrections to the annotation file (row, column, was, "
    "value, reason), or 'known': the errata shipped for CASME II, SAMM and CAS(ME)^3 part A, "
    "each with its source; see docs/datasets.md.",
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For --dataset manifest: the manifest CSV (see data_manifest.example.csv).",
)
@click.option(
    "--modality",
    type=click.Choice(["HS", "VIS", "NIR"]),
    help="SMIC only: camera to read (default HS; dataset names smic, smic-vis, smic-nir).",
)
@click.option(
    "--part",
    type=click.Choice(["A", "C"]),
    help="CAS(ME)^3 only: part A (lab, default) or part C (mock crime; dataset name casme3c).",
)
@click.option(
    "--subjects-map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Real-life Deception only: CSV id,subject grouping clips by speaker (without "
    "it each clip is its own subject and LOSO leaks speakers across folds).",
)
@click.option(
    "--landmarks",
    default="dlib",
    show_default=True,
    type=click.Choice(available_backends()),
    help="Landmark backend.",
)
@click.option(
    "--align",
    default="none",
    show_default=True,
    type=click.Choice(list(ALIGNERS)),
    help="Face alignment: none (square box), eyes (eye centres level at fixed "
    "positions), similarity (all 68 points fitted to a mean face); docs/landmarks.md.",
)
@click.option(
    "--track",
    is_flag=True,
    help="Also detect landmarks on every kept frame and store them (the crop still "
    "comes from the onset frame); reports landmark drift and jitter.",
)
@click.option(
    "--track-smooth",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="K",
    help="With --track: running median of the tracked landmarks over K frames (e.g. 5), "
    "which removes single-frame detector jumps; 0: none.",
)
@click.option(
    "--margin",
    default=0.1,
    show_default=True,
    type=click.FloatRange(*MARGIN_RANGE),
    help="Crop margin around the landmarks, as a fraction of the face size.",
)
@click.option(
    "--size",
    default=128,
    show_default=True,
    type=click.IntRange(*SIZE_RANGE),
    help="Side of the square face frames written (px).",
)
@click.option(
    "--color",
    default="rgb",
    show_default=True,
    type=click.Choice(["rgb", "gray"]),
    help="Colour of the stored frames: RGB, or one gray channel.",
)
@click.option(
    "--sampling",
    default="uniform",
    show_default=True,
    type=click.Choice(list(SAMPLING_MODES)),
    help="Which frames to keep: uniform (N evenly spaced), key (9: onset, apex, offset "
    "and between), all, tim (N interpolated by the temporal interpolation model), "
    "diffk / diffk-before (the frame after / before each of the N largest changes), "
    "first (the first N), ext-* (the dual-branch extension's per-dataset choices); "
    "docs/extract.md.",
)
@click.option(
    "--frames",
    type=click.IntRange(min=1),
    help="Frames per clip [default: 30]. Modes of fixed length (key: 9, ext-*) refuse it; "
    "all keeps every frame.",
)
@click.option(
    "--frame-compression",
    default="fast",
    show_default=True,
    type=click.Choice(FRAME_COMPRESSIONS),
    help="How stored frames are compressed: fast (ISA-L deflate, ~93% of raw, a few ms "
    "per clip), small (zlib, ~88%, as slow as decoding), none (raw). All are gzip "
    "streams any HDF5 reader decodes; see docs/clipstore.md.",
)
@workers_option
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Leave out clips with problems (recorded in the store) instead of stopping.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run of the same command.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a store already at --out (its crop-au/flow/magnify stages are lost).",
)
@progress_option
def extract(
    dataset,
    root,
    out,
    annotations,
    corrections,
    manifest,
    modality,
    part,
    subjects_map,
    landmarks,
    align,
    track,
    track_smooth,
    margin,
    size,
    color,
    sampling,
    frames,
    frame_compression,
    workers,
    skip_invalid,
    resume,
    overwrite,
    progress,
):
    """Read a dataset as shipped and write a clip store of cropped face clips."""
    from merprep.extract import ExtractConfig, drift_summary
    from merprep.extract import extract as run_extract

    if dataset == "manifest":
        if manifest is None:
            raise click.UsageError("--dataset manifest needs --manifest FILE")
        root = root or manifest.parent
        annotations = annotations or manifest
    elif manifest is not None:
        raise click.UsageError("--manifest applies to --dataset manifest only")
    elif root is None:
        raise click.UsageError("--root is required")
    adapter_options = dataset_options(
        dataset, {"--modality": modality, "--part": part, "--subjects-map": subjects_map}
    )
    try:
        config = ExtractConfig(
            dataset=dataset,
            root=root,
            out=out,
            annotations=annotations,
            corrections=corrections,
            adapter_options=adapter_options,
            landmarks=landmarks,
            align=align,
            track=track,
            track_smooth=track_smooth,
            margin=margin,
            size=size,
            color=color,
            sampling=sampling,
            frames=frames,
            frame_compression=frame_compression,
            workers=workers,
            skip_invalid=skip_invalid,
            resume=resume,
            overwrite=overwrite,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = run_extract(config, command=command_line("merprep"), progress=progress)
    click.echo(result.summary())
    if track:
        click.echo(drift_summary(result.path) or "no clip was tracked")
    for s in result.skipped:
        click.echo(f"  skipped {s['clip_id'] or '(row)'}: {s['reason']}")


def dataset_options(dataset: str, given: dict) -> dict:
    """The adapter options from the dataset-specific CLI options; a usage error for an option
    that does not apply to ``dataset``. Values are normalised so --resume sees equal params."""
    options = {}
    for flag, value in given.items():
        if value is None:
            continue
        key, family = DATASET_OPTIONS[flag]
        if dataset != family:
            raise click.UsageError(f"{flag} applies to --dataset {family} only")
        if isinstance(value, Path):
            value = str(value.resolve())
        elif isinstance(value, str):
            value = value.upper()
        options[key] = value
    return options
