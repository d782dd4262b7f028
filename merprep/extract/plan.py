"""Phase 1 of an extraction: read the annotations, resolve every clip to its frames on disk and
collect every problem, so that bad input costs seconds rather than hours (see
:func:`plan_extraction`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from merprep.datasets import get_adapter
from merprep.datasets.base import ClipRecord, FrameSource, unparsed_au_rows
from merprep.datasets.corrections import CorrectionTable
from merprep.datasets.errata import KNOWN, KnownCorrections
from merprep.errors import MerprepError, Problem
from merprep.extract.config import ExtractConfig
from merprep.frames.decode import video_frame_count

log = logging.getLogger(__name__)


@dataclass
class ClipTask:
    """One clip to extract: its record and where its frames are (sent to a worker)."""

    record: ClipRecord
    source: FrameSource


def plan_extraction(config: ExtractConfig) -> tuple[list[ClipTask], list[Problem]]:
    """Read annotations and resolve every clip to its frames; collect every problem.

    Only file listings and annotation cells are read here (videos are counted by the adapter), so
    a bad row costs seconds, not a failed run hours later. Beyond the adapter's row checks (bad
    cells, onset after offset, apex outside the clip, unknown emotion), each record is checked
    for: a duplicate clip id, its folder or video, frames on disk covering onset..offset, the
    onset frame itself (landmarks come from it), and no frames missing between onset and offset
    unless the dataset drops frames by design (``frame_gaps_expected``, CAS(ME)^3). Problems of
    one row are merged into one line, so ``--skip-invalid`` records each clip once.
    """
    if not config.root.is_dir():
        raise MerprepError("dataset root not found (not a folder)", file=config.root)
    if config.annotations is not None and not config.annotations.is_file():
        raise MerprepError("annotation file not found", file=config.annotations)
    corrections: CorrectionTable | KnownCorrections | None = None
    if config.corrections == KNOWN:
        corrections = KnownCorrections(config.dataset, config.adapter_options)
    elif config.corrections is not None:
        path = Path(config.corrections)
        if not path.is_file():
            raise MerprepError("corrections file not found", file=path)
        corrections = CorrectionTable(path)
    adapter = get_adapter(config.dataset)(
        config.root, config.annotations, corrections=corrections, **config.adapter_options
    )
    records, problems = adapter.read_records()
    odd = unparsed_au_rows(records)
    if odd:
        log.warning(
            "%d row(s) hold AU text that is not an action unit (kept verbatim in the record's "
            "aus, listed in au_unparsed): %s",
            len(odd),
            "; ".join(f"row {row} {text!r} ({', '.join(bad)})" for row, text, bad in odd[:8])
            + ("; ..." if len(odd) > 8 else ""),
        )
    for rec in records:
        if rec.annotation_row in adapter.applied_corrections:
            rec.extra["corrections"] = adapter.applied_corrections[rec.annotation_row]
    seen: dict[str, ClipRecord] = {}
    tasks: list[ClipTask] = []
    for rec in records:

        def where(message: str, rec: ClipRecord = rec) -> Problem:
            return Problem(message, rec.annotation_file, rec.annotation_row, rec.clip_id)

        if rec.clip_id in seen:
            first = seen[rec.clip_id]
            problems.append(
                where(
                    f"duplicate clip id (first on row {first.annotation_row})"
                    if first.annotation_row
                    else "duplicate clip id"
                )
            )
            continue
        seen[rec.clip_id] = rec
        try:
            source = adapter.frame_source(rec)
            if source.video is not None and source.n_video_frames is None:
                source.n_video_frames = video_frame_count(source.video)
        except MerprepError as exc:
            problems.append(where(str(exc)))
            continue
        problem = _frames_problem(rec, source, adapter.frame_gaps_expected)
        if problem:
            problems.append(where(problem))
            continue
        tasks.append(ClipTask(rec, source))
    return tasks, _merge_by_row(problems)


def _frames_problem(rec: ClipRecord, source: FrameSource, gaps_expected: bool) -> str | None:
    """Why the frames on disk cannot give this clip, or None."""
    available = source.available
    if not available:
        return f"no frames found in {rec.source}"
    first, last = available[0], available[-1]
    outside = [
        name for name, n in (("onset", rec.onset), ("offset", rec.offset)) if not first <= n <= last
    ]
    if outside:
        return (
            f"{' and '.join(outside)} outside the frames on disk ({first}..{last}; "
            f"annotated {rec.onset}..{rec.offset})"
        )
    present = set(available)
    if rec.onset not in present:
        return f"onset frame {rec.onset} is missing on disk"
    if not gaps_expected:
        missing = [n for n in range(rec.onset, rec.offset + 1) if n not in present]
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
            return (
                f"{len(missing)} of {rec.offset - rec.onset + 1} frames between onset and "
                f"offset missing on disk ({shown})"
            )
    return None


def _merge_by_row(problems: list[Problem]) -> list[Problem]:
    """One problem per annotation row (or per clip, for datasets without rows), in order."""
    merged: dict[tuple, Problem] = {}
    out: list[Problem] = []
    for p in problems:
        key = (p.file, p.row, p.clip_id)
        if p.row is None and p.clip_id is None:
            out.append(p)
        elif key in merged:
            merged[key].message += "; " + p.message
        else:
            merged[key] = Problem(p.message, p.file, p.row, p.clip_id)
            out.append(merged[key])
    return out
