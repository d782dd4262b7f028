"""Real-life Deception Detection (2016): courtroom video clips, deceptive or truthful.

As shipped (docs/references.md#deception): ``Real-life_Deception_Detection_2016/Clips/Deceptive/
trial_lie_001.mp4`` and ``Clips/Truthful/trial_truth_001.mp4``; annotation
``Annotation/All_Gestures_Deceptive and Truthful.csv`` with ``id`` (the video file name), 39
binary gesture columns and ``class`` (deceptive / truthful). 121 clips; frame rate and size vary
by clip. ``--root`` may be the dataset folder or its ``Clips`` folder.

Mapping onto clip records: the whole video is the clip (onset 0, offset = last frame, counted by
decoding because container metadata is often wrong; apex missing); ``emotion`` holds the class
as written; the gesture flags are kept in ``extra.gestures``; ``fps`` is read from each video.

Subjects: the release names no speakers, and several clips show the same person. Option
``subjects_map`` (``--subjects-map``) is a CSV with columns ``id,subject`` (``id`` as in the
annotation, with or without ``.mp4``) that groups clips by speaker; every annotated clip must be
in it. Without one each clip is its own subject and a WARNING says so: leave-one-subject-out then
puts the same speaker in training and test folds, which inflates scores.

Quirks handled here: a video filed under the other class's folder than its ``class`` says, a
video that is missing or cannot be decoded, and gesture cells other than 0/1 are problems.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from merprep import ids
from merprep.datasets.base import ClipRecord, DatasetAdapter, FrameSource
from merprep.datasets.tables import AnnotationRow, find_file, read_table
from merprep.errors import AnnotationError, MerprepError, Problem

log = logging.getLogger(__name__)

DATASET_FOLDER = "Real-life_Deception_Detection_2016"
CLIPS_FOLDER = "Clips"
CLASS_FOLDERS = {"deceptive": "Deceptive", "truthful": "Truthful"}
EMOTIONS = frozenset(CLASS_FOLDERS)
ANNOTATION_PATTERNS = ("All_Gestures_Deceptive and Truthful.csv", "All_Gestures*.csv")
COLUMNS = ("id", "class")
VIDEO_SUFFIX = ".mp4"


class Adapter(DatasetAdapter):
    name = "deception"
    emotions = EMOTIONS
    option_names = ("subjects_map",)

    def __init__(self, root: Path | str, annotations: Path | str | None = None, **options: Any):
        super().__init__(root, annotations, **options)
        subjects_map = options.get("subjects_map")
        self.subjects_map = Path(subjects_map) if subjects_map else None
        self._n_frames: dict[Path, int] = {}  # counted once per video (decoding is slow)

    def dataset_root(self) -> Path:
        """The folder holding ``Clips/`` (``root``, its dataset subfolder, or ``root``'s parent
        when ``root`` is the ``Clips`` folder)."""
        for candidate in (self.root, self.root / DATASET_FOLDER):
            if (candidate / CLIPS_FOLDER).is_dir():
                return candidate
        if any((self.root / folder).is_dir() for folder in CLASS_FOLDERS.values()):
            return self.root.parent
        raise MerprepError(
            f"no Real-life Deception clips found: expected {CLIPS_FOLDER}/"
            "Deceptive/ and Truthful/ here, or point --root at the dataset folder",
            file=self.root,
        )

    def clips_folder(self) -> Path:
        return self.dataset_root() / CLIPS_FOLDER

    frames_layout = (CLIPS_FOLDER,)

    def frames_root(self) -> Path:
        return self.clips_folder()

    def find_annotations(self) -> Path | None:
        if self.annotations is not None:
            return self.annotations
        top = self.dataset_root()
        return find_file([top / "Annotation", top, top.parent], ANNOTATION_PATTERNS, depth=0)

    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        path = self.find_annotations()
        if path is None:
            raise AnnotationError(
                f"no gesture annotation ({ANNOTATION_PATTERNS[0]}) found in "
                "Annotation/; pass --annotations FILE",
                file=self.root,
            )
        table = self.read_annotation_table(path, required=COLUMNS)
        problems: list[Problem] = []
        speakers = self._read_subjects_map(problems)
        gesture_columns = [c for c in table.columns if c not in ("id", "class", "__row__")]
        clips = self.clips_folder()
        records: list[ClipRecord] = []
        for _, cells in table.iterrows():
            row = AnnotationRow(cells, path)
            file_name = row.text("id")
            if file_name and not Path(file_name).suffix:
                file_name += VIDEO_SUFFIX
            clip = Path(file_name).stem
            if not clip or not ids.is_safe_name(clip):
                row.problem(f"id is not a video file name: {file_name!r}")
                problems += row.problems
                continue
            label = row.text("class")
            if label.lower() not in EMOTIONS:
                row.problem(f"unknown class {label!r} (expected deceptive or truthful)")
            gestures = {c: row.frame(c, maximum=1) for c in gesture_columns}
            subject: str | None = clip
            if speakers is not None:
                subject = speakers.get(clip)
                if subject is None:
                    row.problem(f"{file_name} is not in the subjects map {self.subjects_map}")
            video = self._find_video(clips, file_name, label, path, row.number, row.problems)
            n_frames, fps = None, None
            if video is not None and row.ok:
                n_frames, fps = self._measure(video, path, row.number, row.problems)
            if not row.done(problems, ids.clip_id(self.name, subject or clip, clip)):
                continue
            # a done row found its speaker and measured its video
            assert subject and video is not None and n_frames is not None and fps is not None
            records.append(
                ClipRecord(
                    dataset=self.name,
                    subject=subject,
                    clip=clip,
                    emotion=label,
                    aus="",
                    onset=0,
                    apex=None,
                    offset=n_frames - 1,
                    fps=fps,
                    source=self.source_of(video),
                    annotation_file=path.name,
                    annotation_row=row.number,
                    extra={"gestures": gestures},
                )
            )
        if speakers is None:
            log.warning(
                "deception: no --subjects-map, so each clip is its own subject; "
                "leave-one-subject-out then leaks speakers across folds (the same person "
                "in training and test). Pass --subjects-map FILE (CSV id,subject)."
            )
        return records, problems

    def _read_subjects_map(self, problems: list[Problem]) -> dict[str, str] | None:
        """clip (file stem) -> subject, from the ``id,subject`` CSV; None without one."""
        if self.subjects_map is None:
            return None
        table = read_table(self.subjects_map, required=("id", "subject"))
        out: dict[str, str] = {}
        rows: dict[str, int] = {}
        for _, cells in table.iterrows():
            row = AnnotationRow(cells, self.subjects_map)
            clip = Path(row.text("id")).stem
            subject = row.text("subject")
            if not clip:
                row.problem("id is empty")
            elif not subject or not ids.is_safe_name(subject):
                row.problem(f"subject is not a valid name: {subject!r}")
            elif clip in out and out[clip] != subject:
                row.problem(f"{clip} is mapped twice (also row {rows[clip]}: {out[clip]!r})")
            if row.ok:
                out[clip], rows[clip] = subject, row.number
            problems += row.problems
        return out

    def _find_video(
        self, clips: Path, file_name: str, label: str, path: Path, row: int, problems: list[Problem]
    ) -> Path | None:
        expected = CLASS_FOLDERS.get(label.lower())
        for folder in CLASS_FOLDERS.values():
            video = clips / folder / file_name
            if video.is_file():
                if expected is not None and folder != expected:
                    problems.append(
                        Problem(
                            f"{file_name} is filed under {CLIPS_FOLDER}/{folder} "
                            f"but its class is {label!r}",
                            file=str(path),
                            row=row,
                        )
                    )
                    return None
                return video
        where = f"{CLIPS_FOLDER}/{expected or '(Deceptive|Truthful)'}"
        problems.append(Problem(f"video {file_name} not found in {where}", file=str(path), row=row))
        return None

    def _measure(
        self, video: Path, path: Path, row: int, problems: list[Problem]
    ) -> tuple[int | None, float | None]:
        """(frame count, fps) of a video; a problem when it cannot be decoded or says no fps."""
        from merprep.frames.decode import video_fps, video_frame_count

        try:
            n_frames = video_frame_count(video)
        except MerprepError as exc:
            problems.append(Problem(str(exc), file=str(path), row=row))
            return None, None
        if n_frames < 1:
            problems.append(
                Problem(f"video {video.name} has no decodable frames", file=str(path), row=row)
            )
            return None, None
        fps = video_fps(video)
        if fps is None:
            problems.append(
                Problem(
                    f"video {video.name} does not state its frame rate", file=str(path), row=row
                )
            )
            return None, None
        self._n_frames[self.top_folder() / self.source_of(video)] = n_frames
        return n_frames, fps

    def frame_source(self, record: ClipRecord) -> FrameSource:
        video = self.top_folder() / record.source
        if not video.is_file():
            raise MerprepError("video not found", file=video)
        return FrameSource(video=video, n_video_frames=self._n_frames.get(video))
