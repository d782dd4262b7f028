"""The parameters of a long-video extraction (:class:`LongExtractConfig`), checked when made."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from merprep.faces import backend_class
from merprep.parallel import worker_count

#: bounds of the numeric fields; the CLI's ranges are the same (a test keeps them equal)
FACE_SIZE_RANGE = (32, 512)
STRIDE_RANGE = (1, 100)
MARGIN_RANGE = (0.0, 1.0)
LANDMARK_EVERY_RANGE = (0.05, 60.0)
EXECUTORS = ("local", "ray")
#: merprep.store.codec.FRAME_COMPRESSIONS (literal: the command line imports no store code)
FRAME_COMPRESSIONS = ("fast", "small", "none")
ALIGN_MODES = ("none", "eyes", "similarity")


@dataclass
class LongExtractConfig:
    """Every parameter of ``merprep extract-long``; recorded in the store as ``params``."""

    dataset: str
    root: Path
    out: Path
    annotations: Path | None = None
    adapter_options: dict[str, Any] = field(default_factory=dict)
    landmarks: str = "dlib"
    align: str = "none"
    margin: float = 0.1
    face_size: int = 128
    #: keep every stride-th frame (SAMM at 200 fps: stride 2 keeps 100 fps)
    stride: int = 1
    #: seconds between landmark detections (the crop itself never moves)
    landmark_every: float = 1.0
    frame_compression: str = "fast"
    workers: int = 0
    executor: str = "local"
    ray_address: str | None = None
    skip_invalid: bool = False
    resume: bool = False

    def __post_init__(self) -> None:
        self.root, self.out = Path(self.root), Path(self.out)
        if self.annotations is not None:
            self.annotations = Path(self.annotations)
        checks = (
            ("face_size", self.face_size, FACE_SIZE_RANGE),
            ("stride", self.stride, STRIDE_RANGE),
            ("margin", self.margin, MARGIN_RANGE),
            ("landmark_every", self.landmark_every, LANDMARK_EVERY_RANGE),
        )
        for name, value, (lo, hi) in checks:
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {value}")
        if self.align not in ALIGN_MODES:
            raise ValueError(f"align must be one of {', '.join(ALIGN_MODES)}, got {self.align!r}")
        if self.frame_compression not in FRAME_COMPRESSIONS:
            raise ValueError(
                f"frame_compression must be one of {', '.join(FRAME_COMPRESSIONS)}, "
                f"got {self.frame_compression!r}"
            )
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be local or ray, got {self.executor!r}")
        backend_class(self.landmarks)  # raises on unknown names
        worker_count(self.workers)  # raises on negative counts

    @property
    def n_workers(self) -> int:
        return worker_count(self.workers)

    def output_params(self) -> dict[str, Any]:
        """What determines the store's content (and what ``resume`` must match)."""
        d = asdict(self)
        for k in ("out", "workers", "resume", "executor", "ray_address"):
            d.pop(k)
        d["root"] = str(self.root.resolve())
        d["annotations"] = None if self.annotations is None else str(self.annotations.resolve())
        d["adapter_options"] = {k: str(v) for k, v in self.adapter_options.items()}
        return d
