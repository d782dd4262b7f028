"""CAS(ME)^2 long videos (``rawpic``), as used by MEGC2020/2021 spotting.

As shipped (docs/references.md#lv-1): ``rawpic/s15/15_0101disgustingteeth/img001.jpg`` (1-based,
zero-padded to at least 3 digits; sorted numerically), 30 fps, beside
``CAS(ME)^2code_final.xlsx``: three sheets, **no header row**, opened by position:

1. ``CASFEcode_final``: subject index, ``<video name>_<k>``, onset, apex, offset, AU, emotion
   (negative/positive/surprise/others), type (``macro-expression``/``micro-expression``), the
   participant's self-report; only columns A-I are read (a public copy adds J-M);
2. ``naming rule1``: row-aligned with sheet 1: subject number, folder (``s15``), subject index;
3. ``naming rule2``: 4-digit video code (stored as text) -> video name (``disgust1``).

Video ids are ``casme2-long/s15/0101`` (the code, which the baseline's lists use too); the
folder is found by its code (``s15/*_0101*``), typos in folder names and all.

Normalisation (the official MEGC2020 rule, so the ground truth equals the baseline's
``all_Info.txt``): offset 0 ("not annotated", 44 MaE rows) -> offset := apex; apex 0 -> apex :=
(onset + offset) // 2. Offset before apex (3 rows) is kept as written. Each is a quirk of its
row; the type is always column H (the lengths do not follow a duration rule).
"""

from __future__ import annotations

import re
from pathlib import Path

from merprep.errors import AnnotationError, MerprepError, Problem
from merprep.longvideo.base import Annotations, FrameLimits, LongVideoAdapter
from merprep.longvideo.records import MAE, ME, Interval, VideoRecord
from merprep.longvideo.sheets import Row, read_rows, sheet_names

NAME = "casme2-long"
FPS = 30.0
FRAMES = ("rawpic", "CAS(ME)^2/rawpic", "")
PATTERNS = (
    "CAS(ME)^2code_final.xlsx",
    "CAS(ME)^2code_final*.xlsx",
    "CAS(ME)2code_final*.xls*",
    "code_final.xlsx",
    "CASME_sq_gt.xlsx",
)
TYPES = {"macro-expression": MAE, "micro-expression": ME}
EMOTIONS = frozenset({"negative", "positive", "surprise", "others"})
#: the participants' self-reports as the release writes them (``happyiness`` is reported)
SELF_REPORTS = frozenset(
    {
        "anger",
        "disgust",
        "fear",
        "happiness",
        "sadness",
        "surprise",
        "helpless",
        "pain",
        "confused",
        "sympathy",
    }
)
_SUBJECT_FOLDER = re.compile(r"^s\d+$")
_VIDEO_FOLDER = re.compile(r"^(\d+)_(\d{4})")


class Adapter(LongVideoAdapter):
    name = NAME
    fps = FPS
    #: MEGC2020 baseline's post-filter for CAS(ME)^2: ME 7-16 frames, MaE from 17
    limits = FrameLimits(7, 16)
    annotation_patterns = PATTERNS

    def frames_root(self) -> Path:
        for c in FRAMES:
            p = self.root / c if c else self.root
            if p.is_dir() and any(_SUBJECT_FOLDER.match(q.name) for q in p.iterdir()):
                return p
        raise MerprepError(
            "no CAS(ME)^2 long videos found: expected rawpic/ with sNN/ folders",
            file=self.root,
        )

    def list_videos(self) -> list[VideoRecord]:
        out = []
        for subject in sorted(self.frames_root().iterdir()):
            if not (subject.is_dir() and _SUBJECT_FOLDER.match(subject.name)):
                continue
            for folder in sorted(subject.iterdir()):
                m = _VIDEO_FOLDER.match(folder.name)
                if folder.is_dir() and m:
                    out.append(
                        VideoRecord(
                            NAME,
                            subject.name,
                            m.group(2),
                            FPS,
                            self.relative(folder),
                            extra={"folder": folder.name},
                        )
                    )
        return out

    def read_annotations(self) -> Annotations:
        path = self.require_annotations()
        names = sheet_names(path)
        if len(names) < 3:
            raise AnnotationError(
                f"expected 3 sheets (CASFEcode_final, naming rule1, naming rule2), found "
                f"{len(names)}: {', '.join(names)}",
                file=path,
            )
        main = read_rows(path, 0)
        rule1 = dict(read_rows(path, 1))
        codes, problems, quirks = _video_codes(path, read_rows(path, 2))
        ann = Annotations(file=path, problems=problems, quirks=quirks)
        videos: dict[str, VideoRecord] = {}
        seen: dict[tuple[str, str], int] = {}
        for number, cells in main:
            row = Row(path, number, cells[:9])
            if row.blank():
                continue
            interval, subject, code = self._row(row, rule1.get(number), codes, seen)
            ann.quirks += row.quirks
            if interval is None or subject is None or code is None:
                for p in row.problems:
                    p.clip_id = f"{NAME}/{subject}/{code}" if subject and code else None
                ann.problems += row.problems
                continue
            video = videos.setdefault(f"{subject}/{code}", VideoRecord(NAME, subject, code, FPS))
            for q in row.quirks:
                q.clip_id = video.video_id
            video.intervals.append(interval)
        ann.videos = [videos[k] for k in sorted(videos)]
        return ann

    def _row(
        self,
        row: Row,
        rule1: list | None,
        codes: dict[str, str],
        seen: dict[tuple[str, str], int],
    ) -> tuple[Interval | None, str | None, str | None]:
        index = row.frame(0)
        name = row.text(1)
        subject = code = None
        if rule1 is None or len(rule1) < 3:
            row.problem("no matching row in sheet 'naming rule1'")
        else:
            folder = str(rule1[1]).strip()
            if rule1[2] != index:
                row.problem(
                    f"naming rule1 gives subject index {rule1[2]!r} on this row, "
                    f"the main sheet {index!r}"
                )
            elif not _SUBJECT_FOLDER.match(folder):
                row.problem(f"naming rule1 folder {folder!r} is not sNN")
            else:
                subject = folder
        video_name, _, k = name.rpartition("_")
        if not video_name or not k.isdigit():
            row.problem(f"column B is not <video name>_<count>: {name!r}")
        elif video_name not in codes:
            row.problem(f"video name {video_name!r} is not in sheet 'naming rule2'")
        else:
            code = codes[video_name]
        if subject and name:
            key = (subject, name)
            if key in seen:
                row.problem(f"duplicate {subject} {name} (first on row {seen[key]})")
            seen.setdefault(key, row.number)
        onset, apex, offset = row.frame(2), row.frame(3), row.frame(4)
        type_text = row.text(7)
        kind = TYPES.get(type_text.lower())
        if kind is None:
            row.problem(f"type {type_text!r} is neither macro-expression nor micro-expression")
        emotion = row.text(6)
        if emotion.lower() not in EMOTIONS:
            row.problem(f"unknown emotion {emotion!r} (expected {', '.join(sorted(EMOTIONS))})")
        report = row.text(8)
        if report and report.lower() not in SELF_REPORTS:
            row.quirk(f"self-report {report!r} is not one of the release's words (kept)")
        if not row.ok or onset is None or apex is None or offset is None or kind is None:
            return None, subject, code
        verbatim = {"onset": onset, "apex": apex, "offset": offset, "type": type_text}
        notes = []
        if offset == 0:
            offset = apex
            notes.append("offset 0 (not annotated): offset := apex (MEGC2020 rule)")
        if apex == 0:
            apex = (onset + offset) // 2
            notes.append("apex 0: apex := (onset + offset) // 2 (MEGC2020 rule)")
        if apex < onset or offset < onset:
            row.problem(f"onset {onset} is after apex {apex} or offset {offset}")
            return None, subject, code
        if offset < apex:
            notes.append(f"offset {offset} before apex {apex} (kept as written)")
        for n in notes:
            row.quirk(n)
        interval = Interval(
            onset=onset,
            offset=offset,
            type=kind,
            apex=apex,
            aus=row.text(5),
            emotion=emotion,
            verbatim={**verbatim, "video": name, "au": row.verbatim(5)},
            annotation_file=row.file.name,
            annotation_row=row.number,
            notes=notes,
            extra={"self_report": report, "subject_index": index},
        )
        return interval, subject, code


def _video_codes(
    path: Path, rows: list[tuple[int, list]]
) -> tuple[dict[str, str], list[Problem], list[Problem]]:
    """naming rule2: video name -> 4-digit code (a code read as a number gets its zeros back);
    returns (codes, problems, quirks)."""
    codes: dict[str, str] = {}
    problems: list[Problem] = []
    quirks: list[Problem] = []
    for number, cells in rows:
        row = Row(path, number, cells[:2])
        if row.blank():
            continue
        raw, name = row.verbatim(0), row.text(1)
        code = row.text(0)
        if isinstance(raw, (int, float)) or len(code) < 4:
            if code.isdigit():
                row.quirk(f"video code {raw!r} stored as a number; read as {code.zfill(4)}")
                code = code.zfill(4)
        if not (code.isdigit() and len(code) == 4 and name):
            problems.append(
                Problem(
                    f"naming rule2: not a 4-digit code and a video name: {cells[:2]!r}",
                    file=str(path),
                    row=number,
                )
            )
            continue
        codes[name] = code
        quirks += row.quirks
    return codes, problems, quirks
