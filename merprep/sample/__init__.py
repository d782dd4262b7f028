"""Sample datasets in the real datasets' exact on-disk layouts.

CASME II, SAMM, SMIC, CAS(ME)^3 and Real-life Deception are licence-restricted, so tests and the
demo run on generated look-alikes: the same folders, file names, image formats and annotation
spreadsheets, with faces rendered from two public-domain photographs (``photos/``) and
micro-expressions programmed as small AU-localised warps (:mod:`merprep.sample.motion`).

Beside the dataset, ``merprep_sample_truth.json`` records what was programmed for every clip
(true onset/apex/offset, animated AUs, the motion's pixel box, amplitude, rendering), so tests can
check that the pipeline finds the motion where it was put. Dataset adapters ignore that file.

Generation is deterministic: the same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merprep.errors import MerprepError
from merprep.sample.layouts import LAYOUTS, layout_writer
from merprep.sample.megc import count as megc_count
from merprep.sample.megc import listed as megc_listed

log = logging.getLogger(__name__)

#: the long-video layouts (``*-long``: untrimmed recordings, merprep.sample.longvideo) apart from
#: the short-clip ones, whose truth records are clips
LONG_SAMPLE_DATASETS = tuple(n for n in LAYOUTS.names() if n.endswith("-long"))
SAMPLE_DATASETS = tuple(n for n in LAYOUTS.names() if n not in LONG_SAMPLE_DATASETS)
SMIC_MODALITIES = ("HS", "VIS", "NIR", "all")
TRUTH_FILE = "merprep_sample_truth.json"


@dataclass
class SampleSummary:
    """What :func:`generate` wrote."""

    dataset: str
    root: Path  # the dataset's top folder as unpacked (pass it as --root)
    annotation_file: Path | None  # the official annotation file, if the dataset has one
    n_clips: int  # clips written (for SMIC 'all': one per modality)
    truth_file: Path
    subjects_map: Path | None = None  # deception only: an example --subjects-map file

    def line(self) -> str:
        annotation = self.annotation_file if self.annotation_file is not None else "none"
        return (
            f"wrote {self.n_clips} clips of {self.dataset} to {self.root} "
            f"(annotation: {annotation})"
        )


def count_clips(
    dataset: str, subjects: int, clips_per_subject: int, modality: str = "HS", megc: bool = False
) -> int:
    """How many clips :func:`generate` will write (for a progress bar's total)."""
    per_expression = 3 if dataset == "smic" and modality == "all" else 1
    if megc:
        return megc_count(dataset, subjects, clips_per_subject) * per_expression
    return subjects * clips_per_subject * per_expression


def generate(
    dataset: str,
    out: Path,
    *,
    subjects: int = 4,
    clips_per_subject: int = 6,
    amplitude: float = 3.0,
    seed: int = 0,
    clip_length: int | None = None,
    modality: str = "HS",
    progress: Callable[[int], Any] | None = None,
    megc: bool = False,
) -> SampleSummary:
    """Write a sample of ``dataset`` in its official layout into the new folder ``out``.

    ``amplitude`` is the peak motion in pixels at CASME II face scale (640x480 frame), scaled to
    each dataset's face size. ``clip_length`` fixes the number of frames per clip (for CAS(ME)^3:
    onset..offset of each micro-expression; for Real-life Deception: the whole video).
    ``modality`` (SMIC only) picks HS, VIS, NIR or all three. ``progress`` is called with 1 after
    each clip. ``megc`` (CASME II, SAMM, SMIC) names subjects and clips after the official
    MEGC2019 list: its first ``subjects`` subjects, up to ``clips_per_subject`` of each one's
    listed clips, emotions of the listed 3-class groups (:mod:`merprep.sample.megc`). Raises
    :class:`MerprepError` if ``out`` exists and is not empty.
    """
    # both import OpenCV, which listing the CLI's choices must not
    from merprep.sample.faces import load_photos
    from merprep.sample.layouts.common import SampleContext

    _check_options(dataset, subjects, clips_per_subject, amplitude, clip_length, modality)
    if megc:
        megc_listed(dataset, subjects, clips_per_subject)  # refuses other datasets, subjects
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MerprepError("output folder exists and is not empty; choose a new folder", file=out)
    out.mkdir(parents=True, exist_ok=True)

    ctx = SampleContext(
        dataset=dataset,
        out=out,
        subjects=subjects,
        clips_per_subject=clips_per_subject,
        amplitude=float(amplitude),
        seed=int(seed),
        clip_length=clip_length,
        modality=modality,
        photos=load_photos(),
        progress=progress,
        megc=megc,
    )
    log.info("generating %s: %d subjects x %d clips", dataset, subjects, clips_per_subject)
    result = layout_writer(dataset)(ctx)

    truth_file = out / TRUTH_FILE
    document = {
        "about": "Programmed ground truth of a merprep sample dataset (not part of the dataset; "
        "adapters ignore this file). Frame numbers are the dataset's own; 'apex' is the "
        "true apex even where the annotation hides it ('apex_annotated'); 'region' is "
        "the motion's pixel box (x0, y0, x1, y1; end-exclusive) in source frames at "
        "rest; 'amplitude_px' is the peak displacement at source resolution.",
        "dataset": dataset,
        "seed": int(seed),
        "amplitude": float(amplitude),
        "subjects": subjects,
        "clips_per_subject": clips_per_subject,
        "clip_length": clip_length,
        "modality": modality if dataset == "smic" else None,
        "megc": bool(megc),
        "root": _relative(result.root, out),
        "annotation_file": _relative(result.annotation_file, result.root),
        "subjects_map": _relative(result.subjects_map, result.root),
        "clips": result.clips,
    }
    truth_file.write_text(_dump(document))
    return SampleSummary(
        dataset=dataset,
        root=result.root,
        annotation_file=result.annotation_file,
        n_clips=len(result.clips),
        truth_file=truth_file,
        subjects_map=result.subjects_map,
    )


def load_truth(path: Path) -> dict[str, Any]:
    """Read a truth file written by :func:`generate` (a folder means its truth file)."""
    path = Path(path)
    if path.is_dir():
        path = path / TRUTH_FILE
    return json.loads(path.read_text())


def _check_options(
    dataset: str,
    subjects: int,
    clips_per_subject: int,
    amplitude: float,
    clip_length: int | None,
    modality: str,
) -> None:
    if dataset not in SAMPLE_DATASETS + LONG_SAMPLE_DATASETS:
        raise MerprepError(
            f"unknown sample dataset {dataset!r}; choose one of "
            f"{', '.join(SAMPLE_DATASETS + LONG_SAMPLE_DATASETS)}"
        )
    if subjects < 1 or clips_per_subject < 1:
        raise MerprepError("subjects and clips_per_subject must be at least 1")
    if not amplitude > 0:
        raise MerprepError("amplitude must be a positive number of pixels")
    if clip_length is not None and clip_length < 3:
        raise MerprepError("clip_length must be at least 3 (onset < apex < offset)")
    if modality not in SMIC_MODALITIES:
        raise MerprepError(
            f"unknown modality {modality!r}; choose one of {', '.join(SMIC_MODALITIES)}"
        )
    if dataset != "smic" and modality != "HS":
        raise MerprepError("modality applies to SMIC only")


def _relative(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    return Path(path).relative_to(base).as_posix() or "."


def _dump(document: dict[str, Any]) -> str:
    """Indented JSON with short number lists (boxes, points) kept on one line."""
    text = json.dumps(document, indent=1)
    text = re.sub(
        r"\[\s+([-\d.eE]+(?:,\s+[-\d.eE]+)*)\s+\]",
        lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]",
        text,
    )
    return text + "\n"


__all__ = [
    "LONG_SAMPLE_DATASETS",
    "SAMPLE_DATASETS",
    "SampleSummary",
    "count_clips",
    "generate",
    "load_truth",
]
