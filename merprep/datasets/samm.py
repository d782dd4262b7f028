"""SAMM (Spontaneous Actions and Micro-Movements).

As shipped (see FORMATS.md): frames in ``SAMM/006/006_1_2/006_05562.jpg`` (subject folder,
clip folder ``subject_inducement_count``, files ``subject_<5-digit absolute frame number>``);
annotations in ``SAMM_Micro_FACS_Codes_v2.xlsx``: 13 preamble rows, header on row 14, data from
row 15, columns ``Subject, Filename, Inducement Code, Onset Frame, Apex Frame, Offset Frame,
Duration, Micro, Action Units, Estimated Emotion, Objective Classes, Notes``. 200 fps,
2040x1088 grayscale stored as JPEG.

Quirks handled here: subjects written as integers (``6`` -> ``006``, the folder name; the
MEGC2019 list writes ``6`` and matches through its own normalisation); a missing apex written
``-1`` or left blank (recorded as missing, never guessed); capitalised emotions (kept verbatim,
checked case-insensitively); a lone AU stored as a number (``4``, kept as text); AU cells with
``or`` and ``A``/``B``/``R``/``L`` prefixes (kept verbatim, parsed by :func:`parse_aus`). If the
header is not on row 14 (another release of the sheet), it is looked for in the first 40 rows
and the row used is logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

from merprep.datasets.base import (ClipRecord, DatasetAdapter, FrameSource, is_safe_name,
                                   number_frames)
from merprep.datasets.tables import (cell_problems, check_frame_order, find_file,
                                     find_header_row, int_cell, read_table, strict_int,
                                     tag_problems, text_cell)
from merprep.errors import AnnotationError, MerprepError, Problem

log = logging.getLogger(__name__)

FPS = 200.0
FRAMES_FOLDER = "SAMM"
HEADER_ROW = 14
ANNOTATION_PATTERNS = ("SAMM_Micro_FACS_Codes_v2.xlsx", "SAMM_Micro_FACS_Codes*.xls*",
                       "SAMM*FACS*Codes*.xls*")
COLUMNS = ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Action Units",
           "Estimated Emotion")
#: columns kept verbatim in the record's ``extra``
EXTRA_COLUMNS = {"Inducement Code": "inducement_code", "Objective Classes": "objective_class",
                 "Micro": "micro", "Notes": "notes"}
EMOTIONS = frozenset({"anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise",
                      "other"})


def normalise_subject(value: str | int) -> str:
    """``6``, ``06``, ``006`` -> ``006`` (the folder name)."""
    return f"{strict_int(value):03d}"


class Adapter(DatasetAdapter):
    name = "samm"
    emotions = EMOTIONS

    def frames_root(self) -> Path:
        """The folder holding the ``006/`` subject folders: ``root/SAMM`` or ``root`` itself."""
        if (self.root / FRAMES_FOLDER).is_dir():
            return self.root / FRAMES_FOLDER
        if any(p.is_dir() and p.name.isdigit() for p in self.root.iterdir()):
            return self.root
        raise MerprepError("no SAMM frames found: expected SAMM/ with subject folders (006/ ...), "
                           "or point --root at that folder", file=self.root)

    def find_annotations(self) -> Path | None:
        if self.annotations is not None:
            return self.annotations
        return find_file([self.root, self.root.parent], ANNOTATION_PATTERNS, depth=1)

    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        path = self.find_annotations()
        if path is None:
            raise AnnotationError("no SAMM coding spreadsheet (SAMM_Micro_FACS_Codes_v2.xlsx) "
                                  "found here or in the parent folder; pass --annotations FILE",
                                  file=self.root)
        header = find_header_row(path, COLUMNS) or HEADER_ROW
        if header != HEADER_ROW:
            log.info("%s: header found on row %d (SAMM v2 has it on row %d)", path.name, header,
                     HEADER_ROW)
        table = read_table(path, sheet=None, header_row=header, required=COLUMNS)
        frames_root = self.frames_root()
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        for _, row in table.iterrows():
            n = int(row["__row__"])
            before = len(problems)
            problems += cell_problems(row, path)
            subject_text = text_cell(row["Subject"])
            try:
                subject = normalise_subject(subject_text)
            except ValueError:
                problems.append(Problem(f"Subject is not a subject number: {subject_text!r}",
                                        file=str(path), row=n))
                subject = None
            clip = text_cell(row["Filename"])
            if not clip:
                problems.append(Problem("Filename is empty", file=str(path), row=n))
            elif not is_safe_name(clip):
                problems.append(Problem(f"Filename is not a valid clip name: {clip!r}",
                                        file=str(path), row=n))
                clip = ""
            onset = int_cell(row["Onset Frame"], column="Onset Frame", file=path, row=n,
                             problems=problems)
            apex = int_cell(row["Apex Frame"], column="Apex Frame", file=path, row=n,
                            problems=problems, allow_missing=True, missing_values=(-1,))
            offset = int_cell(row["Offset Frame"], column="Offset Frame", file=path, row=n,
                              problems=problems)
            emotion = text_cell(row["Estimated Emotion"])
            if emotion.lower() not in EMOTIONS:
                problems.append(Problem(f"unknown emotion {emotion!r} (expected one of "
                                        f"{', '.join(sorted(EMOTIONS))})", file=str(path), row=n))
            if len(problems) == before:
                check_frame_order(onset, apex, offset, file=path, row=n, problems=problems)
            if subject and clip:
                tag_problems(problems[before:], f"{self.name}/{subject}/{clip}")
            if len(problems) > before:
                continue
            folder = frames_root / subject / clip
            extra = {key: text_cell(row[column]) for column, key in EXTRA_COLUMNS.items()
                     if column in row.index}
            records.append(ClipRecord(
                dataset=self.name, subject=subject, clip=clip, emotion=emotion,
                aus=text_cell(row["Action Units"]), onset=onset, apex=apex, offset=offset,
                fps=FPS, source=_relative(folder, self.root), annotation_file=path.name,
                annotation_row=n, extra=extra))
        return records, problems

    def frame_source(self, record: ClipRecord) -> FrameSource:
        folder = self.root / record.source
        if not folder.is_dir():
            raise MerprepError("clip folder not found", file=folder)
        return FrameSource(frames=number_frames(folder))


def _relative(folder: Path, root: Path) -> str:
    return folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
