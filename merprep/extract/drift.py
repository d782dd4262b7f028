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
    return (
        f"landmark drift over {len(recs)} tracked clips (store px, max over frames of the "
        f"mean point displacement from the onset): mean {drift.mean():.2f}, max "
        f"{drift.max():.2f} ({worst}); {lost} frames without a face reused the previous "
        "landmarks"
    )
