"""CAS(ME)^3, part A (lab, 13 stimulus videos per subject) and part C (mock crime).

**Part A** as shipped (see FORMATS.md): frames in
``part_A/data/part_A_split/part_A/spNO.1/a/color/355.jpg`` (file name = frame number; depth in
``.../depth/``), annotations ``part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``,
sheet ``label``: ``Subject`` (``spNO.1``), ``Filename`` (stimulus video ``a``-``m``), ``Onset``,
``Apex``, ``Offset`` (jpg numbers), ``AU``, ``Objective class`` (I-VII), ``emotion``. 30 fps,
1280x720. ``--root`` may be the folder holding ``part_A/``, ``part_A/`` itself, or the frames
folder holding the ``spNO.*`` folders; the workbook is looked for beside each of them.

Quirks handled here:

- One stimulus video may hold several micro-expressions, so (Subject, Filename) is not unique.
  Clip ids are ``<video>_<onset>`` (``casme3/spNO.1/a_355``): stable when rows are reordered or
  added, readable, and unique as long as no two rows of one video share an onset (a repeated id is
  reported as a duplicate by the validation pass).
- Frames are dropped in places: gaps between onset and offset are expected (sampling takes the
  nearest frame on disk); only a missing onset frame or offset beyond the folder is a problem.
- Every cell of the sheet is text (``'355'``); numbers are parsed, AUs and emotions kept verbatim
  (``Others`` capitalised a few times: checked case-insensitively, kept as written).
- One row writes the video letter in upper case (``J``): the folder and clip id use the lower
  case letter the release's folders have; the record keeps ``extra.filename_written``.
- Four rows of v2 have onset > apex or offset (e.g. an offset of 0): reported as problems by the
  validation pass (``--skip-invalid`` records them), never repaired.
- Subjects are kept verbatim (``spNO.1``); they are checked to be safe as a path component.

**Part C** (``part="C"``, dataset name ``casme3c``): ``CAS(ME)3_part_C_ME.xlsx``, sheet
``mockCrimeME``, columns ``sub, count, onset, offset, au, emotion`` (negative, positive,
surprise, others; AU cells like ``R4,5``, a lone AU stored as a number); onset/offset are
*positions in the folder* (frames sorted by the number in their names), not file-name numbers.
FORMATS.md gives no folder layout for part C. Assumed here, mirroring part A:
``part_C/data/part_C_split/part_C/<sub>/color/<n>.jpg`` with the workbook in
``part_C/annotation/``; the subject folder may be named ``1``, ``01``, ``sub1``, ``sub01`` or
``spNO.1`` (looked up in that order), and positions count from 0 (the first file in the folder is
position 0; ``FIRST_POSITION``). Subjects are ``sub01``, clips ``me01`` (from ``count``), apex
missing (not annotated). The dataset name differs from part A's so that part A and part C clips
never share an id and tasks map part C's own emotion words.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from merprep.datasets.base import (ClipRecord, DatasetAdapter, FrameSource, is_safe_name,
                                   number_frames)
from merprep.datasets.tables import (cell_problems, check_frame_order, find_file, int_cell,
                                     read_table, tag_problems, text_cell)
from merprep.errors import AnnotationError, MerprepError, Problem

log = logging.getLogger(__name__)

FPS = 30.0
PARTS = ("A", "C")
DATASET_NAMES = {"A": "casme3", "C": "casme3c"}

# Part A
A_FRAMES = ("part_A/data/part_A_split/part_A", "data/part_A_split/part_A", "part_A_split/part_A",
            "part_A", "")
A_PATTERNS = ("cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", "*part_A*ME*label*.xls*",
              "*partA*ME*label*.xls*")
A_SHEET = "label"
A_COLUMNS = ("Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion")
A_EMOTIONS = frozenset({"disgust", "surprise", "others", "fear", "anger", "sad", "happy"})
VIDEOS = "abcdefghijklm"

# Part C
C_FRAMES = ("part_C/data/part_C_split/part_C", "data/part_C_split/part_C", "part_C_split/part_C",
            "part_C", "")
C_PATTERNS = ("CAS(ME)3_part_C_ME.xlsx", "*part_C_ME*.xls*", "*partC_ME*.xls*")
C_SHEET = "mockCrimeME"
C_COLUMNS = ("sub", "count", "onset", "offset", "au", "emotion")
C_EMOTIONS = frozenset({"negative", "positive", "surprise", "others"})
#: position of the first file in a part C folder (assumed 0; see the module docstring)
FIRST_POSITION = 0

_A_SUBJECT = re.compile(r"^spNO\.\d+$", re.IGNORECASE)
_C_SUBJECT = re.compile(r"^(?:spNO\.|sub)?0*(\d+)$", re.IGNORECASE)


class Adapter(DatasetAdapter):
    name = "casme3"
    emotions = A_EMOTIONS
    option_names = ("part",)
    frame_gaps_expected = True  # part A drops frames; part C positions have no gaps anyway

    def __init__(self, root: Path | str, annotations: Path | str | None = None, **options: Any):
        super().__init__(root, annotations, **options)
        self.part = str(options.get("part") or "A").upper()
        if self.part not in PARTS:
            raise MerprepError(f"CAS(ME)^3 part must be A or C, got {options.get('part')!r}")
        self.name = DATASET_NAMES[self.part]
        self.emotions = A_EMOTIONS if self.part == "A" else C_EMOTIONS
        self._listing: dict[Path, dict[int, Path]] = {}  # folder -> frames, listed once

    # -- where things are ------------------------------------------------------------------------
    def frames_root(self) -> Path:
        """The folder holding the subject folders of the chosen part."""
        suffixes = A_FRAMES if self.part == "A" else C_FRAMES
        is_subject = _A_SUBJECT.match if self.part == "A" else _C_SUBJECT.match
        for suffix in suffixes:
            candidate = self.root / suffix if suffix else self.root
            if candidate.is_dir() and any(p.is_dir() and is_subject(p.name)
                                          for p in candidate.iterdir()):
                return candidate
        example = A_FRAMES[0] + "/spNO.1/a/color" if self.part == "A" else \
            C_FRAMES[0] + "/1/color"
        raise MerprepError(f"no CAS(ME)^3 part {self.part} frames found: expected {example}/ "
                           "here, or point --root at the folder holding the subject folders",
                           file=self.root)

    def find_annotations(self) -> Path | None:
        if self.annotations is not None:
            return self.annotations
        part = f"part_{self.part}"
        folders = []
        for base in [self.root, *list(self.root.parents)[:4]]:
            folders += [base, base / "annotation", base / part / "annotation"]
        patterns = A_PATTERNS if self.part == "A" else C_PATTERNS
        return find_file(folders, patterns, depth=0)

    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        path = self.find_annotations()
        if path is None:
            wanted = A_PATTERNS[0] if self.part == "A" else C_PATTERNS[0]
            raise AnnotationError(f"no CAS(ME)^3 part {self.part} annotation workbook ({wanted}) "
                                  "found under --root, its part folder's annotation/ or their "
                                  "parents; pass --annotations FILE", file=self.root)
        if self.part == "A":
            return self._read_part_a(path)
        return self._read_part_c(path)

    # -- part A ----------------------------------------------------------------------------------
    def _read_part_a(self, path: Path) -> tuple[list[ClipRecord], list[Problem]]:
        table = read_table(path, sheet=A_SHEET, required=A_COLUMNS)
        frames_root = self.frames_root()
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        for _, row in table.iterrows():
            n = int(row["__row__"])
            before = len(problems)
            problems += cell_problems(row, path)
            subject = text_cell(row["Subject"])
            if not subject:
                problems.append(Problem("Subject is empty", file=str(path), row=n))
            elif not is_safe_name(subject):
                problems.append(Problem(f"Subject is not a valid name: {subject!r}",
                                        file=str(path), row=n))
                subject = ""
            written = text_cell(row["Filename"])
            video = written.lower()
            if len(video) != 1 or video not in VIDEOS:
                problems.append(Problem(f"Filename is not a stimulus video a-m: {written!r}",
                                        file=str(path), row=n))
                video = ""
            onset = int_cell(row["Onset"], column="Onset", file=path, row=n, problems=problems)
            apex = int_cell(row["Apex"], column="Apex", file=path, row=n, problems=problems,
                            allow_missing=True)
            offset = int_cell(row["Offset"], column="Offset", file=path, row=n,
                              problems=problems)
            emotion = text_cell(row["emotion"])
            if emotion.lower() not in A_EMOTIONS:
                problems.append(Problem(f"unknown emotion {emotion!r} (expected one of "
                                        f"{', '.join(sorted(A_EMOTIONS))})", file=str(path), row=n))
            if len(problems) == before:
                check_frame_order(onset, apex, offset, file=path, row=n, problems=problems)
            clip = f"{video}_{onset}" if video and onset is not None else None
            if subject and clip:
                tag_problems(problems[before:], f"{self.name}/{subject}/{clip}")
            if len(problems) > before:
                continue
            video_dir = frames_root / subject / video
            if not video_dir.is_dir() and (frames_root / subject / written).is_dir():
                video_dir = frames_root / subject / written
            extra: dict[str, Any] = {"objective_class": text_cell(row["Objective class"]),
                                     "video": video,
                                     "depth_source": _relative(video_dir / "depth", self.root)}
            if written != video:
                extra["filename_written"] = written
            records.append(ClipRecord(
                dataset=self.name, subject=subject, clip=clip, emotion=emotion,
                aus=text_cell(row["AU"]), onset=onset, apex=apex, offset=offset, fps=FPS,
                source=_relative(video_dir / "color", self.root), annotation_file=path.name,
                annotation_row=n, extra=extra))
        return records, problems

    # -- part C ----------------------------------------------------------------------------------
    def _read_part_c(self, path: Path) -> tuple[list[ClipRecord], list[Problem]]:
        table = read_table(path, sheet=C_SHEET, required=C_COLUMNS)
        frames_root = self.frames_root()
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        for _, row in table.iterrows():
            n = int(row["__row__"])
            before = len(problems)
            problems += cell_problems(row, path)
            number = int_cell(row["sub"], column="sub", file=path, row=n, problems=problems,
                              minimum=1)
            count = int_cell(row["count"], column="count", file=path, row=n, problems=problems,
                             minimum=1)
            onset = int_cell(row["onset"], column="onset", file=path, row=n, problems=problems)
            offset = int_cell(row["offset"], column="offset", file=path, row=n,
                              problems=problems)
            emotion = text_cell(row["emotion"])
            if emotion.lower() not in C_EMOTIONS:
                problems.append(Problem(f"unknown emotion {emotion!r} (expected one of "
                                        f"{', '.join(sorted(C_EMOTIONS))})", file=str(path), row=n))
            if len(problems) == before:
                check_frame_order(onset, None, offset, file=path, row=n, problems=problems)
            subject = f"sub{number:02d}" if number is not None else None
            clip = f"me{count:02d}" if count is not None else None
            if subject and clip:
                tag_problems(problems[before:], f"{self.name}/{subject}/{clip}")
            if len(problems) > before:
                continue
            folder = self._part_c_folder(frames_root, number)
            records.append(ClipRecord(
                dataset=self.name, subject=subject, clip=clip, emotion=emotion,
                aus=text_cell(row["au"]), onset=onset, apex=None, offset=offset, fps=FPS,
                source=_relative(folder / "color", self.root), annotation_file=path.name,
                annotation_row=n,
                extra={"sub": number, "count": count,
                       "frame_index": f"position in the folder, from {FIRST_POSITION}"}))
        return records, problems

    @staticmethod
    def _part_c_folder(frames_root: Path, number: int) -> Path:
        """The subject's folder: ``1``, ``01``, ``sub1``, ``sub01`` or ``spNO.1`` (the first that
        exists; ``1`` when none does, so the validation pass reports it missing)."""
        for name in (str(number), f"{number:02d}", f"sub{number}", f"sub{number:02d}",
                     f"spNO.{number}"):
            if (frames_root / name).is_dir():
                return frames_root / name
        return frames_root / str(number)

    # -- frames ----------------------------------------------------------------------------------
    def frame_source(self, record: ClipRecord) -> FrameSource:
        folder = self.root / record.source
        if folder not in self._listing:
            if not folder.is_dir():
                raise MerprepError("clip folder not found", file=folder)
            frames = number_frames(folder)
            if self.part == "C":  # annotated numbers are positions in the sorted folder
                frames = {FIRST_POSITION + i: frames[k] for i, k in enumerate(sorted(frames))}
            self._listing[folder] = frames
        frames = self._listing[folder]
        if self.part == "C" and record.onset in frames and record.offset in frames:
            # a whole recording per subject: hand on only this clip's frames
            frames = {k: p for k, p in frames.items() if record.onset <= k <= record.offset}
        return FrameSource(frames=dict(frames))


def _relative(folder: Path, root: Path) -> str:
    return folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
