"""Every parameter of the learned spotter (``mertrain spot-train``), recorded with its output.

Light on purpose (no NumPy, no Keras): the command line reads its defaults and ranges here.
The parameters were fixed on seed-1 sample videos before any seed-2 (benchmark) video was
spotted (docs/benchmarks.md, "Learned spotter").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from merprep.errors import MerprepError

#: how a detection threshold is chosen: fixed, or on the training subjects' videos only
THRESHOLD_SELECT = ("fixed", "train")
#: how a spotted interval gets its type: the head that spotted it, or its length (classical)
TYPING = ("head", "length")
INPUTS = ("magnitude", "vector", "summary", "score")


@dataclass(frozen=True)
class LearnedSpotConfig:
    """Features, pseudo-labels, network, training and detection of the learned spotter."""

    # -- features (merprep.spotting.features: region flow, nose-bridge compensated, eyes apart)
    flow_size: int = 96
    #: flow windows K (s): SOFTNet's onset-to-frame window (about half an ME), the classical
    #: spotter's ME window (0.55 s) and MaE window (3 s)
    windows: tuple[float, ...] = (0.2, 0.55, 3.0)
    #: what the network reads of the flow (mertrain.spotting.dataset.input_view): per block the
    #: eyes' and the face's largest movement over the video's baseline (``score``), per face
    #: area too (``summary``), every region's length (``magnitude``) or its x and y (``vector``)
    inputs: str = "score"
    # -- network (mertrain.spotting.model)
    filters: int = 32
    kernel: int = 3
    #: dilations of the temporal convolutions, in network time steps
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    #: network time steps a second: every video's inputs are resampled to this rate, so one
    #: network (one receptive field in seconds) serves any frame rate and stride
    rate: float = 30.0
    dropout: float = 0.1
    # -- training (mertrain.spotting.train): fixed epochs, no epoch selection
    epochs: int = 120
    batch_size: int = 8
    lr: float = 2e-3
    crop_seconds: float = 8.0  # training crops of this length (fully convolutional model)
    crops_per_video: int = 4  # crops of each training video per epoch
    positive_weight: float = 4.0  # loss weight of frames inside an annotated interval
    mirror: bool = True  # left-right mirrored crops (paired regions swapped, x negated)
    scale_jitter: float = 0.25  # feature amplitudes times exp(U(-j, j)) per crop
    seed: int = 1
    ensemble: int = 3  # networks per fold (own seeds), their scores averaged
    deterministic: bool = True
    # -- detection (the classical spotter's peak and interval extraction)
    threshold: float = 0.5
    #: moving averages (s) of the ME and MaE scores before peak detection (SOFTNet smooths too)
    smooth: tuple[float, float] = (0.1, 0.3)
    threshold_select: str = "fixed"
    typing: str = "head"
    overlap: float = 0.2  # IoU above which two intervals of one type are one

    def __post_init__(self) -> None:
        problems = []
        if not 1.0 <= self.rate <= 1000.0:
            problems.append(f"rate {self.rate} (1-1000 steps a second)")
        if self.flow_size < 16:
            problems.append(f"flow_size {self.flow_size} (at least 16)")
        if not self.windows or any(w <= 0 for w in self.windows):
            problems.append(f"windows {self.windows} (positive seconds)")
        if not self.dilations or any(d < 1 for d in self.dilations):
            problems.append(f"dilations {self.dilations} (positive integers)")
        if min(self.epochs, self.batch_size, self.crops_per_video, self.ensemble) < 1:
            problems.append("epochs, batch_size, crops_per_video and ensemble: at least 1")
        if len(self.smooth) != 2 or any(w < 0 for w in self.smooth):
            problems.append(f"smooth {self.smooth} (two durations >= 0, ME and MaE)")
        if not 0.0 < self.threshold < 1.0:
            problems.append(f"threshold {self.threshold} (between 0 and 1)")
        if self.threshold_select not in THRESHOLD_SELECT:
            problems.append(f"threshold_select {self.threshold_select!r} ({THRESHOLD_SELECT})")
        if self.inputs not in INPUTS:
            problems.append(f"inputs {self.inputs!r} ({INPUTS})")
        if self.typing not in TYPING:
            problems.append(f"typing {self.typing!r} ({TYPING})")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout {self.dropout} (0 <= dropout < 1)")
        if problems:
            raise MerprepError("learned spotter configuration: " + "; ".join(problems))

    def feature_params(self) -> dict[str, Any]:
        """What decides the features (the cache key beside the store's fingerprint)."""
        return {"flow_size": self.flow_size, "windows": list(self.windows)}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("windows", "dilations", "smooth"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LearnedSpotConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise MerprepError(f"learned spotter configuration: unknown {', '.join(unknown)}")
        values = dict(d)
        for k in ("windows", "dilations", "smooth"):
            if k in values:
                values[k] = tuple(values[k])
        return cls(**values)
