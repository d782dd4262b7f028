"""Long videos and their ground-truth intervals, in canonical form.

A long video is one untrimmed recording (a folder of numbered frames or a video file) holding
any number of expressions. Its annotation rows become :class:`Interval` s: the cells as written
(``verbatim``) beside the parsed, normalised frame numbers the evaluation uses, with every
normalisation that was applied named in ``notes``. Frame numbers are the dataset's own (the
number in the file name; 0-based indices in a video file).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from merprep import ids
from merprep.datasets.base import parse_aus

ME, MAE = "me", "mae"
TYPES = (ME, MAE)
TYPE_NAMES = {ME: "micro-expression", MAE: "macro-expression"}


@dataclass
class Interval:
    """One annotated (or spotted) expression: inclusive ``onset..offset`` frames."""

    onset: int
    offset: int
    type: str  # ME or MAE
    apex: int | None = None
    aus: str = ""
    emotion: str = ""  # as annotated ('' where the dataset gives none)
    verbatim: dict[str, Any] = field(default_factory=dict)
    annotation_file: str | None = None
    annotation_row: int | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return self.offset - self.onset + 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        codes, unparsed = parse_aus(self.aus)
        d["au_codes"] = [c.to_dict() for c in codes]
        d["au_unparsed"] = unparsed
        d["annotation"] = {"file": d.pop("annotation_file"), "row": d.pop("annotation_row")}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Interval:
        ann = d.get("annotation") or {}
        return cls(
            onset=int(d["onset"]),
            offset=int(d["offset"]),
            type=d["type"],
            apex=None if d.get("apex") is None else int(d["apex"]),
            aus=d.get("aus", ""),
            emotion=d.get("emotion", ""),
            verbatim=dict(d.get("verbatim") or {}),
            annotation_file=ann.get("file"),
            annotation_row=ann.get("row"),
            notes=list(d.get("notes") or []),
            extra=dict(d.get("extra") or {}),
        )


@dataclass
class VideoRecord:
    """One long video: where its frames are and the intervals annotated in it (maybe none)."""

    dataset: str
    subject: str
    video: str
    fps: float
    source: str = ""  # folder or video file, relative to the dataset root ('' if not on disk)
    intervals: list[Interval] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def video_id(self) -> str:
        return ids.clip_id(self.dataset, self.subject, self.video)

    @property
    def subject_id(self) -> str:
        return ids.subject_id(self.dataset, self.subject)

    def counts(self) -> dict[str, int]:
        return {t: sum(1 for i in self.intervals if i.type == t) for t in TYPES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "dataset": self.dataset,
            "subject": self.subject,
            "subject_id": self.subject_id,
            "video": self.video,
            "fps": float(self.fps),
            "source": self.source,
            "intervals": [i.to_dict() for i in self.intervals],
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoRecord:
        return cls(
            dataset=d["dataset"],
            subject=d["subject"],
            video=d["video"],
            fps=float(d["fps"]),
            source=d.get("source", ""),
            intervals=[Interval.from_dict(i) for i in d.get("intervals") or []],
            extra=dict(d.get("extra") or {}),
        )


def round_half_up(value: float) -> int:
    """``int(x + 0.5)``: how the MEGC2020 baseline rounds SAMM's fractional frames (566.4 ->
    566, 647.6 -> 648); kept so the ground truth equals the baseline's."""
    return int(float(value) + 0.5)
