"""Extraction throughput and memory: ``merprep extract`` against decoding the same frames.

Generates a CASME II-sized sample (CASME II layout, 640x480 JPEG, default clip lengths of 40-70
frames; 26 subjects x 10 clips by default, against CASME II's 26 subjects and 255 clips) and a
10x larger one made from it (subject folders linked under new subject numbers, annotation rows
repeated), then for each:

* ``extract``: :func:`merprep.pipeline.extract` with ``--workers`` processes and the default
  options (dlib, uniform 30 frames, 128 px, rgb, frames stored raw with checksums); frames/s counts stored frames; the phases
  (plan = validation pass, process = workers with the HDF5 merge overlapped, write = the rest of
  the merge and the commit) are reported;
* ``decode``: decoding exactly the frames the store keeps (each record's ``frame_numbers``), with
  the same number of worker processes, one task per clip, in two ways: ``full`` (cv2 at full
  size, what a plain loader does) and ``reduced`` (at the JPEG DCT reduction extract itself
  chose for that clip, so only the face/crop/write work differs);
* CPU seconds (user + system of this process and its reaped children) beside wall seconds:
  on a shared machine other jobs take cores away, so frames per CPU-second is the comparison
  that does not depend on the neighbours; wall frames/s is what a user sees;
* every source file is read once before the timed runs, so all of them start from a warm page
  cache;
* peak memory: the largest sum of resident set sizes of this process and all its descendants
  (sampled from /proc every 20 ms), and ``ru_maxrss`` of the largest single child.

Target: extract >= 0.7x decode-only (full) frames/s; memory independent of the dataset size and
below 1 GiB. Prints a markdown table and the machine.

    .venv/bin/python benchmarks/bench_extract.py                    # 260 clips + 10x, all cores
    .venv/bin/python benchmarks/bench_extract.py --scale 1 --workers 1
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from common import machine

from merprep.parallel import worker_count

PAGE = os.sysconf("SC_PAGE_SIZE")


# ----------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------


class TreeRSS:
    """Samples the summed RSS of this process and its descendants in a thread; ``peak`` bytes."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(_rss(p) for p in _descendants(me) | {me}))
            self._stop.wait(self.interval)


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


# ----------------------------------------------------------------------------------------------
# samples
# ----------------------------------------------------------------------------------------------


def demo_sample(work: Path, subjects: int, clips: int) -> Path:
    from merprep.sample import generate

    root = work / f"casme2_{subjects}x{clips}"
    if not (root / "merprep_sample_truth.json").exists():
        started = time.perf_counter()
        generate("casme2", root, subjects=subjects, clips_per_subject=clips, seed=0)
        logging.info("generated %s in %.0f s", root, time.perf_counter() - started)
    return root


def scaled_sample(demo: Path, scale: int) -> Path:
    """``scale`` copies of ``demo`` under new subject numbers (folders linked, not copied)."""
    import openpyxl

    root = demo.with_name(f"{demo.name}_x{scale}")
    if (root / "done").exists():
        return root
    frames = root / "CASME2_RAW_selected"
    frames.mkdir(parents=True, exist_ok=True)
    book = openpyxl.load_workbook(next(demo.glob("CASME2-coding-*.xlsx")))
    sheet = book.active
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    n_subjects = max(int(r[0]) for r in rows)
    for k in range(1, scale):
        for r in rows:
            subject = int(r[0]) + k * n_subjects
            link = frames / f"sub{subject:02d}"
            if not link.exists():
                link.symlink_to(demo / "CASME2_RAW_selected" / f"sub{int(r[0]):02d}")
            sheet.append([subject, *r[1:]])
    for s in range(1, n_subjects + 1):
        link = frames / f"sub{s:02d}"
        if not link.exists():
            link.symlink_to(demo / "CASME2_RAW_selected" / f"sub{s:02d}")
    book.save(root / "CASME2-coding-20190701.xlsx")
    (root / "done").write_text("")
    return root


# ----------------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system time of this process and its reaped children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_extract(root: Path, out: Path, workers: int) -> dict:
    from merprep.pipeline import ExtractConfig, extract

    out.unlink(missing_ok=True)
    config = ExtractConfig(dataset="casme2", root=root, out=out, workers=workers)
    with TreeRSS() as rss:
        started, cpu = time.perf_counter(), cpu_seconds()
        result = extract(config, command="bench_extract", progress=False)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "clips": result.n_clips,
        "frames": result.n_frames,
        "seconds": seconds,
        "fps": result.n_frames / seconds,
        "cpu_fps": result.n_frames / cpu,
        "peak_rss": rss.peak,
        "phases": result.phases,
    }


def decode_tasks(store_path: Path, root: Path) -> list[tuple[list[str], int]]:
    """Per clip: the files of its stored frames (repeats kept) and extract's reduce factor."""
    import numpy as np

    from merprep.datasets.base import number_frames
    from merprep.pipeline import choose_reduce
    from merprep.store import ClipStore

    with ClipStore(store_path) as store:
        records = store.records()
        size = int(store.attrs["frame_height"])
    tasks = []
    for rec in records:
        frames = number_frames(root / rec["source"])
        matrix = np.array(rec["transform"])
        face_px = size / float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
        tasks.append(
            (
                [str(frames[int(n)]) for n in rec["frame_numbers"]],
                choose_reduce(face_px, size, False),
            )
        )
    return tasks


def _decode_clip(files: list[str], reduce: int) -> int:
    from merprep.frames.decode import read_image

    cache = {}
    for f in files:  # as extract does: a repeated frame is decoded once
        if f not in cache:
            cache[f] = read_image(f, "rgb", reduce)
    return len(files)


def _init_decoder() -> None:
    import cv2

    cv2.setNumThreads(1)


def warm_page_cache(root: Path) -> None:
    """Read every file of the sample once, so the first contender (extract) does not pay for a
    cold disk cache that the later ones (decoding) then enjoy."""
    for dirpath, _, files in os.walk(root, followlinks=True):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def run_decode(tasks: list[tuple[list[str], int]], workers: int, reduced: bool) -> dict:
    started, cpu = time.perf_counter(), cpu_seconds()
    with TreeRSS() as rss:
        if workers == 1:
            _init_decoder()
            n = sum(_decode_clip(files, r if reduced else 1) for files, r in tasks)
        else:
            with ProcessPoolExecutor(
                workers, mp_context=get_context("spawn"), initializer=_init_decoder
            ) as pool:
                n = sum(
                    pool.map(
                        _decode_clip, [f for f, _ in tasks], [r if reduced else 1 for _, r in tasks]
                    )
                )
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "frames": n,
        "seconds": seconds,
        "fps": n / seconds,
        "cpu_fps": n / cpu,
        "peak_rss": rss.peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="cache folder for samples (default: temp)")
    parser.add_argument("--subjects", type=int, default=26)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument(
        "--scale",
        type=int,
        action="append",
        help="dataset size multiples to run (default: 1 and 10)",
    )
    parser.add_argument("--workers", type=int, default=0, help="0: one per available CPU")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    workers = worker_count(args.workers)
    load = os.getloadavg()[0]
    scales = args.scale or [1, 10]
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        demo = demo_sample(work, args.subjects, args.clips)
        rows = []
        for scale in scales:
            root = demo if scale == 1 else scaled_sample(demo, scale)
            out = work / f"store_x{scale}.h5"
            warm_page_cache(root)
            ex = run_extract(root, out, workers)
            tasks = decode_tasks(out, root)
            full = run_decode(tasks, workers, reduced=False)
            reduced = run_decode(tasks, workers, reduced=True)
            rows.append((scale, ex, full, reduced))
            out.unlink()
    print(f"\nmachine: {machine()}, load average {load:.1f} at start; workers: {workers}\n")
    print("frames/s: wall (per CPU-second); ratio = extract / decode, wall (CPU)\n")
    print(
        "| sample | clips | frames kept | extract | decode full | ratio | decode reduced | "
        "ratio | extract plan/process/write s | peak RSS extract (tree) | "
        "peak RSS decode (tree) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scale, ex, full, reduced in rows:
        phases = "/".join(f"{ex['phases'][k]:.1f}" for k in ("plan", "process", "write"))
        cells = [f"x{scale}", str(ex["clips"]), str(ex["frames"])]
        for d in (ex, full, reduced):
            cells.append(f"{d['fps']:.0f} ({d['cpu_fps']:.0f})")
            if d is not ex:
                cells.append(f"{ex['fps'] / d['fps']:.2f} ({ex['cpu_fps'] / d['cpu_fps']:.2f})")
        cells += [
            phases,
            f"{ex['peak_rss'] / 2**20:.0f} MiB",
            f"{full['peak_rss'] / 2**20:.0f} MiB",
        ]
        print("| " + " | ".join(cells) + " |")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\nlargest single child process ru_maxrss: {children:.0f} MiB")


if __name__ == "__main__":
    main()
