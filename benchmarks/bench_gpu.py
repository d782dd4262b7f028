"""How fast is the whole MEGC2019 protocol on one accelerator, one fold at a time and packed?

One prepared script for a lent GPU machine (it must finish in under 8 minutes of device time),
also runnable on the CPU at tiny sizes (``--cpu``) to check it before spending device time.
On a synthetic MEGC-sized set (442 clips, 68 subjects, in memory: no dataset and no store
needed), for section A (``dual3dcnn-gru-ecbam`` at 30x128x128x3) and one small model
(``stcnn-3dcnn``), it measures:

- clips/s of one fold alone (steady state: the first epoch, which compiles, is timed apart);
- aggregate clips/s of K folds packed on the device (``--executor packed``), K = 1, 2, 4, 8, ...;
- GPU utilisation and memory while they run (``nvidia-smi``, sampled every 0.5 s);
- float32 vs bf16 vs mixed precision, XLA on and off (one fold each);
- and extrapolates the full protocol (68 folds x 200 epochs over the training clips of each
  fold) from the best packed throughput.

Results are printed and written as JSON (``--out``); docs/benchmarks.md keeps them with the
machine and the Keras backend named. On the lent machine (no TensorFlow there) run it under
JAX: ``KERAS_BACKEND=jax python benchmarks/bench_gpu.py --out $OUT/gpu.json`` (the wheels to
carry are listed in docs/benchmarks.md). On this CPU::

    .venv/bin/python benchmarks/bench_gpu.py --cpu --out /tmp/gpu_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the MEGC2019 composite: 442 clips over 68 subjects
CLIPS, SUBJECTS, FOLDS, EPOCHS = 442, 68, 68, 200


def synthetic(shape: tuple[int, ...], n: int, subjects: int, seed: int = 0):
    """ClipArrays of ``n`` uint8 clips of ``shape`` over ``subjects`` subjects, 3 classes."""
    from mertrain.data import ClipArrays

    rng = np.random.default_rng(seed)
    subj = [f"megc/s{i % subjects:02d}" for i in range(n)]
    ids = [f"{s}/c{i:04d}" for i, s in enumerate(subj)]
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    return ClipArrays(ids, {"face": x}, np.arange(n) % 3, ["megc"] * n, subj)


def context(model: str, overrides: dict, epochs: int, batch: int, precision: str, jit: bool | None):
    from mertrain.config import RunConfig
    from mertrain.folds import FoldContext
    from mertrain.models.registry import get_model

    spec = get_model(model)
    cfg = spec.make_config(**overrides)
    run = RunConfig.from_options(
        stores=["synthetic"], precision=precision, jit=jit, deterministic=jit is None or not jit
    )
    recipe = spec.recipe.replace(epochs=epochs, batch_size=batch)
    return FoldContext(
        model=spec.name,
        model_config=cfg,
        recipe=recipe,
        classes=("negative", "positive", "surprise"),
        data=run.data,
        training=run.recipe,
        runtime=run.runtime,
        execution=run.execution,
    )


def jobs(data, n_folds: int, subjects: int):
    from mertrain.folds import FoldJob, fold_seed

    out = []
    for f in range(n_folds):
        name = f"megc/s{f % subjects:02d}"
        test = np.array([i for i, s in enumerate(data.subjects) if s == name])
        train = np.array([i for i, s in enumerate(data.subjects) if s != name])
        out.append(FoldJob(f, name, fold_seed(0, name), train, test, np.array([], np.int64)))
    return out


class GpuMonitor:
    """nvidia-smi sampled in a thread: utilisation % and memory used (MiB)."""

    def __init__(self) -> None:
        self.smi = shutil.which("nvidia-smi")
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuMonitor:
        if self.smi:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(
                    [
                        self.smi,
                        "--query-gpu=utilization.gpu,memory.used",
                        "--format=csv,noheader,nounits",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout.splitlines()[0]
                util, mem = (float(v) for v in out.split(","))
                self.samples.append((util, mem))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                pass
            self._stop.wait(0.5)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def summary(self) -> dict:
        if not self.samples:
            return {"gpu_util_mean": None, "gpu_mem_peak_mib": None}
        util = [u for u, _ in self.samples]
        return {
            "gpu_util_mean": round(float(np.mean(util)), 1),
            "gpu_mem_peak_mib": max(m for _, m in self.samples),
        }


def one_fold(model, overrides, data, epochs, batch, precision="float32", jit=None) -> dict:
    """Steady-state clips/s of one fold in this process (first epoch timed apart)."""
    from mertrain.trainer import FoldTrainer

    ctx = context(model, overrides, epochs, batch, precision, jit)
    job = jobs(data, 1, SUBJECTS_ACTIVE)[0]
    trainer = FoldTrainer(ctx)
    with GpuMonitor() as mon:
        t0 = time.perf_counter()
        out = trainer.train(data, job)
        wall = time.perf_counter() - t0
    per_epoch = len(job.train)
    first = wall / epochs  # rough when history has no timings: refined below
    times = out.recipe.get("epoch_seconds")
    if times:
        first, rest = times[0], float(np.mean(times[1:])) if len(times) > 1 else times[0]
    else:
        rest = first
    return {
        "model": model,
        "precision": out.recipe.get("precision", precision),
        "jit": bool(out.recipe.get("jit_compile")),
        "epochs": epochs,
        "train_clips": per_epoch,
        "wall_s": round(wall, 2),
        "clips_per_s": round(per_epoch * epochs / wall, 1),
        "first_epoch_s": round(first, 2),
        "steady_epoch_s": round(rest, 2),
        "failure": out.failure,
        **mon.summary(),
    }


def packed(model, overrides, data, epochs, batch, k: int, n_folds: int) -> dict:
    """Aggregate clips/s of ``n_folds`` folds run K at a time (``--executor packed``)."""
    from mertrain.executors.packed import PackedExecutor

    ctx = context(model, overrides, epochs, batch, "float32", None)
    todo = jobs(data, n_folds, SUBJECTS_ACTIVE)
    done = []
    with GpuMonitor() as mon:
        t0 = time.perf_counter()
        PackedExecutor(pack=k).run(ctx, data, todo, done.append)
        wall = time.perf_counter() - t0
    clips = sum(len(j.train) for j in todo) * epochs
    return {
        "model": model,
        "k": k,
        "folds": n_folds,
        "epochs": epochs,
        "wall_s": round(wall, 2),
        "aggregate_clips_per_s": round(clips / wall, 1),
        "failed": sum(o.failure is not None for o in done),
        **mon.summary(),
    }


SUBJECTS_ACTIVE = SUBJECTS


def main() -> int:
    global SUBJECTS_ACTIVE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="tiny sizes, to check the script here")
    ap.add_argument("--packs", default="1,2,4,8,16", help="K values to measure")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per measured fold")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = ap.parse_args()
    if args.cpu:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
        shape, small_shape, n, SUBJECTS_ACTIVE = (8, 32, 32, 3), (9, 32, 32, 1), 48, 8
        models = {
            "dual3dcnn-gru-ecbam": ({"frames": 8, "size": 32, "gru_units": 64}, shape),
            "stcnn-3dcnn": ({"size": 32}, small_shape),
        }
        packs = [1, 2]
    else:
        n = CLIPS
        models = {
            "dual3dcnn-gru-ecbam": ({}, (30, 128, 128, 3)),
            "stcnn-3dcnn": ({}, (9, 128, 128, 1)),
        }
        packs = [int(k) for k in args.packs.split(",")]
    import keras

    results: dict = {"backend": keras.backend.backend(), "cpu": args.cpu, "models": {}}
    for model, (overrides, shp) in models.items():
        data = synthetic(shp, n, SUBJECTS_ACTIVE)
        batch = 8 if model.startswith("dual") else 16
        rows: dict = {"single": [], "packed": []}
        for precision, jit in (
            ("float32", None),
            ("bf16", None),
            ("mixed", None),
            ("float32", True),
        ):
            rows["single"].append(
                one_fold(model, overrides, data, args.epochs, batch, precision, jit)
            )
            print(json.dumps(rows["single"][-1]), flush=True)
        for k in packs:
            rows["packed"].append(
                packed(model, overrides, data, args.epochs, batch, k, n_folds=max(k, 2))
            )
            print(json.dumps(rows["packed"][-1]), flush=True)
        best = max(r["aggregate_clips_per_s"] for r in rows["packed"])
        alone = rows["single"][0]["clips_per_s"]
        clip_epochs = (CLIPS - CLIPS / SUBJECTS) * FOLDS * EPOCHS
        rows["full_protocol"] = {
            "clip_epochs": int(clip_epochs),
            "one_fold_at_a_time_h": round(clip_epochs / alone / 3600, 2),
            "packed_best_min": round(clip_epochs / best / 60, 1),
            "packed_speedup": round(best / alone, 2),
            "note": "extrapolated from the measured throughput (sample sizes as run)",
        }
        print(json.dumps(rows["full_protocol"]), flush=True)
        results["models"][model] = rows
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
