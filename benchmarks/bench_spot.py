"""Spotting benchmarks (docs/benchmarks.md, "Spotting"): accuracy on held-out sample videos,
throughput against plain OpenCV decoding, peak memory on a 10,000-frame video, and ``merprep
analyze`` on a 60 s video.

    python benchmarks/bench_spot.py accuracy --work /tmp/bench_spot   # F1 on seed-2 videos
    python benchmarks/bench_spot.py speed --work /tmp/bench_spot      # SAMM-size throughput
    python benchmarks/bench_spot.py memory --work /tmp/bench_spot     # 10,000 frames
    python benchmarks/bench_spot.py analyze --work /tmp/bench_spot    # 60 s, 30 fps, 640x480

Honesty: the spotter's parameters (merprep.spotting.classical.SpotConfig defaults) were fixed
on seed-1 videos (12 CAS(ME)^2-layout videos); ``accuracy`` generates seed-2 videos it never
saw. Sample videos are easier than real ones (frontal faces, programmed motions, rigid head
motion without rotation, no lighting changes).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import LONG_SETS, load_average, machine, sample_long_store


def accuracy(work: Path) -> dict:
    from merprep.spotting.classical import SpotConfig
    from merprep.spotting.run import format_table, run_spot

    out = {}
    for dataset, *sizes in LONG_SETS:
        store = sample_long_store(work, dataset, *sizes, seed=2)
        t = time.perf_counter()
        result = run_spot(store, work / f"spots-{dataset}", SpotConfig(), workers=2)
        print(format_table(result.evaluation))
        out[dataset] = {
            "evaluation": dict(result.evaluation["datasets"][dataset]),
            "seconds": time.perf_counter() - t,
        }
    return out


def speed(work: Path) -> dict:
    """Frames per second, 2 workers, on the seed-2 SAMM-layout videos (2040x1088 gray JPEGs at
    200 fps): extract-long + spot (stride 1 and 2) against cv2.imread of the same frames."""
    from merprep.longvideo.config import LongExtractConfig
    from merprep.longvideo.extract import extract_long
    from merprep.parallel import map_in_workers
    from merprep.spotting.classical import SpotConfig
    from merprep.spotting.run import run_spot

    root = work / "samm-long-seed2"
    frames = sorted(str(p) for p in (root / "SAMM_longvideos").rglob("*.jpg"))
    halves = [frames[i::2] for i in range(2)]
    t = time.perf_counter()
    list(map_in_workers(_decode_all, [(h,) for h in halves], workers=2))
    decode = len(frames) / (time.perf_counter() - t)
    out = {"frames": len(frames), "decode_fps": decode}
    for stride in (1, 2):
        store = work / f"speed-{stride}.h5"
        store.unlink(missing_ok=True)
        t = time.perf_counter()
        extract_long(
            LongExtractConfig(dataset="samm-long", root=root, out=store, workers=2, stride=stride),
            progress=False,
        )
        t_extract = time.perf_counter() - t
        t = time.perf_counter()
        run_spot(store, work / f"speed-spots-{stride}", SpotConfig(), workers=2)
        t_spot = time.perf_counter() - t
        fps = len(frames) / (t_extract + t_spot)
        out[f"stride{stride}"] = {
            "extract_s": t_extract,
            "spot_s": t_spot,
            "fps": fps,
            "ratio": fps / decode,
        }
    return out


def _decode_all(paths: list[str]) -> int:
    import cv2

    cv2.setNumThreads(1)
    for p in paths:
        cv2.imread(p, cv2.IMREAD_GRAYSCALE)
    return len(paths)


#: this process's own peak RSS (VmHWM, KiB); ru_maxrss would include the parent's, which Linux
#: carries across fork and exec
PEAK = """
import sys
from merprep.spotting.classical import SpotConfig
from merprep.spotting.run import spot_video
spot_video(sys.argv[1], "video/user/v", SpotConfig())
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def memory(work: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from test_longvideo_extract import synthetic_store

    out = {}
    for n in (2500, 10000):
        store = synthetic_store(work / f"mem{n}.h5", n)
        t = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-c", PEAK, str(store)], capture_output=True, text=True, check=True
        )
        out[n] = {"peak_mib": int(r.stdout.split()[-1]) / 1024, "seconds": time.perf_counter() - t}
    return out


def analyze(work: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from test_analyze import recording

    video = work / "sixty.mp4"
    if not video.exists():
        recording(video, 1800, seed=21, expressions=True)
    t = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "merprep"),
            "analyze",
            str(video),
            "-o",
            str(work / "sixty"),
            "--no-progress",
        ],
        check=True,
    )
    wall = time.perf_counter() - t
    doc = json.loads((work / "sixty" / "analysis.json").read_text())
    return {
        "wall_s": wall,
        "intervals": len(doc["intervals"]),
        "status": doc["status"],
        "children_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("accuracy", "speed", "memory", "analyze"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_spot"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{machine()}; load {load_average()}")
    result = {"accuracy": accuracy, "speed": speed, "memory": memory, "analyze": analyze}[
        args.what
    ](args.work)
    print(json.dumps(result, indent=1, default=str))
    print(f"load after: {load_average()}")
