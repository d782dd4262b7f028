"""Every registered model, both input modes: does a saved fold model reproduce its run?

For each (model, ``--input``) this trains fold 0 of a LOSO run for one epoch at the model's test
size on a sample CASME II store (dlib, 8x64x64 RGB, AU crops and Farneback flow added), then
measures the largest difference between fold 0's rows of predictions.csv and

- the model folder applied by the loader in this process (``load_trained(...).predict_store``),
- ``mertrain predict`` in a fresh process (one process for every model),
- the exported SavedModel read by bare TensorFlow in a process without mertrain (Keras models;
  on seeded uint8 inputs, against ``predict_arrays``), and whether TFLite conversion succeeded.

Usage::

    .venv/bin/python benchmarks/bench_inference.py --work /tmp/bench_inference \\
        [--results benchmarks/results/inference.md]

The suite runs a subset of these cases (tests/test_inference.py; ``MERTRAIN_ALL_MODELS=1``
runs all of them there too, without the export column).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import load_average, machine, publish

MODES = ("onset-diff", "raw")


def make_store(work: Path) -> Path:
    from merprep.flow import FlowConfig, run_flow
    from merprep.pipeline import ExtractConfig, extract
    from merprep.regions import CropConfig, run_crop_au
    from merprep.sample import generate

    store = work / "casme2_full.h5"
    if store.exists():
        return store
    root = work / "casme2"
    generate("casme2", root, subjects=3, clips_per_subject=6, clip_length=12, seed=0)
    extract(
        ExtractConfig(dataset="casme2", root=root, out=store, frames=8, size=64, workers=1),
        progress=False,
    )
    run_crop_au(store, CropConfig(size=32), progress=False)
    run_flow(store, FlowConfig(method="farneback", workers=1), progress=False)
    return store


def fold_rows(run_dir: Path) -> dict[str, list[float]]:
    with open(run_dir / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0]["fold"]
    classes = [k[2:] for k in rows[0] if k.startswith("p_")]
    return {r["clip_id"]: [float(r[f"p_{c}"]) for c in classes] for r in rows if r["fold"] == first}


def max_diff(reference: dict[str, list[float]], got: dict[str, list[float]]) -> float:
    return max(float(np.max(np.abs(np.subtract(got[c], p)))) for c, p in reference.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--results", type=Path)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from mertrain.config import RunConfig
    from mertrain.inference import load_trained
    from mertrain.inference.export import example_inputs, export
    from mertrain.models import list_models
    from mertrain.runner import run

    store = make_store(args.work)
    lines = []
    jobs = []
    t_all = time.perf_counter()
    for spec in list_models():
        for mode in MODES:
            out = args.work / f"{spec.name}-{mode}"
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            run(
                RunConfig.from_options(
                    stores=[str(store)],
                    out=str(out),
                    model=spec.name,
                    model_options=dict(spec.test_overrides),
                    input=mode,
                    folds="0",
                    save_weights=True,
                    **({"epochs": 1} if spec.kind == "keras" else {}),
                ),
                progress=False,
            )
            trained = time.perf_counter() - t0
            model = load_trained(out / "weights" / "000")
            rows = model.predict_store(store, progress=False)
            here = max_diff(fold_rows(out), {r["clip_id"]: r["probabilities"] for r in rows})
            exported, lite = "-", "-"
            if spec.kind == "keras":
                dest = args.work / "export" / f"{spec.name}-{mode}"
                shutil.rmtree(dest, ignore_errors=True)
                card = export(out / "weights" / "000", dest)
                x = example_inputs(model, n=3, seed=1)
                np.savez(dest / "x.npz", **x)
                code = (
                    "import sys, numpy as np, tensorflow as tf\n"
                    f"d = np.load({str(dest / 'x.npz')!r})\n"
                    f"f = tf.saved_model.load({str(dest / 'saved_model')!r})"
                    ".signatures['serving_default']\n"
                    "p = f(**{k: tf.constant(d[k]) for k in d.files})['probabilities'].numpy()\n"
                    "assert not any(m.startswith('mertrain') for m in sys.modules)\n"
                    f"np.save({str(dest / 'p.npy')!r}, p)\n"
                )
                subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
                got = np.load(dest / "p.npy")
                exported = f"{float(np.max(np.abs(got - model.predict_arrays(x)))):.1e}"
                lite = "yes" if card["tflite"]["written"] else card["tflite"]["reason"][:60]
            jobs.append((spec.name, mode, out))
            lines.append([spec.name, mode, f"{trained:.1f}", f"{here:.1e}", exported, lite])
            print(lines[-1], flush=True)
    # every model folder through `mertrain predict` in one fresh process
    script = (
        "import json, sys\nfrom mertrain.cli import cli\n"
        "for model, out in json.loads(sys.argv[1]):\n"
        f"    cli.main(['predict', model, {str(store)!r}, '-o', out, '--no-progress'],\n"
        "             prog_name='mertrain', standalone_mode=False)\n"
    )
    pairs = [(str(o / "weights" / "000"), str(o / "fresh.csv")) for _, _, o in jobs]
    subprocess.run([sys.executable, "-c", script, json.dumps(pairs)], check=True)
    for line, (_, _, out) in zip(lines, jobs):
        with open(out / "fresh.csv", newline="") as fh:
            fresh = list(csv.DictReader(fh))
        classes = [k[2:] for k in fresh[0] if k.startswith("p_")]
        got = {r["clip_id"]: [float(r[f"p_{c}"]) for c in classes] for r in fresh}
        line.insert(4, f"{max_diff(fold_rows(out), got):.1e}")
    head = "| model | --input | train fold 0 (s) | loader | fresh process | SavedModel (bare TF) | TFLite |"
    table = [
        f"{machine()}; load average {load_average()} at the end; "
        f"{time.perf_counter() - t_all:.0f} s in all",
        "",
        head,
        "|---|---|---|---|---|---|---|",
        *("| " + " | ".join(line) + " |" for line in lines),
    ]
    publish("\n".join(table), args.results)
    print(json.dumps({"cases": len(lines)}))


if __name__ == "__main__":
    main()
