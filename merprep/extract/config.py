"""The parameters of an extraction (:class:`ExtractConfig`), checked when it is made."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from merprep.datasets.errata import KNOWN, errata_sha256
from merprep.faces import backend_class
from merprep.faces.align import ALIGNERS
from merprep.frames.sampling import get_sampling
from merprep.parallel import worker_count
from merprep.store.codec import DEFAULT_FRAME_COMPRESSION, FRAME_COMPRESSIONS

log = logging.getLogger(__name__)

#: bounds of the numeric fields; the CLI's ranges are the same (a test keeps them equal)
SIZE_RANGE = (16, 1024)
MIN_FRAMES = 1
#: frames per clip when ``frames`` is not given (modes of fixed length use their own number)
DEFAULT_FRAMES = 30
MARGIN_RANGE = (0.0, 1.0)
COLORS = ("rgb", "gray")


@dataclass
class ExtractConfig:
    """Every parameter of an extraction; recorded in the store as ``params``."""

    dataset: str
    root: Path
    out: Path
    annotations: Path | None = None
    #: CSV of explicit cell corrections to the annotation file (merprep.datasets.corrections),
    #: or "known": the errata shipped for the dataset (merprep.datasets.errata)
    corrections: Path | str | None = None
    adapter_options: dict[str, Any] = field(default_factory=dict)
    landmarks: str = "dlib"
    align: str = "none"
    margin: float = 0.1
    size: int = 128
    color: str = "rgb"
    sampling: str = "uniform"
    #: frames per clip; None: ``DEFAULT_FRAMES``, or the fixed number of modes such as ``key``
    frames: int | None = None
    track: bool = False
    #: with ``track``: running median over this many frames (0 or 1: none); see smooth_track
    track_smooth: int = 0
    frame_compression: str = DEFAULT_FRAME_COMPRESSION  # codec.FRAME_COMPRESSIONS
    workers: int = 0  # 0: one per available CPU (merprep.parallel.worker_count)
    skip_invalid: bool = False
    resume: bool = False
    #: replace a store already at ``out`` (its later stages are lost); refused otherwise
    overwrite: bool = False

    def __post_init__(self) -> None:
        self.root, self.out = Path(self.root), Path(self.out)
        if self.annotations is not None:
            self.annotations = Path(self.annotations)
        if self.corrections is not None and str(self.corrections) != KNOWN:
            self.corrections = Path(self.corrections)
        mode = get_sampling(self.sampling)  # raises on unknown names
        if mode.fixed_frames is not None:
            if self.frames is not None and self.frames != mode.fixed_frames:
                raise ValueError(
                    f"sampling {self.sampling!r} always keeps {mode.fixed_frames} frames; "
                    f"leave frames out (got {self.frames}) or choose a mode that takes N "
                    "(uniform, first, tim, diffk)"
                )
            self.frames = mode.fixed_frames
        elif self.frames is None:
            self.frames = DEFAULT_FRAMES
        lo, hi = SIZE_RANGE
        if not lo <= self.size <= hi:
            raise ValueError(f"size must be between {lo} and {hi}, got {self.size}")
        if self.frames < MIN_FRAMES:
            raise ValueError(f"frames must be at least {MIN_FRAMES}, got {self.frames}")
        if self.color not in COLORS:
            raise ValueError(f"color must be {' or '.join(COLORS)}, got {self.color!r}")
        lo_m, hi_m = MARGIN_RANGE
        if not lo_m <= self.margin <= hi_m:
            raise ValueError(f"margin must be between {lo_m:g} and {hi_m:g}, got {self.margin}")
        if self.align not in ALIGNERS:
            raise ValueError(f"unknown align {self.align!r}; choose one of {', '.join(ALIGNERS)}")
        backend_class(self.landmarks)  # raises on unknown names
        if self.workers < 0:
            raise ValueError(
                f"workers must be >= 0 (0 = one per available CPU), got {self.workers}"
            )
        if self.track_smooth < 0 or (self.track_smooth > 1 and not self.track):
            raise ValueError(
                f"track_smooth must be >= 0 and needs track (got {self.track_smooth}"
                f"{'' if self.track else ' without track'})"
            )
        if self.frame_compression not in FRAME_COMPRESSIONS:
            raise ValueError(
                f"frame_compression must be one of "
                f"{', '.join(FRAME_COMPRESSIONS)}, got {self.frame_compression!r}"
            )

    @property
    def n_workers(self) -> int:
        """Worker processes to start: ``workers``, or (0) one per CPU this process may use."""
        return worker_count(self.workers)

    def output_params(self) -> dict[str, Any]:
        """Parameters that determine the store's content (what --resume must match)."""
        d = asdict(self)
        for k in ("out", "workers", "resume", "overwrite"):
            d.pop(k)
        if not self.track_smooth:  # absent when off: stores made before it keep their identity
            d.pop("track_smooth")
        d["root"] = str(self.root.resolve())
        d["annotations"] = None if self.annotations is None else str(self.annotations.resolve())
        if self.corrections == KNOWN:  # the shipped errata: their content
            d["corrections"] = KNOWN
            d["corrections_sha256"] = errata_sha256(self.dataset, self.adapter_options)
        elif isinstance(self.corrections, Path):  # the content matters, not only the name
            d["corrections"] = str(self.corrections.resolve())
            d["corrections_sha256"] = (
                hashlib.sha256(self.corrections.read_bytes()).hexdigest()
                if self.corrections.is_file()
                else None
            )
        return d
