"""Does every registered model learn? Pooled LOSO UF1 on a micro-amplitude sample.

Generates a CASME II-format sample with ``merprep sample`` (8 subjects x 6 clips by default:
2 negative, 2 positive, 2 surprise each; micro amplitude 3 px at 640x480; fixed seed), writes
the clip stores each model reads with the merprep commands, then trains and evaluates every
registered model with :func:`mertrain.train.run`: honest leave-one-subject-out (nothing of the
test subject in training, normalisation or model selection: ``select="last"``, a fixed number of
epochs), the model's DEFAULT configuration with only the small-size overrides below, passed the
same way for every model (``RunConfig.frames`` / ``RunConfig.size``):

==========================  ======================================  ==========================
model family                store                                   overrides
==========================  ======================================  ==========================
A/B (dual3dcnn-*)           face, 10 frames x 64 x 64 RGB (+ AU     frames=10, size=64
                            crops 64 px for B)
C (stcnn-*)                 key frames (``--sampling key``), 9 x    frames=9, size=64
                            64 x 64 gray
am3f-flownet                flow (u, v, strain) 28 x 28             size=28
ststnet                     flow (u, v, strain) 28 x 28             (its default, 28)
lbptop-svm                  face store, read as 10 x 64 x 64 gray   frames=10, size=64
==========================  ======================================  ==========================

Clip models read ``--input onset-diff`` (the trainer default); LBP-TOP reads ``raw`` frames
(the descriptor's published input); flow models read the float flow as stored.

    .venv/bin/python benchmarks/bench_learnability.py                      # all models
    .venv/bin/python benchmarks/bench_learnability.py --models stcnn-3dcnn,ststnet
    .venv/bin/python benchmarks/bench_learnability.py --quick              # smoke run
    .venv/bin/python benchmarks/bench_learnability.py --out /tmp/lb --results table.md

Stores are cached under ``--out`` (reused when the same sample parameters ask for them); each
model's run directory is ``OUT/runs/MODEL-eEPOCHS``. Prints a markdown table (model, input,
epochs, pooled UF1, UAR, ACC, wall time, training clips/s) and the machine and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import load_average, machine, publish

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# AM3F-FlowNet reads the same 28x28 flow as STSTNet: at 64x64 it fits its training folds and
# generalises worse on 42 training maps (pooled UF1 0.73 vs 0.96; docs/models.md).
FACE_FRAMES, KEY_FRAMES, SIZE, FLOW_SIZE, AM3F_SIZE = 10, 9, 64, 28, 28


def merprep(*args: str) -> None:
    """Run a merprep command as a user would (the CLI is the stable interface)."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from merprep.cli import main; sys.argv[0] = 'merprep'; main()",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"merprep {' '.join(args)} failed ({done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )


@dataclass
class Stores:
    """Paths of the stores of one sample (created on demand, cached)."""

    root: Path
    subjects: int
    clips: int
    amplitude: float
    seed: int

    @property
    def base(self) -> Path:
        return self.root / (
            f"casme2_s{self.subjects}_c{self.clips}_a{self.amplitude:g}_seed{self.seed}"
        )

    def dataset(self) -> Path:
        ds = self.base / "dataset"
        if not (ds / "merprep_sample_truth.json").exists():
            if ds.exists():
                shutil.rmtree(ds)
            merprep(
                "sample",
                "--dataset",
                "casme2",
                "--out",
                str(ds),
                "--subjects",
                str(self.subjects),
                "--clips-per-subject",
                str(self.clips),
                "--amplitude",
                str(self.amplitude),
                "--seed",
                str(self.seed),
                "--no-progress",
            )
        return ds

    def _store(self, name: str, make) -> Path:
        path = self.base / name
        if not path.exists():
            tmp = path.with_suffix(".tmp.h5")
            if tmp.exists():
                tmp.unlink()
            make(tmp)
            tmp.rename(path)
        return path

    def face(self, frames: int = FACE_FRAMES, size: int = SIZE) -> Path:
        """Face clips (RGB, uniform sampling)."""
        return self._store(
            f"face_t{frames}_s{size}.h5",
            lambda p: merprep(
                "extract",
                "--dataset",
                "casme2",
                "--root",
                str(self.dataset()),
                "--out",
                str(p),
                "--frames",
                str(frames),
                "--size",
                str(size),
                "--no-progress",
            ),
        )

    def key(self, frames: int = KEY_FRAMES, size: int = SIZE) -> Path:
        """Key frames (onset, onset->apex, apex, apex->offset, offset), gray: section C."""
        return self._store(
            f"key_gray_t{frames}_s{size}.h5",
            lambda p: merprep(
                "extract",
                "--dataset",
                "casme2",
                "--root",
                str(self.dataset()),
                "--out",
                str(p),
                "--sampling",
                "key",
                "--frames",
                str(frames),
                "--size",
                str(size),
                "--color",
                "gray",
                "--no-progress",
            ),
        )

    def _derived(self, name: str, face: Path, *command: str) -> Path:
        def make(p: Path) -> None:
            shutil.copyfile(face, p)
            merprep(*command[:1], str(p), *command[1:])

        return self._store(name, make)

    def au(self, frames: int = FACE_FRAMES, size: int = SIZE) -> Path:
        """Face store plus AU-region clips at the face size."""
        return self._derived(
            f"face_t{frames}_s{size}_au.h5", self.face(frames, size), "crop-au", "--size", str(size)
        )

    def flow(self, flow_size: int, frames: int = FACE_FRAMES, size: int = SIZE) -> Path:
        """Face store plus onset->apex (u, v, strain) at ``flow_size``."""
        return self._derived(
            f"face_t{frames}_s{size}_flow{flow_size}.h5",
            self.face(frames, size),
            "flow",
            "--size",
            str(flow_size),
            "--no-progress",
        )


def plan(name: str, stores: Stores) -> tuple[list[Path], dict, str, str]:
    """(stores, RunConfig overrides, input mode, input description) for one model."""
    from mertrain.models import get_model

    spec = get_model(name)
    cfg = spec.make_config()
    sources = {i.source for i in spec.required_inputs(cfg)}
    if "flow" in sources:
        size = AM3F_SIZE if getattr(cfg, "size", FLOW_SIZE) > FLOW_SIZE else FLOW_SIZE
        over = {"size": size}
        return [stores.flow(size)], over, "onset-diff", f"flow {size}x{size}x3 (u, v, strain)"
    if spec.family == "stcnn":
        over = {"frames": KEY_FRAMES, "size": SIZE}
        return [stores.key()], over, "onset-diff", f"key {KEY_FRAMES}x{SIZE}x{SIZE}x1 onset-diff"
    over = {"frames": FACE_FRAMES, "size": SIZE}
    if spec.kind == "sklearn":
        return [stores.face()], over, "raw", f"face {FACE_FRAMES}x{SIZE}x{SIZE}x1 raw"
    store = stores.au() if "au" in sources else stores.face()
    what = "face+AU" if "au" in sources else "face"
    return [store], over, "onset-diff", f"{what} {FACE_FRAMES}x{SIZE}x{SIZE}x3 onset-diff"


def run_model(name: str, stores: Stores, out: Path, epochs: int | None, options: dict) -> dict:
    from mertrain.config import RunConfig
    from mertrain.models import get_model
    from mertrain.rundir import load_run
    from mertrain.runner import run

    spec = get_model(name)
    paths, over, mode, what = plan(name, stores)
    model_options = dict(options)
    n_epochs = epochs if (epochs and spec.kind == "keras") else spec.recipe.epochs
    tag = "".join(f"-{k}={v}" for k, v in sorted(model_options.items())).replace("/", "_")
    run_dir = out / "runs" / f"{name}-e{n_epochs if spec.kind == 'keras' else 0}{tag}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = RunConfig.from_options(
        stores=[str(p) for p in paths],
        out=str(run_dir),
        model=name,
        protocol="loso",
        task="3class",
        select="last",
        input=mode,
        epochs=n_epochs if spec.kind == "keras" else None,
        model_options=model_options,
        **over,
    )
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = run(config, progress=False)
    wall = time.perf_counter() - t0
    r = result.results
    loaded = load_run(run_dir)
    fold_seconds = sum(f.seconds for f in loaded.folds.values())
    total_clips = stores.subjects * stores.clips
    n_train = sum(total_clips - len(f.clip_ids) for f in loaded.folds.values())
    clip_epochs = n_train * (n_epochs or 1)
    return {
        "model": name,
        "input": what,
        "epochs": n_epochs if spec.kind == "keras" else "-",
        "uf1": r["uf1"],
        "uar": r["uar"],
        "acc": r["acc"],
        "wall_s": wall,
        "clips_per_s": (
            clip_epochs / fold_seconds if fold_seconds and spec.kind == "keras" else None
        ),
        "options": model_options,
        "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
        "run_dir": str(run_dir),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | input | epochs | UF1 | UAR | ACC | wall | train clips/s | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        opts = (
            ""
            if not r["options"]
            else " (" + ", ".join(f"{k}={v}" for k, v in r["options"].items()) + ")"
        )
        lines.append(
            f"| `{r['model']}`{opts} | {r['input']} | {r['epochs']} | {r['uf1']:.3f} | "
            f"{r['uar']:.3f} | {r['acc']:.3f} | {r['wall_s']:.0f} s | "
            f"{'-' if r['clips_per_s'] is None else format(r['clips_per_s'], '.1f')} | "
            f"{r['load']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--models", default="all", help="comma-separated registered names, or 'all' (default)"
    )
    ap.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="override every Keras model's epochs (default: each model's own)",
    )
    ap.add_argument("--subjects", type=int, default=None, help="sample subjects (default 8)")
    ap.add_argument("--clips-per-subject", type=int, default=6)
    ap.add_argument("--amplitude", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0, help="sample seed (the run seed is 0)")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="work folder for stores and runs (default: a temporary one, removed)",
    )
    ap.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="model option for every selected model (e.g. lr=3e-4); for experiments",
    )
    ap.add_argument("--results", type=Path, default=None, help="also write the table here")
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: 4 subjects and 2 epochs unless given"
    )
    args = ap.parse_args(argv)

    from mertrain.models import model_names

    names = (
        model_names()
        if args.models == "all"
        else [m.strip() for m in args.models.split(",") if m.strip()]
    )
    unknown = [n for n in names if n not in model_names()]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {model_names()}")
    subjects = args.subjects or (4 if args.quick else 8)
    epochs = args.epochs or (2 if args.quick else None)
    options = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    work = args.out or Path(tempfile.mkdtemp(prefix="bench_learnability_"))
    work.mkdir(parents=True, exist_ok=True)
    stores = Stores(work, subjects, args.clips_per_subject, args.amplitude, args.seed)
    print(f"machine: {machine()}; load average at start: {load_average()}", flush=True)
    print(
        f"sample: casme2, {subjects} subjects x {args.clips_per_subject} clips, amplitude "
        f"{args.amplitude:g} px, seed {args.seed}; LOSO, select last, run seed 0",
        flush=True,
    )
    rows = []
    t0 = time.perf_counter()
    try:
        for name in names:
            row = run_model(name, stores, work, epochs, options)
            rows.append(row)
            print(
                f"{name}: UF1 {row['uf1']:.3f} UAR {row['uar']:.3f} ACC {row['acc']:.3f} "
                f"({row['wall_s']:.0f} s)",
                flush=True,
            )
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(
        [
            f"Command: `{' '.join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])])}`",
            f"Machine: {machine()}",
            f"Load average at end (1, 5, 15 min): {load_average()}; total {time.perf_counter() - t0:.0f} s",
            "",
            table(rows),
        ]
    )
    publish(text, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
