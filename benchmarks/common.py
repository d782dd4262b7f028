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
