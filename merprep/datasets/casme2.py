"""CASME II (Chinese Academy of Sciences Micro-Expression database II).

As shipped (docs/references.md#casme2): frames in
``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` (frame number in the name, not zero-padded) or,
in the cropped release,
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

from merprep import ids
from merprep.datasets.base import ClipRecord, DatasetAdapter
from merprep.datasets.tables import AnnotationRow, strict_int
from merprep.errors import AnnotationError, MerprepError, Problem

log = logging.getLogger(__name__)

FPS = 200.0
FRAME_FOLDERS = ("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "Cropped", "CASME2_Cropped")
ANNOTATION_PATTERNS = ("CASME2-coding-*.xlsx", "CASME2-coding*.xls*", "CASME2*coding*.xls*")
COLUMNS = (
    "Subject",
    "Filename",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "Action Units",
    "Estimated Emotion",
)
EMOTIONS = frozenset(
    {"happiness", "surprise", "disgust", "repression", "fear", "sadness", "others"}
)


def normalise_subject(value: str | int) -> str:
    """``1``, ``01``, ``sub1``, ``sub01`` -> ``sub01``."""
    text = str(value).strip().lower()
    if text.startswith("sub"):
        text = text[3:]
    return f"sub{strict_int(text):02d}"


class Adapter(DatasetAdapter):
    name = "casme2"
    emotions = EMOTIONS
    annotation_patterns = ANNOTATION_PATTERNS
    frames_layout = FRAME_FOLDERS

    def frames_root(self) -> Path:
        """The folder holding ``subNN/`` folders: ``root`` itself or a known subfolder of it."""
        for name in FRAME_FOLDERS:
            if (self.root / name).is_dir():
                return self.root / name
        if any(p.is_dir() and p.name.lower().startswith("sub") for p in self.root.iterdir()):
            return self.root
        raise MerprepError(
            "no CASME II frames found: expected CASME2_RAW_selected/ (or "
            "Cropped/) with subNN/ folders, or point --root at that folder",
            file=self.root,
        )

    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        path = self.find_annotations()
        if path is None:
            raise AnnotationError(
                "no CASME II coding spreadsheet (CASME2-coding-*.xlsx) found "
                "here or in the parent folder; pass --annotations FILE",
                file=self.root,
            )
        table = self.read_annotation_table(path, sheet=None, required=COLUMNS)
        frames_root = self.frames_root()
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        for _, cells in table.iterrows():
            row = AnnotationRow(cells, path)
            subject = row.normalised("Subject", normalise_subject, what="subject number")
            clip = row.name("Filename", what="clip name")
            onset = row.frame("OnsetFrame")
            apex = row.frame("ApexFrame", optional=True)
            offset = row.frame("OffsetFrame")
            emotion = row.emotion("Estimated Emotion", EMOTIONS)
            row.check_order(onset, apex, offset)
            if not row.done(problems, subject and clip and ids.clip_id(self.name, subject, clip)):
                continue
            # a row that is done has every required cell
            assert subject and clip and onset is not None and offset is not None
            records.append(
                ClipRecord(
                    dataset=self.name,
                    subject=subject,
                    clip=clip,
                    emotion=emotion,
                    aus=row.text("Action Units"),
                    onset=onset,
                    apex=apex,
                    offset=offset,
                    fps=FPS,
                    source=self.source_of(frames_root / subject / clip),
                    annotation_file=path.name,
                    annotation_row=row.number,
                )
            )
        return records, problems
