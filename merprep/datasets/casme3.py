"""CAS(ME)^3, part A (lab, 13 stimulus videos per subject) and part C (mock crime).

**Part A** as shipped (docs/references.md#casme3): frames in
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
docs/references.md#casme3 gives no folder layout for part C. Assumed here, mirroring part A:
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

from merprep import ids
from merprep.datasets.base import (
    ClipRecord,
    DatasetAdapter,
    FrameSource,
    number_frames,
)
from merprep.datasets.tables import AnnotationRow, find_file
from merprep.errors import AnnotationError, MerprepError, Problem

log = logging.getLogger(__name__)

FPS = 30.0
PARTS = ("A", "C")
DATASET_NAMES = {"A": "casme3", "C": "casme3c"}

# Part A
A_FRAMES = (
    "part_A/data/part_A_split/part_A",
    "data/part_A_split/part_A",
    "part_A_split/part_A",
    "part_A",
    "",
)
A_PATTERNS = (
    "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
    "*part_A*ME*label*.xls*",
    "*partA*ME*label*.xls*",
)
A_SHEET = "label"
A_COLUMNS = ("Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion")
A_EMOTIONS = frozenset({"disgust", "surprise", "others", "fear", "anger", "sad", "happy"})
VIDEOS = "abcdefghijklm"

# Part C
C_FRAMES = (
    "part_C/data/part_C_split/part_C",
    "data/part_C_split/part_C",
    "part_C_split/part_C",
    "part_C",
    "",
)
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
    def frames_layouts(self) -> tuple[str, ...]:
        return (A_FRAMES if self.part == "A" else C_FRAMES)[:1]

    def frames_root(self) -> Path:
        """The folder holding the subject folders of the chosen part."""
        suffixes = A_FRAMES if self.part == "A" else C_FRAMES
        is_subject = _A_SUBJECT.match if self.part == "A" else _C_SUBJECT.match
        for suffix in suffixes:
            candidate = self.root / suffix if suffix else self.root
            if candidate.is_dir() and any(
                p.is_dir() and is_subject(p.name) for p in candidate.iterdir()
            ):
                return candidate
        example = A_FRAMES[0] + "/spNO.1/a/color" if self.part == "A" else C_FRAMES[0] + "/1/color"
        raise MerprepError(
            f"no CAS(ME)^3 part {self.part} frames found: expected {example}/ "
            "here, or point --root at the folder holding the subject folders",
            file=self.root,
        )

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
            raise AnnotationError(
                f"no CAS(ME)^3 part {self.part} annotation workbook ({wanted}) "
                "found under --root, its part folder's annotation/ or their "
                "parents; pass --annotations FILE",
                file=self.root,
            )
        if self.part == "A":
            return self._read_part_a(path)
        return self._read_part_c(path)

    # -- part A ----------------------------------------------------------------------------------
    def _read_part_a(self, path: Path) -> tuple[list[ClipRecord], list[Problem]]:
        table = self.read_annotation_table(path, sheet=A_SHEET, required=A_COLUMNS)
        frames_root = self.frames_root()
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        for _, cells in table.iterrows():
            row = AnnotationRow(cells, path)
            subject = row.name("Subject", what="subject name")
            written = row.text("Filename")
            video = written.lower()
            if len(video) != 1 or video not in VIDEOS:
                row.problem(f"Filename is not a stimulus video a-m: {written!r}")
                video = ""
            onset = row.frame("Onset")
            apex = row.frame("Apex", optional=True)
            offset = row.frame("Offset")
            emotion = row.emotion("emotion", A_EMOTIONS)
            row.check_order(onset, apex, offset)
            clip = f"{video}_{onset}" if video and onset is not None else None
            if not row.done(problems, subject and clip and ids.clip_id(self.name, subject, clip)):
                continue
            # a row that is done has every required cell
            assert subject and clip and onset is not None and offset is not None
            video_dir = frames_root / subject / video
            if not video_dir.is_dir() and (frames_root / subject / written).is_dir():
                video_dir = frames_root / subject / written
            extra: dict[str, Any] = {
                "objective_class": row.text("Objective class"),
                "video": video,
                "depth_source": self.source_of(video_dir / "depth"),
            }
            if written != video:
                extra["filename_written"] = written
            records.append(
                ClipRecord(
                    dataset=self.name,
                    subject=subject,
                    clip=clip,
                    emotion=emotion,
                    aus=row.text("AU"),
                    onset=onset,
                    apex=apex,
                    offset=offset,
                    fps=FPS,
                    source=self.source_of(video_dir / "color"),
                    annotation_file=path.name,
                    annotation_row=row.number,
                    extra=extra,
                )
            )
        return records, problems

    # -- part C ----------------------------------------------------------------------------------
    def _read_part_c(self, path: Path) -> tuple[list[ClipRecord], list[Problem]]:
        table = self.read_annotation_table(path, sheet=C_SHEET, required=C_COLUMNS)
        frames_root = self.frames_root()
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        for _, cells in table.iterrows():
            row = AnnotationRow(cells, path)
            number = row.frame("sub", minimum=1)
            count = row.frame("count", minimum=1)
            onset = row.frame("onset")
            offset = row.frame("offset")
            emotion = row.emotion("emotion", C_EMOTIONS)
            row.check_order(onset, None, offset)
            subject = f"sub{number:02d}" if number is not None else None
            clip = f"me{count:02d}" if count is not None else None
            if not row.done(problems, subject and clip and ids.clip_id(self.name, subject, clip)):
                continue
            # a row that is done has every required cell
            assert (
                subject and clip and number is not None and onset is not None and offset is not None
            )
            folder = self._part_c_folder(frames_root, number)
            records.append(
                ClipRecord(
                    dataset=self.name,
                    subject=subject,
                    clip=clip,
                    emotion=emotion,
                    aus=row.text("au"),
                    onset=onset,
                    apex=None,
                    offset=offset,
                    fps=FPS,
                    source=self.source_of(folder / "color"),
                    annotation_file=path.name,
                    annotation_row=row.number,
                    extra={
                        "sub": number,
                        "count": count,
                        "frame_index": f"position in the folder, from {FIRST_POSITION}",
                    },
                )
            )
        return records, problems

    @staticmethod
    def _part_c_folder(frames_root: Path, number: int) -> Path:
        """The subject's folder: ``1``, ``01``, ``sub1``, ``sub01`` or ``spNO.1`` (the first that
        exists; ``1`` when none does, so the validation pass reports it missing)."""
        for name in (
            str(number),
            f"{number:02d}",
            f"sub{number}",
            f"sub{number:02d}",
            f"spNO.{number}",
        ):
            if (frames_root / name).is_dir():
                return frames_root / name
        return frames_root / str(number)

    # -- frames ----------------------------------------------------------------------------------
    def frame_source(self, record: ClipRecord) -> FrameSource:
        folder = self.top_folder() / record.source
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
