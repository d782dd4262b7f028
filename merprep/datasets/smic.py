"""SMIC (Spontaneous Micro-expression Corpus), the cut clips of ``SMIC_all_raw``.

As shipped (docs/references.md#smic):
``SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image0100234.bmp``, emotion folders ``negative``,
``positive``, ``surprise``; ``VIS/`` and ``NIR/`` beside ``HS/``;
``non_micro/`` holds clips without a micro-expression (not read). HS is 100 fps, VIS and NIR
25 fps, all 640x480.

There is no onset/apex spreadsheet for these clips: a clip folder *is* the expression, so the
emotion is the folder's name, onset = the first frame on disk, offset = the last, apex missing.
When a SMIC-E annotation workbook is passed with ``--annotations`` (``Subject, Filename, OnsetF,
OffsetF, Emotion``; the 2019 version adds ``ApexF``), each row that names a clip found on disk
sets that clip's onset/apex/offset (frame numbers as in the image names); a row whose clip is not
on disk, or whose emotion disagrees with the folder, is a problem; clips without a row keep
their folder bounds (counted in the log).

Option ``modality`` (``HS``, the default, ``VIS`` or ``NIR``) picks the camera. Dataset names:
``smic`` for HS (the name MEGC2019 uses for SMIC-HS), ``smic-vis``, ``smic-nir``. When ``root``
is itself a modality folder (``SMIC_all_raw/VIS``) that folder decides, and a ``modality`` that
contradicts it is refused: VIS or NIR frames are never stored as SMIC-HS.

Normalisation: subjects ``s1`` -> ``s01`` and clips ``s1_ne_01`` -> ``s01_ne_01``, the forms of
the MEGC2019 list; ``source`` keeps the folder as it is on disk. A clip folder whose name does not
start with its subject, or whose emotion abbreviation (``ne``, ``po``, ``sur``) disagrees with
its emotion folder, is a problem rather than a guess.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from merprep import ids
from merprep.datasets.base import ClipRecord, DatasetAdapter, number_frames
from merprep.datasets.tables import AnnotationRow, sheet_names
from merprep.errors import MerprepError, Problem

log = logging.getLogger(__name__)

FRAMES_FOLDER = "SMIC_all_raw"
MODALITIES = ("HS", "VIS", "NIR")
FPS = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}
DATASET_NAMES = {"HS": "smic", "VIS": "smic-vis", "NIR": "smic-nir"}
EMOTION_ABBREVIATIONS = {"negative": "ne", "positive": "po", "surprise": "sur"}
EMOTIONS = frozenset(EMOTION_ABBREVIATIONS)
SMIC_E_COLUMNS = ("Subject", "Filename", "OnsetF", "OffsetF", "Emotion")

_SUBJECT = re.compile(r"^s(?:ub)?0*(\d+)$", re.IGNORECASE)


def _subject_number(name: str) -> int:
    """3 for ``s3``/``sub03`` (folders are filtered by the same pattern first)."""
    m = _SUBJECT.match(name)
    if m is None:
        raise ValueError(f"not a subject folder: {name!r}")
    return int(m.group(1))


_CLIP = re.compile(r"^s0*(\d+)_([a-z]+)_(\d+)$", re.IGNORECASE)


def normalise_subject(value: str | int) -> str:
    """``s1``, ``s01``, ``1`` -> ``s01`` (the MEGC2019 form)."""
    text = str(value).strip()
    m = _SUBJECT.match(text)
    if m:
        return f"s{int(m.group(1)):02d}"
    if text.isdigit():
        return f"s{int(text):02d}"
    raise ValueError(f"not a SMIC subject: {text!r}")


def normalise_clip(name: str) -> str:
    """``s1_ne_01`` -> ``s01_ne_01`` (the MEGC2019 form); ValueError for other shapes."""
    m = _CLIP.match(name.strip())
    if not m:
        raise ValueError(f"not a SMIC clip name (s<N>_<ne|po|sur>_<NN>): {name!r}")
    return f"s{int(m.group(1)):02d}_{m.group(2).lower()}_{m.group(3)}"


class Adapter(DatasetAdapter):
    name = "smic"
    emotions = EMOTIONS
    option_names = ("modality",)

    def __init__(self, root: Path | str, annotations: Path | str | None = None, **options):
        super().__init__(root, annotations, **options)
        given = options.get("modality")
        if given is not None and str(given).upper() not in MODALITIES:
            raise MerprepError(
                f"SMIC modality must be one of {', '.join(MODALITIES)}, got {given!r}"
            )
        folder = self._folder_modality()
        if given is None:  # a modality folder as --root decides
            self.modality = folder or "HS"
        elif folder is not None and folder != str(given).upper():
            raise MerprepError(
                f"--root is the SMIC {folder} folder but --modality {str(given).upper()} was "
                f"given: the two must agree; drop --modality, or point --root at "
                f"{FRAMES_FOLDER} (or the folder holding it) to choose the camera with "
                "--modality",
                file=self.root,
            )
        else:
            self.modality = str(given).upper()
        self.name = DATASET_NAMES[self.modality]

    def _folder_modality(self) -> str | None:
        """HS, VIS or NIR when ``root`` is itself a modality folder (named so and holding
        subject folders with ``micro/``), else None."""
        name = self.root.name.upper()
        if name not in MODALITIES or not self.root.is_dir():
            return None
        holds_subjects = any(
            p.is_dir() and _SUBJECT.match(p.name) and (p / "micro").is_dir()
            for p in self.root.iterdir()
        )
        return name if holds_subjects else None

    def frames_layouts(self) -> tuple[str, ...]:
        return (f"{FRAMES_FOLDER}/{self.modality}",)

    def frames_root(self) -> Path:
        return self.modality_root()

    def modality_root(self) -> Path:
        """The ``HS/`` (or ``VIS/``, ``NIR/``) folder, from the top folder, ``SMIC_all_raw`` or the
        modality folder itself."""
        for candidate in (
            self.root / FRAMES_FOLDER / self.modality,
            self.root / self.modality,
            self.root,
        ):
            if candidate.is_dir() and any(
                _SUBJECT.match(p.name) and (p / "micro").is_dir()
                for p in candidate.iterdir()
                if p.is_dir()
            ):
                return candidate
        raise MerprepError(
            f"no SMIC {self.modality} clips found: expected "
            f"{FRAMES_FOLDER}/{self.modality}/s1/micro/<emotion>/<clip>/ here, or "
            f"point --root at {FRAMES_FOLDER} or its {self.modality} folder",
            file=self.root,
        )

    def find_annotations(self) -> Path | None:
        """SMIC_all_raw ships no annotation file; a SMIC-E workbook only when passed."""
        return self.annotations

    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        records, problems = self._folder_records()
        if self.annotations is not None:
            problems += self._apply_smic_e(records, self.annotations)
        return records, problems

    def _folder_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        base = self.modality_root()
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        subjects = sorted(
            (p for p in base.iterdir() if p.is_dir() and _SUBJECT.match(p.name)),
            key=lambda p: _subject_number(p.name),
        )
        for subject_dir in subjects:
            subject = normalise_subject(subject_dir.name)
            micro = subject_dir / "micro"
            if not micro.is_dir():
                log.info("%s has no micro/ folder (no micro-expressions)", subject_dir)
                continue
            for emotion_dir in sorted(p for p in micro.iterdir() if p.is_dir()):
                emotion = emotion_dir.name
                if emotion.lower() not in EMOTIONS:
                    problems.append(
                        Problem(
                            f"unknown emotion folder {emotion!r} (expected one "
                            f"of {', '.join(sorted(EMOTIONS))})",
                            file=str(emotion_dir),
                        )
                    )
                    continue
                for clip_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
                    record = self._record(subject, emotion, clip_dir, problems)
                    if record is not None:
                        records.append(record)
        return records, problems

    def _record(
        self, subject: str, emotion: str, folder: Path, problems: list[Problem]
    ) -> ClipRecord | None:
        where = str(folder)
        try:
            clip = normalise_clip(folder.name)
        except ValueError as exc:
            problems.append(Problem(str(exc), file=where))
            return None
        clip_id = ids.clip_id(self.name, subject, clip)
        if not clip.startswith(subject + "_"):
            problems.append(
                Problem(
                    f"clip {folder.name!r} is filed under subject "
                    f"{folder.parent.parent.parent.name!r}",
                    clip_id=clip_id,
                    file=where,
                )
            )
            return None
        abbreviation = clip.split("_")[1]
        if abbreviation != EMOTION_ABBREVIATIONS[emotion.lower()]:
            problems.append(
                Problem(
                    f"clip {folder.name!r} ('{abbreviation}') is filed under emotion {emotion!r}",
                    clip_id=clip_id,
                    file=where,
                )
            )
            return None
        frames = sorted(number_frames(folder))
        if not frames:
            problems.append(Problem("no frames in the clip folder", clip_id=clip_id, file=where))
            return None
        return ClipRecord(
            dataset=self.name,
            subject=subject,
            clip=clip,
            emotion=emotion,
            aus="",
            onset=frames[0],
            apex=None,
            offset=frames[-1],
            fps=FPS[self.modality],
            source=self.source_of(folder),
            extra={"modality": self.modality, "bounds": "folder"},
        )

    def _apply_smic_e(self, records: list[ClipRecord], path: Path) -> list[Problem]:
        """Take onset/apex/offset from a SMIC-E workbook for the clips it lists: from the
        sheet named after the modality (the release has ``HS`` and ``VIS``), else the first."""
        sheet = self.modality if self.modality in sheet_names(path) else None
        table = self.read_annotation_table(path, sheet=sheet, required=SMIC_E_COLUMNS)
        by_key = {(r.subject, r.clip): r for r in records}
        problems: list[Problem] = []
        updated: set[str] = set()
        for _, cells in table.iterrows():
            row = AnnotationRow(cells, path)
            try:
                subject = normalise_subject(row.text("Subject"))
                clip = normalise_clip(row.text("Filename"))
            except ValueError as exc:
                row.problem(str(exc))
                problems += row.problems
                continue
            clip_id = ids.clip_id(self.name, subject, clip)
            record = by_key.get((subject, clip))
            if record is None:
                row.problem(f"no clip folder for {clip} of {subject} under {self.modality}")
                row.tag(clip_id)
                problems += row.problems
                continue
            onset = row.frame("OnsetF")
            offset = row.frame("OffsetF")
            apex = (
                row.frame("ApexF", optional=True, missing_values=(-1,))
                if row.has("ApexF")
                else None
            )
            emotion = row.text("Emotion")
            if emotion.lower() != record.emotion.lower():
                row.problem(
                    f"Emotion {emotion!r} disagrees with the clip's folder {record.emotion!r}"
                )
            row.check_order(onset, apex, offset)
            if not row.done(problems, clip_id):
                continue
            assert onset is not None and offset is not None  # a done row has both
            record.onset, record.apex, record.offset = onset, apex, offset
            record.annotation_file, record.annotation_row = path.name, row.number
            record.extra["bounds"] = "annotation"
            updated.add(clip_id)
        unlisted = len(records) - len(updated)
        if unlisted:
            log.warning(
                "%d of %d SMIC %s clips have no row in %s: they keep the folder's first "
                "and last frames as onset and offset",
                unlisted,
                len(records),
                self.modality,
                path.name,
            )
        # A clip whose row is wrong must not slip through with folder bounds.
        bad = {p.clip_id for p in problems}
        records[:] = [r for r in records if r.clip_id not in bad]
        return problems
