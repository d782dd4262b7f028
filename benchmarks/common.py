"""What every benchmark prints beside its numbers: the machine and its load.

The scripts are run as ``python benchmarks/<name>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPU count and model, OS and Python: enough to say where a number was measured."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: on a shared machine, other jobs' share."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def publish(text: str, results: Path | None) -> None:
    """Print a result table and, when asked, also write it to ``results``."""
    print()
    print(text)
    if results:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(text + "\n")


#: the spotting benchmarks' generated long videos: (dataset, subjects, videos per subject,
#: frames per video, extraction stride)
LONG_SETS = (("casme2-long", 4, 3, 600, 1), ("samm-long", 2, 2, 1600, 2))


def sample_long_store(
    work: Path, dataset: str, subjects: int, videos: int, frames: int, stride: int, seed: int
) -> Path:
    """``WORK/<dataset>-seed<seed>`` generated and extracted to ``.h5`` beside it, each only
    when missing, so the spotting benchmarks share one set of videos per seed."""
    from merprep.longvideo.config import LongExtractConfig
    from merprep.longvideo.extract import extract_long
    from merprep.sample import generate

    root = work / f"{dataset}-seed{seed}"
    if not root.exists():
        generate(
            dataset, root, subjects=subjects, clips_per_subject=videos, clip_length=frames,
            seed=seed,
        )  # fmt: skip
    store = root.with_suffix(".h5")
    if not store.exists():
        extract_long(
            LongExtractConfig(dataset=dataset, root=root, out=store, workers=2, stride=stride),
            progress=False,
        )
    return store
