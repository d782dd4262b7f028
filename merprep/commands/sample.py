"""``merprep sample``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from merprep.clitools import example, progress_option
from merprep.sample import (
    LONG_SAMPLE_DATASETS,
    SAMPLE_DATASETS,
    SMIC_MODALITIES,
    count_clips,
    generate,
)


@click.command(
    epilog=example("merprep sample --dataset casme2 -o casme2_sample --subjects 4 --seed 0")
)
@click.option(
    "--dataset",
    required=True,
    type=click.Choice(SAMPLE_DATASETS + LONG_SAMPLE_DATASETS),
    help="Which dataset's layout to write.",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) folder to write the dataset into.",
)
@click.option(
    "--subjects",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of subjects (speakers for deception).",
)
@click.option(
    "--clips-per-subject",
    default=6,
    show_default=True,
    type=click.IntRange(min=1),
    help="Clips per subject; 6 gives 2 negative, 2 positive, 2 surprise.",
)
@click.option(
    "--amplitude",
    default=3.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Peak motion in px at CASME II face scale (640x480), scaled per dataset.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Random seed; the same seed gives byte-identical files.",
)
@click.option(
    "--clip-length",
    type=click.IntRange(min=3),
    help="Frames per clip (default: realistic lengths for the dataset's frame rate).",
)
@click.option(
    "--modality",
    default="HS",
    show_default=True,
    type=click.Choice(SMIC_MODALITIES),
    help="SMIC only: which camera(s) to write.",
)
@click.option(
    "--megc",
    is_flag=True,
    help="CASME II, SAMM, SMIC: name subjects and clips after the official MEGC2019 list (its "
    "first --subjects subjects, up to --clips-per-subject listed clips each, their 3-class "
    "groups), so `mertrain run smic.h5 casme2.h5 samm.h5 --protocol megc2019` runs on samples.",
)
@progress_option
def sample(
    dataset,
    out,
    subjects,
    clips_per_subject,
    amplitude,
    seed,
    clip_length,
    modality,
    megc,
    progress,
):
    """Write a sample dataset in the official layout of a real one (faces from public-domain
    photos, programmed micro-expressions, ground truth in merprep_sample_truth.json)."""
    total = count_clips(dataset, subjects, clips_per_subject, modality, megc)
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(
        total=total, unit="clip", desc=f"sample {dataset}", disable=not show, file=sys.stderr
    ) as bar:
        summary = generate(
            dataset,
            out,
            subjects=subjects,
            clips_per_subject=clips_per_subject,
            amplitude=amplitude,
            seed=seed,
            clip_length=clip_length,
            modality=modality,
            progress=bar.update,
            megc=megc,
        )
    click.echo(summary.line())
