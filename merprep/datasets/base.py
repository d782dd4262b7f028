"""Canonical clip records and the dataset-adapter interface.

Every dataset ships its own folder layout and annotation spreadsheet. An adapter (one module per
dataset) maps that onto :class:`ClipRecord`, the canonical fields every later stage uses
(`subject, clip, onset, apex, offset, emotion, aus`), and tells the pipeline where each clip's
frames are (:class:`FrameSource`). Dataset quirks live in the adapter and nowhere else.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from merprep import ids
from merprep.datasets.tables import find_file, read_table
from merprep.errors import MerprepError, Problem

# re-exported for old imports: clip-id parts are checked in merprep.ids
from merprep.ids import is_safe_name  # noqa: F401

if TYPE_CHECKING:
    import pandas as pd

    from merprep.datasets.corrections import CorrectionTable
    from merprep.datasets.errata import KnownCorrections


# --------------------------------------------------------------------------------------------
# Action units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AUCode:
    """One parsed action unit: `R12` -> code 12, side 'R'; `4 or 7` -> both, uncertain."""

    code: int
    side: str | None = None  # 'L', 'R' (unilateral), 'A'/'B' as SAMM writes them, None
    intensity: str | None = None  # FACS intensity letter A-E when written as a suffix
    uncertain: bool = False  # the annotator wrote alternatives ("4 or 7")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_AU_TOKEN = re.compile(
    r"^(?P<side>[LRAB])?\s*(?:AU)?\s*(?P<code>\d{1,3})(?P<intensity>[A-E])?$", re.IGNORECASE
)


def parse_aus(text: Any) -> tuple[list[AUCode], list[str]]:
    """Parse an annotated AU string; return (codes, tokens that could not be parsed).

    Handles the forms the datasets use: ``4+7``, ``R12``, ``L10+R12``, ``1+2+R4``, ``AU4``,
    ``4 or 7`` (both kept, flagged uncertain), ``12B`` (intensity), ``A1+A2``, commas and blanks.
    The verbatim string is always kept beside the parse, so nothing is lost.
    """
    if text is None:
        return [], []
    s = str(text).strip()
    if not s or s.lower() in {"nan", "none", "/", "-", "?"}:
        return [], []
    codes: list[AUCode] = []
    unparsed: list[str] = []
    for group in re.split(r"[+,;&\uff0c]", s):  # \uff0c: the full-width comma CAS(ME)^3 uses
        group = group.strip().strip("()").strip()
        if not group:
            continue
        alternatives = [a.strip() for a in re.split(r"\s+or\s+|/", group, flags=re.IGNORECASE)]
        alternatives = [a for a in alternatives if a]
        uncertain = len(alternatives) > 1
        for alt in alternatives:
            m = _AU_TOKEN.match(alt.replace(" ", ""))
            if not m:
                unparsed.append(alt)
                continue
            side = m.group("side").upper() if m.group("side") else None
            intensity = m.group("intensity").upper() if m.group("intensity") else None
            codes.append(AUCode(int(m.group("code")), side, intensity, uncertain))
    return codes, unparsed


def unparsed_au_rows(records: Iterable[ClipRecord]) -> list[tuple[int | None, str, list[str]]]:
    """(row, AU cell, tokens that are not action units) for each record whose AU text holds
    such tokens (SAMM writes ``ref(7B)``, ``T18``, ``soft focus``): kept verbatim in ``aus``
    and ``au_unparsed``, and reported by row when a dataset is read."""
    out = []
    for r in records:
        unparsed = parse_aus(r.aus)[1]
        if unparsed:
            out.append((r.annotation_row, r.aus, unparsed))
    return out


# --------------------------------------------------------------------------------------------
# Clip records
# --------------------------------------------------------------------------------------------


@dataclass
class ClipRecord:
    """One annotated micro-expression clip in canonical form.

    ``subject`` is normalised within its dataset (``sub01``, ``006``, ``s01``); ``subject_id``
    (``casme2/sub01``) is unique across datasets and is what protocols group by. Frame numbers
    (``onset``, ``apex``, ``offset``) are the dataset's own source frame numbers (the number in the
    image file name, or the 0-based index in a video). ``apex`` is ``None`` where not annotated.
    """

    dataset: str
    subject: str
    clip: str
    emotion: str
    aus: str
    onset: int
    apex: int | None
    offset: int
    fps: float
    source: str  # folder or video, relative to the dataset's top folder (DatasetAdapter.top_folder)
    annotation_file: str | None = None
    annotation_row: int | None = None  # 1-based spreadsheet row (as Excel shows it)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clip_id(self) -> str:
        return ids.clip_id(self.dataset, self.subject, self.clip)

    @property
    def subject_id(self) -> str:
        return ids.subject_id(self.dataset, self.subject)

    @property
    def au_codes(self) -> list[AUCode]:
        return parse_aus(self.aus)[0]

    def to_dict(self) -> dict[str, Any]:
        """The JSON record stored per clip (see schemas/clipstore-v1.json)."""
        codes, unparsed = parse_aus(self.aus)
        return {
            "clip_id": self.clip_id,
            "dataset": self.dataset,
            "subject": self.subject,
            "subject_id": self.subject_id,
            "clip": self.clip,
            "emotion": self.emotion,
            "aus": self.aus,
            "au_codes": [c.to_dict() for c in codes],
            "au_unparsed": unparsed,
            "onset": int(self.onset),
            "apex": None if self.apex is None else int(self.apex),
            "offset": int(self.offset),
            "fps": float(self.fps),
            "source": self.source,
            "annotation": {"file": self.annotation_file, "row": self.annotation_row},
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClipRecord:
        ann = d.get("annotation") or {}
        return cls(
            dataset=d["dataset"],
            subject=d["subject"],
            clip=d["clip"],
            emotion=d["emotion"],
            aus=d.get("aus", ""),
            onset=d["onset"],
            apex=d.get("apex"),
            offset=d["offset"],
            fps=d["fps"],
            source=d["source"],
            annotation_file=ann.get("file"),
            annotation_row=ann.get("row"),
            extra=dict(d.get("extra") or {}),
        )


# --------------------------------------------------------------------------------------------
# Where a clip's frames are
# --------------------------------------------------------------------------------------------


@dataclass
class FrameSource:
    """The frames of one clip: an image folder (frame number -> file) or a video file.

    For image folders ``frames`` maps every source frame number present on disk to its file, so
    dropped frames (CAS(ME)^3) are visible as gaps. For videos ``video`` is set and frame numbers
    are 0-based indices; ``n_video_frames`` is filled when known.
    """

    frames: dict[int, Path] | None = None
    video: Path | None = None
    n_video_frames: int | None = None

    @property
    def available(self) -> list[int]:
        if self.frames is not None:
            return sorted(self.frames)
        if self.n_video_frames is not None:
            return list(range(self.n_video_frames))
        return []

    @property
    def path(self) -> Path:
        if self.video is not None:
            return self.video
        assert self.frames, "empty frame source"
        return next(iter(self.frames.values())).parent


def relative_source(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX form) when it is inside it, else absolute. Adapters
    pass the dataset's top folder (:meth:`DatasetAdapter.top_folder`), so records, and the
    store's fingerprint, depend neither on where the dataset was unpacked nor on which of its
    folders ``--root`` names."""
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def number_frames(
    folder: Path, extensions: Iterable[str] = (".jpg", ".jpeg", ".png", ".bmp")
) -> dict[int, Path]:
    """Map each image in ``folder`` to the frame number written in its name (last digit group).

    ``img46.jpg`` -> 46, ``006_05562.jpg`` -> 5562, ``image0100234.bmp`` -> 100234,
    ``reg_img46.jpg`` -> 46. Files without a number are ignored.
    """
    exts = {e.lower() for e in extensions}
    out: dict[int, Path] = {}
    for p in folder.iterdir():
        if p.suffix.lower() not in exts or not p.is_file():
            continue
        m = _LAST_NUMBER.search(p.stem)
        if m:
            out[int(m.group(1))] = p
    return out


class DatasetAdapter(ABC):
    """Turns one dataset, as unpacked, into clip records and frame sources.

    Subclasses set ``name`` (and ``annotation_patterns``, or override :meth:`find_annotations`)
    and implement :meth:`read_records`, reading their table through
    :meth:`read_annotation_table`; image-folder datasets inherit :meth:`frame_source`. ``root``
    may be the dataset's top folder or its frames folder; the adapter finds the official
    annotation file in either (``annotations`` overrides).
    Row-level problems are returned, never printed, so a validation pass can list them all.
    """

    name: str
    #: emotions this dataset's annotations may contain (lower-cased); others are a problem
    emotions: frozenset[str] = frozenset()
    #: adapter options this dataset understands (``ExtractConfig.adapter_options``)
    option_names: ClassVar[tuple[str, ...]] = ()
    #: True where the release itself drops frames inside clips (CAS(ME)^3): gaps between onset
    #: and offset are then normal (sampling takes the nearest frame on disk), not a damaged copy
    frame_gaps_expected: ClassVar[bool] = False
    #: where the frames folder (:meth:`frames_root`) sits below the dataset's top folder as
    #: released, alternatives in order (``{modality}``-style fields filled by
    #: :meth:`frames_layouts`); see :meth:`top_folder`
    frames_layout: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        root: Path | str,
        annotations: Path | str | None = None,
        *,
        corrections: CorrectionTable | KnownCorrections | None = None,
        **options: Any,
    ):
        self.root = Path(root)
        self.annotations = Path(annotations) if annotations is not None else None
        #: explicit cell corrections (``--corrections``) and, once read, those applied per row
        self.corrections = corrections
        self.applied_corrections: dict[int, list[dict[str, Any]]] = {}
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            raise MerprepError(
                f"dataset {self.name} has no option(s) {', '.join(unknown)}"
                + (f" (it takes: {', '.join(self.option_names)})" if self.option_names else "")
            )
        self.options = options
        self._top: Path | None = None

    #: name patterns of the official annotation file, for the default :meth:`find_annotations`
    annotation_patterns: ClassVar[tuple[str, ...]] = ()

    def find_annotations(self) -> Path | None:
        """``--annotations`` when given, else the official annotation file in ``root`` or its
        parent (so ``root`` may be the top folder or the frames folder); None if not found."""
        if self.annotations is not None:
            return self.annotations
        return find_file([self.root, self.root.parent], self.annotation_patterns, depth=1)

    @abstractmethod
    def read_records(self) -> tuple[list[ClipRecord], list[Problem]]:
        """Parse the annotation file; return the good records and one Problem per bad row."""

    def read_annotation_table(self, path: Path, **kwargs: Any) -> pd.DataFrame:
        """:func:`~merprep.datasets.tables.read_table`, then this run's corrections, if any.

        Adapters read their annotation file through this, so ``--corrections`` works for every
        dataset with an annotation table; the corrections are applied before any cell is parsed.
        """
        table = read_table(path, **kwargs)
        if self.corrections is not None:
            self.applied_corrections = self.corrections.apply(table, Path(path))
        return table

    def frames_root(self) -> Path:
        """The folder holding the dataset's subject (or class) folders, found from ``root``;
        adapters of datasets read from a folder tree define it."""
        raise NotImplementedError(f"dataset {self.name} has no frames folder")

    def frames_layouts(self) -> tuple[str, ...]:
        """:attr:`frames_layout`, with any adapter-specific fields filled in."""
        return self.frames_layout

    def top_folder(self) -> Path:
        """The dataset's top folder as unpacked, which every record's ``source`` is relative to.

        Found from the frames folder, not from ``root``: where the frames folder sits at its
        released place (:attr:`frames_layout`, e.g. ``CASME2_RAW_selected`` or
        ``SMIC_all_raw/HS``), the top folder is the one above that path, so ``--root`` may name
        the top folder, the frames folder or one in between and every record (hence the store's
        fingerprint) is the same. A renamed frames folder keeps its own name in the sources.
        """
        if self._top is None:
            frames = Path(os.path.abspath(self.frames_root()))
            root = Path(os.path.abspath(self.root))
            self._top = root if root != frames else frames.parent
            for layout in self.frames_layouts():
                parts = Path(layout).parts
                if len(frames.parts) > len(parts) and frames.parts[-len(parts) :] == parts:
                    self._top = frames.parents[len(parts) - 1]
                    break
        return self._top

    def source_of(self, path: Path) -> str:
        """``path`` as a record's ``source``: relative to :meth:`top_folder`."""
        return relative_source(path, self.top_folder())

    def frame_source(self, record: ClipRecord) -> FrameSource:
        """Resolve a record to its frames on disk (raise MerprepError if the folder is missing).

        The default suits datasets that ship one folder of numbered images per clip
        (``record.source`` relative to :meth:`top_folder`); video and gap-aware datasets
        override it.
        """
        folder = self.top_folder() / record.source
        if not folder.is_dir():
            raise MerprepError("clip folder not found", file=folder)
        return FrameSource(frames=number_frames(folder))

    def landmark_hint(self) -> dict[str, Any]:
        """Options the face stage should use for this dataset (e.g. grayscale input)."""
        return {}
