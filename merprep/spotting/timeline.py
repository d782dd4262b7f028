"""Pictures of spotting: a timeline per video and a montage per spotted interval.

The timeline shows both motion scores over time, each divided by its threshold (so the dashed
line at 1 is the threshold), the spotted intervals (ME red, MaE blue; label: type, score and,
after recognition, the class), the ground truth on its own lane, talking spans (grey) and
blinks (ticks). The montage shows the face crop at evenly spaced frames from onset to offset,
the apex marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from merprep.fsio import atomic_write_with

COLOURS = {"me": "#d62728", "mae": "#1f77b4"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def load_curves(out: Path) -> dict[str, dict[str, np.ndarray]]:
    path = Path(out) / "curves.npz"
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as z:
        ids = [str(v) for v in z["video_ids"]]
        curves: dict[str, dict[str, np.ndarray]] = {v: {} for v in ids}
        for key in z.files:
            if key == "video_ids":
                continue
            index, _, name = key.partition("_")
            curves[ids[int(index)]][name] = z[key]
    return curves


def timeline_png(entry: dict[str, Any], curves: dict[str, np.ndarray], path: Path | str) -> Path:
    """One video's timeline (see the module docstring) as a PNG, written atomically."""
    plt = _pyplot()
    fps, first = float(entry["fps"]), int(entry["first_frame"])
    numbers = np.asarray(curves.get("frame_numbers", []), np.float64)
    t = (numbers - first) / fps
    fig, (ax, lane) = plt.subplots(
        2, 1, figsize=(11, 3.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top = 2.0
    for kind, style in (("me", "-"), ("mae", "--")):
        score = curves.get(f"score_{kind}")
        thr = entry.get("thresholds", {}).get(kind)
        if score is not None and thr:
            rel = np.asarray(score) / thr
            top = max(top, float(rel.max()) * 1.05)
            ax.plot(
                t,
                rel,
                style,
                color=COLOURS[kind],
                lw=0.9,
                label=f"{kind.upper()} motion / threshold",
            )
    ax.axhline(1.0, color="k", ls=":", lw=0.8, label="threshold")
    for a, b in entry.get("talking", []):
        ax.axvspan((a - first) / fps, (b - first) / fps, color="0.85", zorder=0)
    for s in entry["intervals"]:
        x0, x1 = (s["onset"] - first) / fps, (s["offset"] + 1 - first) / fps
        ax.axvspan(x0, x1, color=COLOURS[s["type"]], alpha=0.25)
        label = f"{s['type'].upper()} {s['score']:.1f}"
        if s.get("class"):
            label += f"\n{s['class']} {s.get('class_probability', 0):.2f}"
        ax.text(x0, top * 0.97, label, fontsize=6.5, va="top", color=COLOURS[s["type"]])
    for b in entry.get("blinks", []):
        ax.plot([(b - first) / fps], [0.05 * top], marker="|", color="0.3", ms=6)
    ax.set_ylim(0, top)
    ax.set_ylabel("score / threshold")
    ax.legend(loc="upper right", fontsize=7, ncol=3)
    ax.set_title(
        entry["video_id"] + ("" if entry.get("ground_truth") else " (no ground truth)"), fontsize=9
    )
    for g in entry.get("ground_truth", []):
        lane.axvspan(
            (g["onset"] - first) / fps,
            (g["offset"] + 1 - first) / fps,
            color=COLOURS[g["type"]],
            alpha=0.6,
        )
        lane.text(
            (g["onset"] - first) / fps,
            0.55,
            g["type"].upper() + (f" {g['emotion']}" if g.get("emotion") else ""),
            fontsize=6.5,
        )
    lane.set_yticks([0.5], ["truth"])
    lane.set_ylim(0, 1)
    lane.set_xlabel("seconds")
    if len(t):
        lane.set_xlim(float(t[0]), float(t[-1]))
    fig.tight_layout()
    out = Path(path)
    atomic_write_with(out, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), suffix=".png")
    plt.close(fig)
    return out


def timelines(out: Path | str, limit: int | None = None) -> list[Path]:
    """Timelines of the videos of a spots folder (the first ``limit``): ``timeline/*.png``."""
    from merprep.spotting.run import load_spots

    out = Path(out)
    doc, curves = load_spots(out), load_curves(out)
    paths = []
    for entry in doc["videos"][:limit]:
        name = entry["video_id"].replace("/", "__") + ".png"
        paths.append(
            timeline_png(entry, curves.get(entry["video_id"], {}), out / "timeline" / name)
        )
    return paths


def montage_png(
    faces: Sequence[np.ndarray], numbers: Sequence[int], apex: int, title: str, path: Path | str
) -> Path:
    """The face crops of one interval side by side, frame numbers below, the apex framed."""
    plt = _pyplot()
    n = len(faces)
    fig, axes = plt.subplots(1, n, figsize=(1.3 * n, 1.7))
    for ax, face, number in zip(np.atleast_1d(axes), faces, numbers):
        img = np.asarray(face)
        ax.imshow(
            img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img,
            cmap="gray",
            vmin=0,
            vmax=255,
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(str(number), fontsize=7)
        if number == apex:
            for spine in ax.spines.values():
                spine.set_color("#d62728")
                spine.set_linewidth(2)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    out = Path(path)
    atomic_write_with(out, lambda tmp: fig.savefig(tmp, dpi=100, format="png"), suffix=".png")
    plt.close(fig)
    return out
