"""The old home of ``merprep extract``'s library, now the package :mod:`merprep.extract`.

Kept for a release so that scripts, notebooks and benchmarks importing from here keep working
(``from merprep.pipeline import ExtractConfig, extract``); import from ``merprep.extract``.
"""

from merprep.extract import (
    ClipTask,
    ExtractConfig,
    ExtractResult,
    choose_reduce,
    drift_summary,
    extract,
    landmark_drift,
    plan_extraction,
    process_clip,
    track_landmarks,
)

__all__ = [
    "ClipTask",
    "ExtractConfig",
    "ExtractResult",
    "choose_reduce",
    "drift_summary",
    "extract",
    "landmark_drift",
    "plan_extraction",
    "process_clip",
    "track_landmarks",
]
