"""Per-fold overhead of rebuilding a Keras model vs re-initialising a compiled one.

``mertrain run`` trains the folds of a run one after another. A fresh build per fold pays for
``clear_session`` + build + compile + tracing the training step; the reuse path (the default,
``FoldTrainer`` with ``reuse_model=True``) builds the compiled model once and, per fold, copies in
the variables of a fresh build from the fold seed and resets the optimizer. Reuse is only
acceptable if it is bit-identical to a fresh build with the same seed; this script checks that
too (and fails if not).

Each mode runs in its own subprocess (same warm-up for both), on synthetic in-memory clips, with
the real :class:`mertrain.train.FoldTrainer`::

    .venv/bin/python benchmarks/bench_fold_overhead.py                       # defaults below
    .venv/bin/python benchmarks/bench_fold_overhead.py --model stcnn-3dcnn --folds 5 --epochs 2

Prints one line per mode (first fold, mean of the later folds) and whether predictions match.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

DEFAULT_MODELS = ("dual3dcnn-gru-ecbam", "stcnn-3dcnn")


def _one_mode(args: argparse.Namespace) -> dict:
    """Train ``args.folds`` folds with one FoldTrainer; return timings and probabilities."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from mertrain.config import RunConfig
    from mertrain.data import ClipArrays
    from mertrain.folds import FoldContext, FoldJob, fold_seed
    from mertrain.models import get_model
    from mertrain.trainer import FoldTrainer

    spec = get_model(args.model)
    over = dict(spec.test_overrides)
    recipe = spec.recipe.replace(epochs=args.epochs, batch_size=args.batch_size)
    if args.frames:
        over["frames"] = args.frames
    if args.size:
        over["size"] = args.size
    cfg = spec.make_config(**over)
    shapes = spec.input_shapes(cfg)
    rng = np.random.default_rng(0)
    n = args.clips_per_fold * (args.folds + 1)
    subjects = [f"s{i % (args.folds + 1):02d}" for i in range(n)]
    data = ClipArrays(
        [f"bench/{s}/c{i:04d}" for i, s in enumerate(subjects)],
        {k: rng.integers(0, 256, size=(n, *s), dtype=np.uint8) for k, s in shapes.items()},
        np.arange(n) % 3,
        ["bench"] * n,
        subjects,
    )
    run = RunConfig.from_options(stores=["synthetic"], reuse_model=args.mode == "reinit")
    ctx = FoldContext(
        model=spec.name,
        model_config=cfg,
        recipe=recipe,
        classes=("negative", "positive", "surprise"),
        data=run.data,
        training=run.recipe,
        runtime=run.runtime,
        execution=run.execution,
    )
    trainer = FoldTrainer(ctx)
    times, probas = [], []
    for f in range(args.folds):
        test_subject = f"s{f:02d}"
        test = np.array([i for i, s in enumerate(subjects) if s == test_subject])
        train = np.array([i for i, s in enumerate(subjects) if s != test_subject])
        job = FoldJob(
            f, test_subject, fold_seed(0, test_subject), train, test, np.array([], dtype=np.int64)
        )
        t0 = time.perf_counter()
        out = trainer.train(data, job)
        times.append(time.perf_counter() - t0)
        probas.append(np.asarray(out.proba).tolist())
    return {
        "mode": args.mode,
        "model": args.model,
        "times": times,
        "probas": probas,
        "train_clips": len(train),
        "shape": {k: list(v) for k, v in shapes.items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model",
        action="append",
        help="model name (repeatable); default: " + ", ".join(DEFAULT_MODELS),
    )
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--clips-per-fold", type=int, default=8, help="clips per subject")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--mode", choices=["fresh", "reinit"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode:  # child process
        args.model = args.model[0]
        print(json.dumps(_one_mode(args)))
        return 0
    ok = True
    for model in args.model or DEFAULT_MODELS:
        runs = {}
        for mode in ("fresh", "reinit"):
            cmd = [
                sys.executable,
                __file__,
                "--mode",
                mode,
                "--model",
                model,
                "--folds",
                str(args.folds),
                "--clips-per-fold",
                str(args.clips_per_fold),
                "--epochs",
                str(args.epochs),
                "--batch-size",
                str(args.batch_size),
            ]
            if args.frames:
                cmd += ["--frames", str(args.frames)]
            if args.size:
                cmd += ["--size", str(args.size)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        same = runs["fresh"]["probas"] == runs["reinit"]["probas"]
        ok &= same
        shape = runs["fresh"]["shape"]
        print(
            f"{model}  inputs {shape}  {runs['fresh']['train_clips']} training clips, "
            f"{args.epochs} epoch(s), {args.folds} folds"
        )
        for mode in ("fresh", "reinit"):
            t = runs[mode]["times"]
            later = sum(t[1:]) / max(len(t) - 1, 1)
            print(
                f"  {mode:<7} first fold {t[0]:6.2f} s   later folds {later:6.2f} s/fold   "
                f"({', '.join(f'{x:.2f}' for x in t)})"
            )
        saved = (sum(runs["fresh"]["times"][1:]) - sum(runs["reinit"]["times"][1:])) / max(
            args.folds - 1, 1
        )
        print(
            f"  reinit saves {saved:.2f} s per fold after the first; predictions "
            f"{'IDENTICAL' if same else 'DIFFER'} (bitwise)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
