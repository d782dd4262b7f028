"""Honest and as-published scores side by side, on the learnability sample.

The same sample, stores and models as ``bench_learnability.py`` (honest LOSO at each model's
defaults with only the input size overridden), trained once per model with
``select="oracle-per-subject"``: the run keeps every epoch's test probabilities, so ONE training
gives both the honest numbers (the last epoch, pooled: what ``select="last"`` reports, bit for
bit) and what the references' protocols make of the same predictions:

- per-subject mean with the references' metric at the last epoch (no test selection);
- best TEST epoch per subject with that metric, mean over subjects (ICIP 2024 / extended
  version, ``ME_model.py:253-277``): the published numbers' protocol;
- best TEST accuracy epoch per fold, pooled (``--select oracle``).

Models without epochs (``lbptop-svm``) only have the per-subject mean.

    .venv/bin/python benchmarks/bench_published.py --out /tmp/lbw --models stcnn-3dcnn,ststnet
    .venv/bin/python benchmarks/bench_published.py --quick    # 4 subjects, 2 epochs

Prints a markdown table; ``--results FILE`` writes it too (docs/protocols.md quotes it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_learnability import Stores, plan
from common import load_average, machine, publish

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_model(name: str, stores: Stores, out: Path, epochs: int | None) -> dict:
    from mertrain.config import RunConfig
    from mertrain.models import get_model
    from mertrain.runner import run

    spec = get_model(name)
    paths, over, mode, what = plan(name, stores)
    keras_model = spec.kind == "keras"
    n_epochs = (epochs or spec.recipe.epochs) if keras_model else None
    run_dir = out / "runs" / f"{name}-published-e{n_epochs or 0}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = RunConfig.from_options(
        stores=[str(p) for p in paths],
        out=str(run_dir),
        model=name,
        protocol="loso",
        task="3class",
        select="oracle-per-subject" if keras_model else "last",
        input=mode,
        epochs=n_epochs,
        **over,
    )
    t0 = time.perf_counter()
    result = run(config, progress=False)
    r = result.results
    pub = r["published"]
    if keras_model:
        honest = pub["last_epoch"]["pooled"]
        per_subject = pub["last_epoch"]["per_subject_mean"]
    else:
        honest = {k: r[k] for k in ("uf1", "uar", "acc")}
        per_subject = pub["per_subject_mean"]
    return {
        "model": name,
        "input": what,
        "epochs": n_epochs or "-",
        "honest": honest,
        "ci": r["ci"] if not keras_model else None,
        "per_subject": per_subject,
        "best_epoch": pub["best_test_epoch_per_subject"],
        "oracle": pub["best_test_acc_per_fold_pooled"],
        "wall_s": time.perf_counter() - t0,
        "run_dir": str(run_dir),
    }


def _pair(d: dict) -> str:
    if not d.get("available", True):
        return "n/a"
    return f"{d['uf1']:.3f} / {d['uar']:.3f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| model | input | epochs | honest: last epoch, pooled UF1 / UAR | per-subject mean, "
        "reference metric, last epoch | **best TEST epoch per subject (ICIP/EXT)** | best TEST "
        "accuracy epoch per fold, pooled | wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {r['input']} | {r['epochs']} | {_pair(r['honest'])} | "
            f"{_pair(r['per_subject'])} | {_pair(r['best_epoch'])} | {_pair(r['oracle'])} | "
            f"{r['wall_s']:.0f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="stcnn-3dcnn,ststnet,lbptop-svm")
    ap.add_argument("--epochs", type=int, default=None, help="override every Keras model's")
    ap.add_argument("--subjects", type=int, default=None, help="sample subjects (default 8)")
    ap.add_argument("--clips-per-subject", type=int, default=6)
    ap.add_argument("--amplitude", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0, help="sample seed (the run seed is 0)")
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: temporary)")
    ap.add_argument("--results", type=Path, default=None, help="also write the table here")
    ap.add_argument("--quick", action="store_true", help="4 subjects, 2 epochs unless given")
    args = ap.parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    subjects = args.subjects or (4 if args.quick else 8)
    epochs = args.epochs or (2 if args.quick else None)
    work = args.out or Path(tempfile.mkdtemp(prefix="bench_published_"))
    work.mkdir(parents=True, exist_ok=True)
    stores = Stores(work, subjects, args.clips_per_subject, args.amplitude, args.seed)
    print(f"machine: {machine()}; load average at start: {load_average()}", flush=True)
    rows = []
    t0 = time.perf_counter()
    try:
        for name in names:
            rows.append(run_model(name, stores, work, epochs))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(
        [
            f"Command: `{' '.join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])])}`",
            f"Machine: {machine()}",
            f"Sample: casme2, {subjects} subjects x {args.clips_per_subject} clips, amplitude "
            f"{args.amplitude:g} px, seed {args.seed}; LOSO, run seed 0",
            f"Load average at end (1, 5, 15 min): {load_average()}; total "
            f"{time.perf_counter() - t0:.0f} s",
            "",
            table(rows),
        ]
    )
    publish(text, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
