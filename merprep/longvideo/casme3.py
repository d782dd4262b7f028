"""CAS(ME)^3 part A long videos: one recording per subject and stimulus (``a``-``m``).

As shipped (docs/references.md#lv-3): ``part_A/data/part_A_split/part_A/spNO.1/a/color/37.jpg``
(file name = frame number, no fixed start, frames dropped in places: never assume position =
number), 30 fps, annotations ``part_A/annotation/CAS(ME)3_part_A_v2.xls`` (legacy BIFF; read
with xlrd): sheet ``AU+Emotion``, header row 1, ``Subject, Filename, Onset, Apex, Offset, AU,
Expression type, Objective class`` (``Macro-expression`` / ``Micro-expression``); sheet ``eye
blink`` (``Subject, Filename, Onset, Offset``) is kept per video in ``extra.eye_blinks``.

Emotions: the micro-expression rows take ``emotion`` from
``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` (found beside the workbook, or the option
``emotion_labels``), joined on (Subject, Filename, Onset, Apex, Offset), which matches the 860
ME rows one to one. Quirks (reported by row): ``Filename`` written in upper case (``J``; the
folder is ``j``); a micro-expression longer than :data:`LONG_ME_SECONDS` (kept as annotated).
"""

from __future__ import annotations

import re
from pathlib import Path

from merprep.datasets.base import FrameSource, number_frames
from merprep.datasets.files import find_file
from merprep.errors import AnnotationError, MerprepError
from merprep.longvideo.base import Annotations, FrameLimits, LongVideoAdapter
from merprep.longvideo.records import MAE, ME, Interval, VideoRecord
from merprep.longvideo.sheets import Row, find_row, read_rows, sheet_names

NAME = "casme3-long"
FPS = 30.0
FRAMES = (
    "part_A/data/part_A_split/part_A",
    "data/part_A_split/part_A",
    "part_A_split/part_A",
    "data/part_A",
    "part_A",
    "",
)
PATTERNS = ("CAS(ME)3_part_A_v2.xls", "*part_A_v2.xls", "*CAS*ME*3*part*A*v*.xls")
LABEL_PATTERNS = ("cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", "*part_A*ME*label*JpgIndex*.xls*")
SHEET, BLINK_SHEET = "AU+Emotion", "eye blink"
COLUMNS = ("Subject", "Filename", "Onset", "Apex", "Offset", "Expression type")
TYPES = {"macro-expression": MAE, "micro-expression": ME}
VIDEOS = "abcdefghijklm"
#: micro-expressions longer than this are reported (one runs 5-3460; meb shortens it)
LONG_ME_SECONDS = 4.0
_SUBJECT = re.compile(r"^spNO\.\d+$")


class Adapter(LongVideoAdapter):
    name = NAME
    fps = FPS
    #: the 0.5 s rule at 30 fps, with the CAS(ME)^2 baseline's lower bound
    limits = FrameLimits(7, 16)
    annotation_patterns = PATTERNS
    option_names = ("emotion_labels",)
    frame_gaps_expected = True

    def frames_root(self) -> Path:
        for c in FRAMES:
            p = self.root / c if c else self.root
            if p.is_dir() and any(_SUBJECT.match(q.name) for q in p.iterdir() if q.is_dir()):
                return p
        raise MerprepError(
            "no CAS(ME)^3 part A videos found: expected part_A/data/part_A_split/part_A/ "
            "with spNO.*/ folders",
            file=self.root,
        )

    def list_videos(self) -> list[VideoRecord]:
        out = []
        for subject in sorted(self.frames_root().iterdir()):
            if not (subject.is_dir() and _SUBJECT.match(subject.name)):
                continue
            for video in sorted(subject.iterdir()):
                color = video / "color"
                if video.is_dir() and color.is_dir():
                    out.append(
                        VideoRecord(NAME, subject.name, video.name, FPS, self.relative(color))
                    )
        return out

    def frame_source(self, video: VideoRecord) -> FrameSource:
        folder = self.root / video.source
        if not folder.is_dir():
            raise MerprepError("video folder not found", file=folder)
        return FrameSource(frames=number_frames(folder, (".jpg",)))

    def read_annotations(self) -> Annotations:
        path = self.require_annotations()
        names = sheet_names(path)
        rows = read_rows(path, SHEET if SHEET in names else 0)
        at = find_row(rows[:5], COLUMNS)
        if at is None:
            raise AnnotationError(f"no header row with {', '.join(COLUMNS)}", file=path)
        header = rows[at][1]
        emotions = self._emotions(path)
        ann = Annotations(file=path)
        videos: dict[tuple[str, str], VideoRecord] = {}
        for number, cells in rows[at + 1 :]:
            row = Row(path, number, cells, header)
            if row.blank():
                continue
            subject, video = self._names(row)
            onset, apex, offset = (row.frame(c) for c in ("Onset", "Apex", "Offset"))
            type_text = row.text("Expression type")
            kind = TYPES.get(type_text.lower())
            if kind is None:
                row.problem(f"Expression type {type_text!r} is neither Macro- nor Micro-expression")
            if row.ok and onset is not None and offset is not None and apex is not None:
                if not onset <= apex <= offset:
                    row.problem(f"frames out of order: {onset}, {apex}, {offset}")
            vid = f"{NAME}/{subject}/{video}" if subject and video else None
            if not row.ok or None in (subject, video, onset, apex, offset, kind):
                for p in row.problems:
                    p.clip_id = vid
                ann.problems += row.problems
                continue
            assert onset is not None and offset is not None and kind is not None
            assert subject is not None and video is not None
            notes = []
            length = offset - onset + 1
            if kind == ME and length > LONG_ME_SECONDS * FPS:
                notes.append(f"micro-expression of {length} frames ({length / FPS:.1f} s); kept")
            if row.text("Filename") != video:
                notes.append(f"Filename {row.text('Filename')!r} read as video {video!r}")
            for n in notes:
                row.quirk(n)
            for q in row.quirks:
                q.clip_id = vid
            ann.quirks += row.quirks
            key = (subject, row.text("Filename").lower(), onset, apex, offset)
            interval = Interval(
                onset=onset,
                offset=offset,
                type=kind,
                apex=apex,
                aus=row.text("AU"),
                emotion=emotions.get(key, "") if kind == ME else "",
                verbatim={
                    c.lower().replace(" ", "_"): row.verbatim(c)
                    for c in ("Filename", "Onset", "Apex", "Offset", "AU", "Expression type")
                },
                annotation_file=path.name,
                annotation_row=number,
                notes=notes,
                extra={"objective_class": row.text("Objective class")},
            )
            videos.setdefault((subject, video), VideoRecord(NAME, subject, video, FPS))
            videos[(subject, video)].intervals.append(interval)
        if BLINK_SHEET in names:
            self._blinks(path, read_rows(path, BLINK_SHEET), videos)
        ann.videos = [videos[k] for k in sorted(videos, key=_video_order)]
        return ann

    @staticmethod
    def _names(row: Row) -> tuple[str | None, str | None]:
        subject = row.text("Subject")
        if not _SUBJECT.match(subject):
            row.problem(f"Subject is not spNO.<number>: {subject!r}")
            subject = ""
        video = row.text("Filename").lower()
        if video not in VIDEOS or not video:
            row.problem(f"Filename is not a stimulus letter a-m: {row.text('Filename')!r}")
            video = ""
        return subject or None, video or None

    def _emotions(self, workbook: Path) -> dict[tuple, str]:
        path = self.options.get("emotion_labels") or find_file(
            [workbook.parent, self.root], LABEL_PATTERNS, depth=1
        )
        if not path:
            return {}
        rows = read_rows(Path(path), "label" if "label" in sheet_names(Path(path)) else 0)
        at = find_row(rows[:5], ("Subject", "Filename", "Onset", "emotion"))
        if at is None:
            raise AnnotationError("no header row with Subject, Filename, Onset, emotion", file=path)
        out = {}
        for number, cells in rows[at + 1 :]:
            row = Row(Path(path), number, cells, rows[at][1])
            frames = tuple(row.frame(c, optional=True) for c in ("Onset", "Apex", "Offset"))
            key = (row.text("Subject"), row.text("Filename").lower(), *frames)
            if row.text("Subject"):
                out[key] = row.text("emotion")
        return out

    @staticmethod
    def _blinks(path: Path, rows: list, videos: dict[tuple[str, str], VideoRecord]) -> None:
        at = find_row(rows[:5], ("Subject", "Filename", "Onset", "Offset"))
        if at is None:
            return
        for number, cells in rows[at + 1 :]:
            row = Row(path, number, cells, rows[at][1])
            key = (row.text("Subject"), row.text("Filename").lower())
            onset, offset = row.frame("Onset", optional=True), row.frame("Offset", optional=True)
            if key in videos and onset is not None and offset is not None:
                videos[key].extra.setdefault("eye_blinks", []).append([onset, offset])


def _video_order(key: tuple[str, str]) -> tuple[int, str]:
    return int(key[0].split(".")[1]), key[1]
