"""The long-video adapter interface: a dataset as shipped -> videos on disk + annotated intervals.

An adapter reads its workbook (:meth:`LongVideoAdapter.read_annotations`: intervals kept
verbatim and normalised, quirks and bad rows reported by file and row) and lists the videos on
disk (:meth:`LongVideoAdapter.list_videos`). :meth:`LongVideoAdapter.videos` joins the two:
every video on disk (with its intervals, or none) plus a problem for each annotated video whose
frames are not there, which ``--skip-invalid`` records and leaves out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from merprep.datasets.base import FrameSource, number_frames, relative_source
from merprep.datasets.files import find_file
from merprep.errors import AnnotationError, MerprepError, Problem
from merprep.longvideo.records import MAE, ME, VideoRecord


@dataclass
class Annotations:
    """What a workbook gives: videos with their intervals, kept-but-normalised quirks, and the
    rows that could not be used (problems)."""

    videos: list[VideoRecord] = field(default_factory=list)
    quirks: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    file: Path | None = None

    def intervals(self) -> list[Any]:
        return [i for v in self.videos for i in v.intervals]

    def counts(self) -> dict[str, int]:
        out = {"videos": len(self.videos), "subjects": len({v.subject for v in self.videos})}
        for v in self.videos:
            for t, n in v.counts().items():
                out[t] = out.get(t, 0) + n
        return out


@dataclass(frozen=True)
class FrameLimits:
    """Lengths (inclusive frames) that make a spotted interval a micro-expression: ``me_min`` to
    ``me_max``; longer ones are macro-expressions. Only used to type *predictions*; the ground
    truth's type is always the annotated one (the datasets' types are not a duration rule)."""

    me_min: int
    me_max: int

    def type_of(self, length: int) -> str | None:
        if length < self.me_min:
            return None
        return ME if length <= self.me_max else MAE

    @classmethod
    def from_fps(cls, fps: float) -> FrameLimits:
        """The challenges' definition: an ME lasts under 0.5 s (plus the inclusive frame)."""
        return cls(max(2, int(round(0.2 * fps))), int(round(0.5 * fps)) + 1)


class LongVideoAdapter(ABC):
    """One long-video dataset as unpacked (see the module docstring)."""

    name: ClassVar[str]
    fps: ClassVar[float]
    limits: ClassVar[FrameLimits]
    annotation_patterns: ClassVar[tuple[str, ...]] = ()
    option_names: ClassVar[tuple[str, ...]] = ()
    #: True where the release drops frames inside videos (CAS(ME)^3): gaps are normal
    frame_gaps_expected: ClassVar[bool] = False

    def __init__(self, root: Path | str, annotations: Path | str | None = None, **options: Any):
        self.root = Path(root)
        self.annotations = Path(annotations) if annotations is not None else None
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            raise MerprepError(
                f"dataset {self.name} has no option(s) {', '.join(unknown)}"
                + (f" (it takes: {', '.join(self.option_names)})" if self.option_names else "")
            )
        self.options = options

    # -- annotations ---------------------------------------------------------------------------
    def find_annotations(self) -> Path | None:
        if self.annotations is not None:
            return self.annotations
        return find_file([self.root, self.root.parent], self.annotation_patterns, depth=2)

    def require_annotations(self) -> Path:
        path = self.find_annotations()
        if path is None:
            raise AnnotationError(
                f"no {self.name} annotation workbook ({self.annotation_patterns[0]}) found here "
                "or in the parent folder; pass --annotations FILE",
                file=self.root,
            )
        return path

    @abstractmethod
    def read_annotations(self) -> Annotations:
        """Parse the workbook (no frames are looked at)."""

    # -- frames on disk ------------------------------------------------------------------------
    @abstractmethod
    def list_videos(self) -> list[VideoRecord]:
        """Every video on disk (no intervals), ``source`` relative to ``root``."""

    def frame_source(self, video: VideoRecord) -> FrameSource:
        """The frames of ``video``: numbered images in its folder (or a video file)."""
        path = self.root / video.source
        if path.is_file():
            return FrameSource(video=path)
        if not path.is_dir():
            raise MerprepError("video folder not found", file=path)
        return FrameSource(frames=number_frames(path))

    def videos(self) -> tuple[list[VideoRecord], list[Problem], list[Problem]]:
        """(videos on disk with their intervals, quirks, problems): see the module docstring."""
        ann = self.read_annotations() if self.has_annotations() else Annotations()
        on_disk = {v.video_id: v for v in self.list_videos()}
        problems = list(ann.problems)
        out: dict[str, VideoRecord] = {}
        for v in ann.videos:
            disk = on_disk.get(v.video_id)
            if disk is None:
                rows = sorted({i.annotation_row for i in v.intervals if i.annotation_row})
                problems.append(
                    Problem(
                        f"video frames not found on disk ({len(v.intervals)} annotated "
                        f"interval(s), rows {', '.join(map(str, rows[:6]))}"
                        + (", ..." if len(rows) > 6 else "")
                        + ")",
                        file=str(ann.file) if ann.file else None,
                        clip_id=v.video_id,
                    )
                )
                continue
            v.source = disk.source
            v.extra = {**disk.extra, **v.extra}
            out[v.video_id] = v
        for vid, disk in on_disk.items():
            out.setdefault(vid, disk)
        return [out[k] for k in sorted(out)], ann.quirks, problems

    def limits_for(self, fps: float) -> FrameLimits:
        """The ME/MaE frame limits for a video at ``fps`` (the dataset's own by default)."""
        return self.limits

    def has_annotations(self) -> bool:
        return self.find_annotations() is not None

    def relative(self, path: Path) -> str:
        return relative_source(path, self.root)
