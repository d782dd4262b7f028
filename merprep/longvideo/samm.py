"""SAMM Long Videos (``SAMM_longvideos``), as used by MEGC2020/2021 spotting.

As shipped (docs/references.md#lv-2): ``SAMM_longvideos/006_1/006_1_0001.jpg`` (1-based, 4 or 5
digits; sorted numerically), 2040x1088 grayscale at 200 fps, beside
``SAMM_LongVideos_V*_Release.xlsx``: sheet ``FACS_Movement_Only``, a preamble (title, symbol
key, the note that an apex not annotated is -1), the header on row 10 (looked for in the first
40 rows), columns ``Subject`` (text ``006``), ``Filename`` (``006_1_2``: video ``006_1``, the
2nd movement), ``Inducement Code``, ``Onset``, ``Apex``, ``Offset``, ``Duration`` (a formula;
not read), ``Type`` (``Macro`` / ``Micro - 1/2``), ``Action Units``, ``Notes``.

SAMM LV has no emotion column: with the option ``emotion_labels=SAMM_Micro_FACS_Codes_v2.xlsx``
the micro-expression rows take ``Estimated Emotion`` from that table, joined on ``Filename``
only (its frame numbers are on another time base; never used here).

Normalisation and quirks (each reported by row): fractional frames (143 Macro rows) rounded
half-up, ``int(x + 0.5)``, as the MEGC2020 baseline does; apex ``-1`` -> not annotated; onset 0
kept (the baseline keeps it); a ``Filename`` used twice (``037_4_1``) kept twice.
"""

from __future__ import annotations

import re
from pathlib import Path

from merprep.errors import AnnotationError, MerprepError, Problem
from merprep.longvideo.base import Annotations, FrameLimits, LongVideoAdapter
from merprep.longvideo.records import MAE, ME, Interval, VideoRecord, round_half_up
from merprep.longvideo.sheets import Row, find_row, read_rows, sheet_names

NAME = "samm-long"
FPS = 200.0
FRAMES = ("SAMM_longvideos", "")
PATTERNS = (
    "SAMM_LongVideos_V*_Release.xls*",
    "SAMMLV_gt.xlsx",
    "*SAMM*Long*Video*.xls*",
    "*SAMMLV*.xls*",
)
SHEET = "FACS_Movement_Only"
HEADER_ROW = 10
COLUMNS = ("Subject", "Filename", "Onset", "Apex", "Offset", "Type")
EMOTION_COLUMNS = ("Filename", "Estimated Emotion")
_VIDEO = re.compile(r"^(\d{3})_(\d+)$")
#: a stored frame within this of a whole number is that number (a formula's float noise)
NOISE = 1e-6


def normalise_subject(text: str) -> str:
    """``6``, ``06``, ``006`` -> ``006`` (the folder prefix)."""
    if not text.isdigit():
        raise ValueError(text)
    return f"{int(text):03d}"


class Adapter(LongVideoAdapter):
    name = NAME
    fps = FPS
    #: MEGC2020 baseline's post-filter for SAMM LV: ME 47-105 frames, MaE from 106
    limits = FrameLimits(47, 105)
    annotation_patterns = PATTERNS
    option_names = ("emotion_labels",)

    def frames_root(self) -> Path:
        for c in FRAMES:
            p = self.root / c if c else self.root
            if p.is_dir() and any(_VIDEO.match(q.name) for q in p.iterdir() if q.is_dir()):
                return p
        raise MerprepError(
            "no SAMM long videos found: expected SAMM_longvideos/ with 006_1/ folders",
            file=self.root,
        )

    def list_videos(self) -> list[VideoRecord]:
        out = []
        for folder in sorted(self.frames_root().iterdir()):
            m = _VIDEO.match(folder.name)
            if folder.is_dir() and m:
                out.append(VideoRecord(NAME, m.group(1), folder.name, FPS, self.relative(folder)))
        return out

    def read_annotations(self) -> Annotations:
        path = self.require_annotations()
        sheet: str | int = SHEET if SHEET in sheet_names(path) else 0
        rows = read_rows(path, sheet)
        at = find_row(rows[:40], COLUMNS)
        if at is None:
            raise AnnotationError(
                f"no header row with {', '.join(COLUMNS)} in the first 40 rows", file=path
            )
        ann = Annotations(file=path)
        header = rows[at][1]
        if rows[at][0] != HEADER_ROW:
            ann.quirks.append(
                Problem(
                    f"header on row {rows[at][0]} (the release has it on row {HEADER_ROW})",
                    file=str(path),
                    row=rows[at][0],
                )
            )
        emotions = self._emotions()
        videos: dict[str, VideoRecord] = {}
        seen: dict[str, int] = {}
        for number, cells in rows[at + 1 :]:
            row = Row(path, number, cells, header)
            if row.blank():
                continue
            interval, subject, video = self._row(row, seen, emotions)
            vid = f"{NAME}/{subject}/{video}" if subject and video else None
            for p in row.quirks + row.problems:
                p.clip_id = vid
            ann.quirks += row.quirks
            if interval is None or subject is None or video is None:
                ann.problems += row.problems
                continue
            videos.setdefault(video, VideoRecord(NAME, subject, video, FPS)).intervals.append(
                interval
            )
        ann.videos = [videos[k] for k in sorted(videos)]
        return ann

    def _row(
        self, row: Row, seen: dict[str, int], emotions: dict[str, str]
    ) -> tuple[Interval | None, str | None, str | None]:
        subject = None
        text = row.text("Subject")
        try:
            subject = normalise_subject(text)
        except ValueError:
            row.problem(f"Subject is not a subject number: {text!r}")
        filename = row.text("Filename")
        video, _, k = filename.rpartition("_")
        m = _VIDEO.match(video)
        if not m or not k.isdigit():
            row.problem(f"Filename is not <subject>_<inducement>_<count>: {filename!r}")
            video = ""
        elif subject and m.group(1) != subject:
            row.problem(f"Filename {filename!r} does not start with subject {subject}")
        if filename in seen:
            row.quirk(f"Filename {filename} also on row {seen[filename]} (both kept)")
        seen.setdefault(filename, row.number)
        code = row.text("Inducement Code") if "Inducement Code" in row.columns else ""
        if m and code and code != m.group(2):
            row.quirk(f"Inducement Code {code} differs from the Filename's {m.group(2)}")
        kind_text = row.text("Type")
        kind = MAE if kind_text == "Macro" else ME if kind_text.startswith("Micro") else None
        if kind is None:
            row.problem(f"Type {kind_text!r} is neither Macro nor Micro - 1/2")
        onset, apex, offset = (row.numeric(c) for c in ("Onset", "Apex", "Offset"))
        if not row.ok or onset is None or apex is None or offset is None or kind is None:
            return None, subject, video or None
        verbatim = {
            "onset": row.verbatim("Onset"),
            "apex": row.verbatim("Apex"),
            "offset": row.verbatim("Offset"),
            "type": kind_text,
            "filename": filename,
            "au": row.verbatim("Action Units"),
        }
        notes = []
        values = (onset, apex, offset)
        if any(v >= 0 and abs(v - round(v)) > NOISE for v in values):
            notes.append(
                "fractional frames rounded half-up (MEGC2020 rule): "
                + ", ".join(f"{v:.1f}->{round_half_up(v)}" for v in values)
            )
        elif any(not float(v).is_integer() for v in values):
            notes.append(
                "a frame stored with floating-point noise ("
                + ", ".join(repr(v) for v in values if not float(v).is_integer())
                + "), read as the nearest whole number"
            )
        on, off = round_half_up(onset), round_half_up(offset)
        ap: int | None = round_half_up(apex)
        if apex == -1:
            ap = None
            notes.append("apex -1: not annotated")
        if on == 0:
            notes.append("onset 0 (before frame 1; kept, as the MEGC2020 baseline does)")
        if min(onset, offset) < 0 or (ap is not None and ap < 0):
            row.problem(f"negative frame number ({onset:g}, {apex:g}, {offset:g})")
            return None, subject, video
        if on > off or (ap is not None and not on <= ap <= off):
            row.problem(f"frames out of order: onset {on}, apex {ap}, offset {off}")
            return None, subject, video
        for n in notes:
            row.quirk(n)
        emotion = emotions.get(filename, "") if kind == ME else ""
        interval = Interval(
            onset=on,
            offset=off,
            type=kind,
            apex=ap,
            aus=row.text("Action Units"),
            emotion=emotion,
            verbatim=verbatim,
            annotation_file=row.file.name,
            annotation_row=row.number,
            notes=notes,
            extra={"notes": row.text("Notes")} if "Notes" in row.columns else {},
        )
        return interval, subject, video

    def _emotions(self) -> dict[str, str]:
        """Filename -> Estimated Emotion from SAMM_Micro_FACS_Codes_v2 (option emotion_labels)."""
        path = self.options.get("emotion_labels")
        if not path:
            return {}
        rows = read_rows(Path(path), 0)
        at = find_row(rows[:40], EMOTION_COLUMNS)
        if at is None:
            raise AnnotationError(
                f"no header with {', '.join(EMOTION_COLUMNS)} in the first 40 rows", file=path
            )
        out = {}
        for number, cells in rows[at + 1 :]:
            row = Row(Path(path), number, cells, rows[at][1])
            if row.text("Filename"):
                out[row.text("Filename")] = row.text("Estimated Emotion")
        return out
