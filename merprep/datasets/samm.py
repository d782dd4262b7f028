"""SAMM (Spontaneous Actions and Micro-Movements).

As shipped (docs/references.md#samm-micro): frames in ``SAMM/006/006_1_2/006_05562.jpg``
(subject folder, clip folder ``subject_inducement_count``, files
``subject_<5-digit absolute frame number>``);
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

from merprep import ids
from merprep.datasets.base import ClipRecord, DatasetAdapter
from merprep.datasets.tables import AnnotationRow, find_header_row, strict_int
from merprep.errors import AnnotationError, MerprepError, Problem

log = logging.getLogger(__name__)

FPS = 200.0
FRAMES_FOLDER = "SAMM"
HEADER_ROW = 14
ANNOTATION_PATTERNS = (
    "SAMM_Micro_FACS_Codes_v2.xlsx",
    "SAMM_Micro_FACS_Codes*.xls*",
    "SAMM*FACS*Codes*.xls*",
)
COLUMNS = (
    "Subject",
    "Filename",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Action Units",
    "Estimated Emotion",
)
#: columns kept verbatim in the record's ``extra``
EXTRA_COLUMNS = {
    "Inducement Code": "inducement_code",
    "Objective Classes": "objective_class",
    "Micro": "micro",
    "Notes": "notes",
}
EMOTIONS = frozenset(
    {"anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise", "other"}
)


def normalise_subject(value: str | int) -> str:
    """``6``, ``06``, ``006`` -> ``006`` (the folder name)."""
    return f"{strict_int(value):03d}"


class Adapter(DatasetAdapter):
    name = "samm"
    emotions = EMOTIONS
    annotation_patterns = ANNOTATION_PATTERNS
    frames_layout = (FRAMES_FOLDER,)

    def frames_root(self) -> Path:
        """The folder holding the ``006/`` subject folders: ``root/SAMM`` or ``root`` itself."""
        if (self.root / FRAMES_FOLDER).is_dir():
            return self.root / FRAMES_FOLDER
        if any(p.is_dir() and p.name.isdigit() for p in self.root.iterdir()):
            return self.root
        raise MerprepError(
            "no SAMM frames found: expected SAMM/ with subject folders (006/ ...), "
            "or point --root at that folder",
            file=self.root,
        )

    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        path = self.find_annotations()
        if path is None:
            raise AnnotationError(
                "no SAMM coding spreadsheet (SAMM_Micro_FACS_Codes_v2.xlsx) "
                "found here or in the parent folder; pass --annotations FILE",
                file=self.root,
            )
        header = find_header_row(path, COLUMNS) or HEADER_ROW
        if header != HEADER_ROW:
            log.info(
                "%s: header found on row %d (SAMM v2 has it on row %d)",
                path.name,
                header,
                HEADER_ROW,
            )
        table = self.read_annotation_table(path, sheet=None, header_row=header, required=COLUMNS)
        frames_root = self.frames_root()
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        for _, cells in table.iterrows():
            row = AnnotationRow(cells, path)
            subject = row.normalised("Subject", normalise_subject, what="subject number")
            clip = row.name("Filename", what="clip name")
            onset = row.frame("Onset Frame")
            apex = row.frame("Apex Frame", optional=True, missing_values=(-1,))
            offset = row.frame("Offset Frame")
            emotion = row.emotion("Estimated Emotion", EMOTIONS)
            row.check_order(onset, apex, offset)
            if not row.done(problems, subject and clip and ids.clip_id(self.name, subject, clip)):
                continue
            # a row that is done has every required cell
            assert subject and clip and onset is not None and offset is not None
            extra = {
                key: row.text(column) for column, key in EXTRA_COLUMNS.items() if row.has(column)
            }
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
                    extra=extra,
                )
            )
        return records, problems
