"""The generic manifest: one CSV row per clip, for users' own recordings.

Columns (header required, order free; see data_manifest.example.csv):

``dataset``   short name of the collection (letters, digits, ``_ . -``), part of the clip id
``subject``   subject / participant id (protocols group by it)
``clip``      clip name, unique within the subject
``source``    a folder of frame images (frame number = last number in each file name) or a
              video file (frame numbers = 0-based indices); relative to the manifest's folder
``onset``     first frame of the expression (blank: the first frame available)
``apex``      apex frame (blank: not annotated)
``offset``    last frame (blank: the last frame available)
``emotion``   free text, kept verbatim (tasks map it to classes)
``aus``       action units as written (``1+2``, ``R12``, ``4 or 7``), may be blank
``fps``       frame rate (blank for videos: read from the file)

Names may not contain ``/`` or ``..``: a clip id never escapes its place in the store.
"""

from __future__ import annotations

from pathlib import Path

from merprep import ids
from merprep.datasets.base import ClipRecord, DatasetAdapter, FrameSource, number_frames
from merprep.datasets.tables import AnnotationRow, strict_float
from merprep.errors import AnnotationError, MerprepError, Problem

COLUMNS = (
    "dataset",
    "subject",
    "clip",
    "source",
    "onset",
    "apex",
    "offset",
    "emotion",
    "aus",
    "fps",
)
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


class Adapter(DatasetAdapter):
    name = "manifest"

    def find_annotations(self) -> Path | None:
        if self.annotations is not None:
            return self.annotations
        candidate = self.root / "manifest.csv"
        return candidate if candidate.is_file() else None

    def _resolve(self, manifest: Path, source: str) -> Path:
        path = Path(source)
        return path if path.is_absolute() else (manifest.parent / path)

    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        path = self.find_annotations()
        if path is None:
            raise AnnotationError("no manifest: pass --manifest FILE", file=self.root)
        table = self.read_annotation_table(path, required=COLUMNS)
        records: list[ClipRecord] = []
        problems: list[Problem] = []
        for _, cells in table.iterrows():
            row = AnnotationRow(cells, path)
            names = {c: row.text(c) for c in ("dataset", "subject", "clip")}
            for column, value in names.items():
                if not value:
                    row.problem(f"{column} is empty")
                elif not ids.is_safe_name(value):
                    row.problem(
                        f"{column} {value!r} is not allowed (letters, digits, '_', '.', "
                        "'-'; no '/' or '..')"
                    )
            source_text = row.text("source")
            if not source_text:
                row.problem("source is empty")
            onset = row.frame("onset", optional=True)
            apex = row.frame("apex", optional=True)
            offset = row.frame("offset", optional=True)
            fps = None
            if row.text("fps"):
                try:
                    fps = strict_float(row.text("fps"))
                    if not 0 < fps < 100000:
                        raise ValueError
                except ValueError:
                    row.problem(f"fps is not a positive number: {row.text('fps')!r}")
            if row.ok:
                source = self._resolve(path, source_text)
                is_video = source.suffix.lower() in VIDEO_SUFFIXES
                onset, offset, fps = self._fill_blanks(row, source, is_video, onset, offset, fps)
                row.check_order(onset, apex, offset)
            if not row.done(problems):
                continue
            assert onset is not None and offset is not None and fps is not None  # filled above
            records.append(
                ClipRecord(
                    dataset=names["dataset"],
                    subject=names["subject"],
                    clip=names["clip"],
                    emotion=row.text("emotion"),
                    aus=row.text("aus"),
                    onset=onset,
                    apex=apex,
                    offset=offset,
                    fps=fps,
                    source=source_text,
                    annotation_file=path.name,
                    annotation_row=row.number,
                    extra={"video": is_video},
                )
            )
        return records, problems

    def _fill_blanks(
        self,
        row: AnnotationRow,
        source: Path,
        is_video: bool,
        onset: int | None,
        offset: int | None,
        fps: float | None,
    ) -> tuple[int | None, int | None, float | None]:
        """Blank onset/offset -> the first/last frame on disk; blank fps -> the video's own."""
        if fps is None and not is_video:
            row.problem("fps is empty (required for frame folders)")
            return onset, offset, fps
        if onset is not None and offset is not None and fps is not None:
            return onset, offset, fps
        try:
            available = self._source(source).available
        except MerprepError as exc:
            row.problem(str(exc))
            return onset, offset, fps
        if not available:
            row.problem(f"no frames in {source}")
            return onset, offset, fps
        onset = available[0] if onset is None else onset
        offset = available[-1] if offset is None else offset
        if fps is None:
            from merprep.frames.decode import video_fps

            fps = video_fps(source)
            if fps is None:
                row.problem("fps is empty and the video does not say")
        return onset, offset, fps

    def _source(self, path: Path) -> FrameSource:
        if not path.exists():
            raise MerprepError("source not found", file=path)
        if path.is_dir():
            return FrameSource(frames=number_frames(path))
        if path.suffix.lower() in VIDEO_SUFFIXES:
            from merprep.frames.decode import video_frame_count

            return FrameSource(video=path, n_video_frames=video_frame_count(path))
        raise MerprepError("source is neither a frame folder nor a video file", file=path)

    def frame_source(self, record: ClipRecord) -> FrameSource:
        manifest = self.find_annotations()
        assert manifest is not None
        return self._source(self._resolve(manifest, record.source))
