"""How far tracked landmarks drift from the onset's, over a whole store (``extract --track``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from merprep.store import ClipStore


def drift_summary(store_path: Path | str) -> str | None:
    """One line on landmark drift over a store's tracked clips (None when none was tracked)."""
    with ClipStore(store_path) as store:
        recs = [r for r in store.records() if r.get("landmark_drift_px") is not None]
    if not recs:
        return None
    drift = np.array([r["landmark_drift_px"] for r in recs])
    worst = recs[int(drift.argmax())]["clip_id"]
    lost = sum(int(r.get("tracking_lost_frames", 0)) for r in recs)
    line = (
        f"landmark drift over {len(recs)} tracked clips (store px, max over frames of the "
        f"mean point displacement from the onset): mean {drift.mean():.2f}, max "
        f"{drift.max():.2f} ({worst}); {lost} frames without a face reused the previous "
        "landmarks"
    )
    jitter = np.array([r["landmark_jitter_px"] for r in recs if "landmark_jitter_px" in r])
    if len(jitter):
        line += f"\nlandmark jitter (mean second difference, store px): mean {jitter.mean():.2f}"
        line += f", max {jitter.max():.2f}"
        smooth = store_smoothing(store_path)
        if smooth:
            line += f" after a running median over {smooth} frames"
        elif jitter.max() > JITTER_WARN_PX:
            line += (
                f"; above {JITTER_WARN_PX} px per-frame AU boxes jump: --track-smooth 5 "
                "smooths the track"
            )
    return line


#: jitter (store px) above which the summary suggests --track-smooth
JITTER_WARN_PX = 0.5


def store_smoothing(store_path: Path | str) -> int:
    """The ``track_smooth`` a store was made with (0 when none)."""
    with ClipStore(store_path) as store:
        return int(store.attrs.get("params", {}).get("track_smooth", 0) or 0)
