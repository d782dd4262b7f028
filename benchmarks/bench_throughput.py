"""Training throughput on CPU: clips/s per model, fed from the store vs from memory.

For every registered Keras model, at the small sizes of ``bench_learnability.py`` and at the
model's full default size, times a few training steps (``model.fit`` for one pass over
``--steps`` batches, after a warm-up pass that traces the step) fed

* ``store``: the real input path of ``mertrain run`` — open the stores with
  :class:`mertrain.data.StoreCollection`, read and resize the clips with
  :func:`mertrain.data.load_arrays`, normalise with :class:`mertrain.data.Normaliser`
  (``onset-diff``), then ``model.fit`` on the NumPy arrays;
* ``memory``: ``model.fit`` on the same normalised tensors already in memory (``tf.constant``).

The ratio store/memory (clips/s) is the input path's efficiency (target >= 0.9). The store
column pays for reading every clip once per pass: this is the worst case of a 1-epoch run; the
trainer reads the clips once per run, so over E epochs its read cost per clip is 1/E of this.
The ``read``/``norm`` columns split the store path's extra time so the dominant cost is named.

Each measurement alternates store and memory passes (``--repeats`` each, median taken), so both
see the same machine load. Stores come from a small ``merprep sample`` (2 subjects x 6 clips)
cached under ``--out``.

    .venv/bin/python benchmarks/bench_throughput.py                          # all, small + full
    .venv/bin/python benchmarks/bench_throughput.py --models stcnn-3dcnn --sizes small
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_learnability import FACE_FRAMES, SIZE, Stores, plan
from common import load_average, machine, publish


def full_stores(name: str, stores: Stores) -> tuple[list[Path], dict]:
    """Stores at the model's default (full) input size, and no size overrides."""
    from mertrain.models import get_model

    spec = get_model(name)
    cfg = spec.make_config()
    sources = {i.source for i in spec.required_inputs(cfg)}
    frames, size = getattr(cfg, "frames", FACE_FRAMES), getattr(cfg, "size", SIZE)
    if "flow" in sources:
        return [stores.flow(size, frames=30, size=128)], {}
    if spec.family == "stcnn":
        return [stores.key(frames, size)], {}
    return [stores.au(frames, size) if "au" in sources else stores.face(frames, size)], {}


def measure(
    name: str, paths: list[Path], over: dict, steps: int, max_batch: int, repeats: int
) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from mertrain.data import Normaliser, StoreCollection, load_arrays
    from mertrain.fitting import make_optimizer
    from mertrain.losses import FoldLoss
    from mertrain.models import get_model

    spec = get_model(name)
    cfg = spec.make_config(**over)
    recipe = spec.recipe
    inputs = spec.required_inputs(cfg)
    shapes = spec.input_shapes(cfg)
    sources = {i.name: i.source for i in inputs}
    with StoreCollection([str(p) for p in paths]) as c:
        all_ids = [r["clip_id"] for r in c.records()]
    batch = min(recipe.batch_size, max_batch, len(all_ids))
    n = batch * steps
    ids = [all_ids[i % len(all_ids)] for i in range(n)]
    y = np.arange(n) % 3

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model, _ = spec.build(3, config=cfg)
    loss = FoldLoss(recipe.loss, 3)
    loss.prepare(y)
    model.compile(optimizer=make_optimizer(recipe), loss=loss.fn)

    timings = {"read": [], "norm": [], "fit_store": [], "fit_memory": []}

    def store_pass() -> None:
        t0 = time.perf_counter()
        with StoreCollection([str(p) for p in paths]) as coll:
            raw = load_arrays(coll, ids, shapes, sources, progress=False)
        t1 = time.perf_counter()
        x = {k: Normaliser("onset-diff").fit(v)(v) for k, v in raw.items()}
        t2 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        t3 = time.perf_counter()
        timings["read"].append(t1 - t0)
        timings["norm"].append(t2 - t1)
        timings["fit_store"].append(t3 - t2)

    with StoreCollection([str(p) for p in paths]) as coll:
        raw = load_arrays(coll, ids, shapes, sources, progress=False)
    x_mem = {k: tf.constant(Normaliser("onset-diff").fit(v)(v)) for k, v in raw.items()}
    y_mem = tf.constant(y)

    def memory_pass() -> None:
        t0 = time.perf_counter()
        model.fit(x_mem, y_mem, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        timings["fit_memory"].append(time.perf_counter() - t0)

    store_pass()  # warm-up: traces the training step (both paths feed the same dtypes/shapes)
    memory_pass()
    for v in timings.values():
        v.clear()
    for _ in range(repeats):
        store_pass()
        memory_pass()
    med = {k: statistics.median(v) for k, v in timings.items()}
    store_s = med["read"] + med["norm"] + med["fit_store"]
    what = ", ".join(f"{k} {'x'.join(map(str, s))}" for k, s in shapes.items())
    return {
        "model": name,
        "input": what,
        "batch": batch,
        "steps": steps,
        "store_cps": n / store_s,
        "memory_cps": n / med["fit_memory"],
        "ratio": med["fit_memory"] / store_s,
        "read_ms_per_clip": 1e3 * med["read"] / n,
        "norm_ms_per_clip": 1e3 * med["norm"] / n,
        "fit_store_vs_memory": med["fit_store"] / med["fit_memory"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="all", help="comma-separated Keras models or 'all'")
    ap.add_argument("--sizes", default="small,full", help="small, full or both (default)")
    ap.add_argument("--steps", type=int, default=3, help="training steps per timed pass")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per path (median)")
    ap.add_argument(
        "--max-batch", type=int, default=16, help="cap on the model's batch size (STSTNet's is 256)"
    )
    ap.add_argument("--out", type=Path, default=None, help="store cache (default: temporary)")
    ap.add_argument("--results", type=Path, default=None, help="also write the table here")
    args = ap.parse_args(argv)

    from mertrain.models import list_models

    keras_names = [s.name for s in list_models("keras")]
    names = keras_names if args.models == "all" else [m.strip() for m in args.models.split(",")]
    bad = [n for n in names if n not in keras_names]
    if bad:
        ap.error(f"not Keras models: {bad}; choose from {keras_names}")
    sizes = [s.strip() for s in args.sizes.split(",")]
    work = args.out or Path(tempfile.mkdtemp(prefix="bench_throughput_"))
    work.mkdir(parents=True, exist_ok=True)
    stores = Stores(work, subjects=2, clips=6, amplitude=3.0, seed=0)
    print(f"machine: {machine()}; load average at start: {load_average()}", flush=True)
    rows = []
    try:
        for name in names:
            for size in sizes:
                if size == "small":
                    paths, over, _, _ = plan(name, stores)
                elif size == "full":
                    paths, over = full_stores(name, stores)
                else:
                    ap.error(f"unknown size {size!r}")
                load0 = os.getloadavg()[0]
                r = measure(name, paths, over, args.steps, args.max_batch, args.repeats)
                r["size"] = size
                r["load"] = f"{load0:.1f}-{os.getloadavg()[0]:.1f}"
                rows.append(r)
                print(
                    f"{name} {size}: store {r['store_cps']:.2f} clips/s, memory "
                    f"{r['memory_cps']:.2f} clips/s, ratio {r['ratio']:.2f}",
                    flush=True,
                )
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    lines = [
        f"Command: `{' '.join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])])}`",
        f"Machine: {machine()}",
        f"Load average at end (1, 5, 15 min): {load_average()}",
        "",
        "| model | size | input | batch x steps | store clips/s | memory clips/s | ratio "
        "| read ms/clip | norm ms/clip | fit(store)/fit(memory) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {r['size']} | {r['input']} | {r['batch']} x "
            f"{r['steps']} | {r['store_cps']:.2f} | {r['memory_cps']:.2f} | "
            f"{r['ratio']:.2f} | {r['read_ms_per_clip']:.1f} | "
            f"{r['norm_ms_per_clip']:.1f} | {r['fit_store_vs_memory']:.2f} | "
            f"{r['load']} |"
        )
    text = "\n".join(lines)
    publish(text, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
