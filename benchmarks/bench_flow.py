"""Optical-flow throughput: pairs per second for TV-L1 and Farneback.

Builds its own demo-sized sample store (CASME II layout, 4 subjects x 6 clips, 10 frames per
clip, as `make demo`) at the store resolutions asked for, then times

* ``kernel``: :func:`merprep.flow.process_clip` in this process with OpenCV on one thread:
  the cost of one flow pair (plus strain and resize) on one core;
* ``stage``: the whole ``merprep flow`` stage (:func:`merprep.flow.run_flow`) with ``--workers``
  processes, including reading clips, copying the store and writing it back.

Both use ``--pair sequence`` (onset to each of the other 9 frames), so a clip is 9 pairs.
Prints a markdown table and the machine.

    .venv/bin/python benchmarks/bench_flow.py            # store 128 px -> output 128 and 28
    .venv/bin/python benchmarks/bench_flow.py --store-size 64 --store-size 128
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine

from merprep.parallel import worker_count


def build_store(work: Path, size: int, subjects: int, clips: int, frames: int) -> Path:
    from merprep.pipeline import ExtractConfig, extract
    from merprep.sample import generate

    root = work / "casme2"
    if not root.exists():
        generate("casme2", root, subjects=subjects, clips_per_subject=clips, seed=0)
    out = work / f"casme2_{size}.h5"
    extract(
        ExtractConfig(dataset="casme2", root=root, out=out, frames=frames, size=size, workers=0),
        command="bench_flow",
        progress=False,
    )
    return out


def time_kernel(store_path: Path, method: str, size: int) -> tuple[int, float]:
    import cv2

    from merprep.flow import FlowConfig, process_clip
    from merprep.store import ClipStore

    config = FlowConfig(method=method, pair="sequence", size=size, workers=1)
    with ClipStore(store_path) as store:
        clips = [(store.frames(c), store.landmarks(c), store.record(c)) for c in store.clip_ids]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        start = time.perf_counter()
        for frames, lm, rec in clips:
            process_clip(frames, lm, rec, config)
        seconds = time.perf_counter() - start
    finally:
        cv2.setNumThreads(threads)
    return sum(len(f) - 1 for f, _, _ in clips), seconds


def time_stage(store_path: Path, method: str, size: int, workers: int) -> tuple[int, float]:
    from merprep.flow import FlowConfig, run_flow
    from merprep.store import ClipStore

    with ClipStore(store_path) as store:
        pairs = sum(store.record(c)["n_frames"] - 1 for c in store.clip_ids)
    start = time.perf_counter()
    run_flow(
        store_path,
        FlowConfig(method=method, pair="sequence", size=size, workers=workers),
        command="bench_flow",
        progress=False,
    )
    return pairs, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--store-size", type=int, action="append", help="store frame size (repeatable; default 128)"
    )
    ap.add_argument(
        "--out-size",
        type=int,
        action="append",
        help="flow output size (repeatable; default 128 and 28)",
    )
    ap.add_argument(
        "--method", action="append", choices=["tvl1", "farneback"], help="default: both"
    )
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--clips-per-subject", type=int, default=6)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument(
        "--workers", type=int, default=worker_count(0), help="default: one per available CPU"
    )
    ap.add_argument("--work", type=Path, help="keep the sample and stores here")
    args = ap.parse_args()

    store_sizes = args.store_size or [128]
    out_sizes = args.out_size or [128, 28]
    methods = args.method or ["tvl1", "farneback"]
    with tempfile.TemporaryDirectory(prefix="bench_flow_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for store_size in store_sizes:
            store = build_store(
                work, store_size, args.subjects, args.clips_per_subject, args.frames
            )
            for method in methods:
                for out_size in out_sizes:
                    n, s = time_kernel(store, method, out_size)
                    n2, s2 = time_stage(store, method, out_size, args.workers)
                    rows.append((method, store_size, out_size, n, s, n2, s2))
                    print(
                        f"  {method} store {store_size} -> {out_size}: kernel {n / s:.1f} "
                        f"pairs/s, stage {n2 / s2:.1f} pairs/s",
                        flush=True,
                    )

    print()
    print(f"Machine: {machine()}")
    print(
        f"Store: CASME II sample, {args.subjects} subjects x {args.clips_per_subject} clips x "
        f"{args.frames} frames; --pair sequence ({args.frames - 1} pairs per clip)"
    )
    print()
    print(
        "| method | store px | output px | pairs | kernel pairs/s (1 thread) | "
        f"stage pairs/s ({args.workers} workers, incl. store I/O) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for method, store_size, out_size, n, s, n2, s2 in rows:
        print(f"| {method} | {store_size} | {out_size} | {n} | {n / s:.1f} | {n2 / s2:.1f} |")


if __name__ == "__main__":
    main()
