"""CASME II (Chinese Academy of Sciences Micro-Expression database II).

As shipped (see FORMATS.md): frames in ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` (frame
number in the name, not zero-padded) or, in the cropped release,
``Cropped/sub01/EP02_01f/reg_img46.jpg``; annotations in ``CASME2-coding-20190701.xlsx``
(older: ``-20140508``), sheet ``Sheet1``: ``Subject`` (int), ``Filename``, a blank column,
``OnsetFrame``, ``ApexFrame``, ``OffsetFrame``, a blank column, ``Action Units``,
``Estimated Emotion``. 200 fps, 640x480.

Quirks handled here: apex written ``/`` (recorded as missing); subjects written as integers
(``1`` -> ``sub01``, matching the folder and the MEGC2019 list).
"""

from __future__ import annotations

import logging
from pathlib import Path

from merprep.datasets.base import ClipRecord, DatasetAdapter, FrameSource, is_safe_name, number_frames
from merprep.datasets.tables import (cell_problems, check_frame_order, find_file, int_cell,
                                     read_table, strict_int, tag_problems, text_cell)
from merprep.errors import AnnotationError, MerprepError, Problem

log = logging.getLogger(__name__)

FPS = 200.0
FRAME_FOLDERS = ("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "Cropped", "CASME2_Cropped")
ANNOTATION_PATTERNS = ("CASME2-coding-*.xlsx", "CASME2-coding*.xls*", "CASME2*coding*.xls*")
COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
           "Estimated Emotion")
EMOTIONS = frozenset({"happiness", "surprise", "disgust", "repression", "fear", "sadness",
                      "others"})


def normalise_subject(value: str | int) -> str:
    """``1``, ``01``, ``sub1``, ``sub01`` -> ``sub01``."""
    text = str(value).strip().lower()
    if text.startswith("sub"):
        text = text[3:]
    return f"sub{strict_int(text):02d}"


class Adapter(DatasetAdapter):
    name = "casme2"
    emotions = EMOTIONS

    def frames_root(self) -> Path:
        """The folder holding ``subNN/`` folders: ``root`` itself or a known subfolder of it."""
        for name in FRAME_FOLDERS:
            if (self.root / name).is_dir():
                return self.root / name
        if any(p.is_dir() and p.name.lower().startswith("sub") for p in self.root.iterdir()):
            return self.root
        raise MerprepError("no CASME II frames found: expected CASME2_RAW_selected/ (or "
                           "Cropped/) with subNN/ folders, or point --root at that folder",
                           file=self.root)

    def find_annotations(self) -> Path | None:
        if self.annotations is not None:
            return self.annotations
        return find_file([self.root, self.root.parent], ANNOTATION_PATTERNS, depth=1)

    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        path = self.find_annotations()
        if path is None:
            raise AnnotationError("no CASME II coding spreadsheet (CASME2-coding-*.xlsx) found "
                                  "here or in the parent folder; pass --annotations FILE",
                                  file=self.root)
        table = read_table(path, sheet=None, required=COLUMNS)
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
            onset = int_cell(row["OnsetFrame"], column="OnsetFrame", file=path, row=n,
                             problems=problems)
            apex = int_cell(row["ApexFrame"], column="ApexFrame", file=path, row=n,
                            problems=problems, allow_missing=True)
            offset = int_cell(row["OffsetFrame"], column="OffsetFrame", file=path, row=n,
                              problems=problems)
            emotion = text_cell(row["Estimated Emotion"])
            if emotion.lower() not in EMOTIONS:
                problems.append(Problem(f"unknown emotion {emotion!r} (expected one of "
                                        f"{', '.join(sorted(EMOTIONS))})", file=str(path), row=n))
            if len(problems) == before:
                check_frame_order(onset, apex, offset, file=path, row=n, problems=problems)
            if subject and clip and is_safe_name(clip):
                tag_problems(problems[before:], f"{self.name}/{subject}/{clip}")
            if len(problems) > before:
                continue
            folder = frames_root / subject / clip
            records.append(ClipRecord(
                dataset=self.name, subject=subject, clip=clip, emotion=emotion,
                aus=text_cell(row["Action Units"]), onset=onset, apex=apex, offset=offset,
                fps=FPS, source=str(folder.relative_to(self.root)) if folder.is_relative_to(
                    self.root) else str(folder),
                annotation_file=path.name, annotation_row=n,
            ))
        return records, problems

    def frame_source(self, record: ClipRecord) -> FrameSource:
        folder = self.root / record.source
        if not folder.is_dir():
            raise MerprepError("clip folder not found", file=folder)
        return FrameSource(frames=number_frames(folder))
