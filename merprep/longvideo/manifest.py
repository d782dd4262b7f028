"""Any long video, through a CSV manifest (dataset ``video``): no annotations needed.

Columns (header required, order free): ``subject``, ``video`` (a name, unique within the
subject), ``source`` (a video file or a folder of numbered frames, relative to the manifest's
folder), ``fps`` (blank for a video file: read from the file). Optional, to evaluate on your
own annotations, one row per interval (repeat the video's row): ``onset``, ``apex``,
``offset`` (frame numbers: the number in the file name, or the 0-based index in a video),
``type`` (``me``/``mae``, or micro/macro spelled out), ``emotion``, ``aus``. A row with a blank
onset is a video without intervals.
"""

from __future__ import annotations

from pathlib import Path

from merprep import ids
from merprep.datasets.base import FrameSource
from merprep.errors import AnnotationError, MerprepError
from merprep.longvideo.base import Annotations, FrameLimits, LongVideoAdapter
from merprep.longvideo.records import MAE, ME, Interval, VideoRecord
from merprep.longvideo.sheets import Row, find_row, read_rows

NAME = "video"
REQUIRED = ("subject", "video", "source")
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def type_of(text: str) -> str | None:
    t = text.strip().lower().replace("_", "-")
    if t in ("me", "micro", "micro-expression") or t.startswith("micro"):
        return ME
    if t in ("mae", "macro", "macro-expression") or t.startswith("macro"):
        return MAE
    return None


class Adapter(LongVideoAdapter):
    name = NAME
    fps = 30.0  # only a default: each row's fps (or the video file's) is used
    limits = FrameLimits.from_fps(30.0)
    annotation_patterns = ("manifest.csv",)

    def __init__(self, root: Path | str, annotations: Path | str | None = None, **options):
        super().__init__(root, annotations, **options)
        self._rows: list[VideoRecord] | None = None
        self._ann: Annotations | None = None

    def find_annotations(self) -> Path | None:
        if self.annotations is not None:
            return self.annotations
        candidate = self.root / "manifest.csv"
        return candidate if candidate.is_file() else None

    def read_annotations(self) -> Annotations:
        if self._ann is not None:
            return self._ann
        path = self.find_annotations()
        if path is None:
            raise AnnotationError("no manifest: pass --annotations MANIFEST.csv", file=self.root)
        rows = read_rows(path)
        at = find_row(rows[:1], REQUIRED)
        if at is None:
            raise AnnotationError(
                f"the first row must be a header with {', '.join(REQUIRED)}", file=path
            )
        header = [str(h).strip().lower() for h in rows[at][1]]
        ann = Annotations(file=path)
        videos: dict[str, VideoRecord] = {}
        for number, cells in rows[at + 1 :]:
            row = Row(path, number, cells, header)
            if row.blank():
                continue
            video = self._video(row, path)
            if video is None:
                ann.problems += row.problems
                continue
            known = videos.setdefault(video.video_id, video)
            if known.source != video.source:
                row.problem(f"{video.video_id} is listed with two sources")
            interval = self._interval(row)
            if not row.ok:
                for p in row.problems:
                    p.clip_id = video.video_id
                ann.problems += row.problems
                continue
            if interval is not None:
                known.intervals.append(interval)
        ann.videos = [videos[k] for k in sorted(videos)]
        self._ann = ann
        return ann

    def _video(self, row: Row, path: Path) -> VideoRecord | None:
        subject, name, source = row.text("subject"), row.text("video"), row.text("source")
        for what, value in (("subject", subject), ("video", name)):
            if not ids.is_safe_name(value):
                row.problem(f"{what} is not a safe name (letters, digits, _ . -): {value!r}")
        target = Path(source)
        target = target if target.is_absolute() else path.parent / target
        fps = row.numeric("fps", optional=True) if "fps" in row.columns else None
        if not source:
            row.problem("source is empty")
        elif fps is None and target.suffix.lower() not in VIDEO_SUFFIXES:
            row.problem("fps is empty (needed for a folder of frames)")
        if not row.ok:
            return None
        if fps is None:
            from merprep.frames.decode import video_fps

            fps = video_fps(target) if target.is_file() else None
            if fps is None:
                row.problem(f"cannot read the frame rate of {source}; give fps")
                return None
        if fps <= 0:
            row.problem(f"fps must be positive, got {fps:g}")
            return None
        return VideoRecord(NAME, subject, name, fps, self.relative(target))

    @staticmethod
    def _interval(row: Row) -> Interval | None:
        if "onset" not in row.columns or not row.text("onset"):
            return None
        onset, offset = row.frame("onset"), row.frame("offset")
        apex = row.frame("apex", optional=True) if "apex" in row.columns else None
        kind = type_of(row.text("type")) if "type" in row.columns else None
        if kind is None:
            row.problem(f"type must be me or mae, got {row.text('type')!r}")
        if row.ok and onset is not None and offset is not None:
            if onset > offset or (apex is not None and not onset <= apex <= offset):
                row.problem(f"frames out of order: {onset}, {apex}, {offset}")
        if not row.ok or onset is None or offset is None or kind is None:
            return None
        return Interval(
            onset=onset,
            offset=offset,
            type=kind,
            apex=apex,
            aus=row.text("aus") if "aus" in row.columns else "",
            emotion=row.text("emotion") if "emotion" in row.columns else "",
            annotation_file=row.file.name,
            annotation_row=row.number,
        )

    def list_videos(self) -> list[VideoRecord]:
        out = []
        for v in self.read_annotations().videos:
            if not (self.root / v.source).exists():
                continue
            out.append(VideoRecord(v.dataset, v.subject, v.video, v.fps, v.source))
        return out

    def frame_source(self, video: VideoRecord) -> FrameSource:
        path = self.root / video.source
        if not path.exists():
            raise MerprepError("video not found", file=path)
        return super().frame_source(video)

    def limits_for(self, fps: float) -> FrameLimits:
        """Any frame rate: the 0.5 s rule at the video's own fps."""
        return FrameLimits.from_fps(fps)
