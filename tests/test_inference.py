"""Saved models are self-contained: fold 0's saved model folder (``weights/000``: the model and
its preprocessing.json) applied to the store by the loader reproduces fold 0's rows of the
run's predictions.csv exactly (same class, probabilities to 1e-6), with ``--input onset-diff``
and ``--input raw`` (the fold's training mean), in this process and, through
``mertrain predict``, in a fresh one.

Each case trains one fold for one epoch at the model's test size on the sample CASME II store
(dlib, 8x64x64 RGB) with AU crops and Farneback flow added, so face, AU and flow inputs are
all real store arrays. Training is most of the cost (5-15 s a case on 2 cores), so the suite
runs one case per prediction path: Keras softmax in both modes (``stcnn-3dcnn``), the pickled
scikit-learn estimator in both modes, a flow-stack input (``ststnet``) and a custom prediction
rule (``stcnn-2dcnn-vote``'s vote), three of them again in a fresh process.
``MERTRAIN_ALL_MODELS=1`` runs every registered model in both modes, in this process and a
fresh one (18 cases; two inputs normalised apart in ``dual3dcnn-au-msmh``);
``benchmarks/bench_inference.py`` adds the export check and tabulates it (docs/benchmarks.md:
every case exact, 0.0 difference).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mertrain.config import RunConfig
from mertrain.inference import load_trained
from mertrain.models import list_models
from mertrain.runner import run

MODES = ("onset-diff", "raw")
SUITE = [
    ("stcnn-3dcnn", "onset-diff"),
    ("stcnn-3dcnn", "raw"),
    ("lbptop-svm", "onset-diff"),
    ("lbptop-svm", "raw"),
    ("ststnet", "onset-diff"),
    ("stcnn-2dcnn-vote", "onset-diff"),
]
#: the cases predicted again in a fresh process (loading is the cost there, the same per model)
FRESH = [("stcnn-3dcnn", "raw"), ("lbptop-svm", "raw"), ("ststnet", "onset-diff")]
EVERY = [(spec.name, mode) for spec in list_models() for mode in MODES]
ALL = os.environ.get("MERTRAIN_ALL_MODELS") == "1"
CASES = EVERY if ALL else SUITE
_RUNS: dict[tuple[str, str], Path] = {}


@pytest.fixture(scope="module")
def full_store(casme2_store, tmp_path_factory) -> Path:
    """The sample CASME II store with AU crops (32 px) and onset-apex flow (28 px)."""
    from merprep.flow import FlowConfig, run_flow
    from merprep.regions import CropConfig, run_crop_au

    path = tmp_path_factory.mktemp("inference") / "casme2_full.h5"
    shutil.copyfile(casme2_store, path)
    run_crop_au(path, CropConfig(size=32), progress=False)
    run_flow(path, FlowConfig(method="farneback", workers=1), progress=False)
    return path


def _trained(name: str, mode: str, store: Path, root: Path) -> Path:
    """Fold 0 of a LOSO run of ``name`` with ``--input mode``, weights saved (once)."""
    key = (name, mode)
    if key not in _RUNS:
        spec = [s for s in list_models() if s.name == name][0]
        out = root / f"{name}-{mode}"
        recipe = {"epochs": 1} if spec.kind == "keras" else {}
        config = RunConfig.from_options(
            stores=[str(store)],
            out=str(out),
            model=name,
            model_options=dict(spec.test_overrides),
            input=mode,
            folds="0",
            save_weights=True,
            **recipe,
        )
        run(config, progress=False)
        _RUNS[key] = out
    return _RUNS[key]


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fold_models")


def _fold_rows(run_dir: Path) -> dict[str, dict[str, str]]:
    with open(run_dir / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0]["fold"]
    return {r["clip_id"]: r for r in rows if r["fold"] == first}


def _check_same(reference: dict[str, dict[str, str]], got: dict, classes) -> None:
    for clip_id, want in reference.items():
        row = got[clip_id]
        assert int(want["y_pred"]) == int(row["y_pred"]), clip_id
        expected = [float(want[f"p_{c}"]) for c in classes]
        probs = (
            row["probabilities"]
            if "probabilities" in row
            else [float(row[f"p_{c}"]) for c in classes]
        )
        np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-6, err_msg=clip_id)


@pytest.mark.parametrize("name,mode", CASES)
def test_fold_model_reproduces_its_predictions(name, mode, full_store, runs_root):
    out = _trained(name, mode, full_store, runs_root)
    model = load_trained(out / "weights" / "000")
    record = json.loads((out / "weights" / "000" / "preprocessing.json").read_text())
    assert {n["mode"] for n in record["normalisation"].values()} == {mode}
    reference = _fold_rows(out)
    assert reference and record["training"]["fold"] == next(iter(reference.values()))["fold"]
    rows = {r["clip_id"]: r for r in model.predict_store(full_store, progress=False)}
    assert len(rows) == 18
    _check_same(reference, rows, model.classes)
    for clip_id, row in rows.items():  # fold 0's test subject is the one it never saw
        assert row["seen_in_training"] == (clip_id not in reference)


def test_predict_in_a_fresh_process_reproduces_the_folds(full_store, runs_root, tmp_path):
    """``mertrain predict`` in one new Python process (Keras, scikit-learn and flow models;
    every case with ``MERTRAIN_ALL_MODELS=1``): nothing the loader needs lives in the training
    process."""
    cases = EVERY if ALL else FRESH
    jobs = []
    for name, mode in cases:
        out = _trained(name, mode, full_store, runs_root)
        jobs.append((str(out / "weights" / "000"), str(tmp_path / f"{name}-{mode}.csv")))
    script = (
        "import json, sys\n"
        "from mertrain.cli import cli\n"
        "for model, csv in json.loads(sys.argv[1]):\n"
        f"    cli.main(['predict', model, {str(full_store)!r}, '-o', csv, '--no-progress'],\n"
        "             prog_name='mertrain', standalone_mode=False)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for (name, mode), (_, path) in zip(cases, jobs):
        with open(path, newline="") as fh:
            got = {r["clip_id"]: r for r in csv.DictReader(fh)}
        classes = [k[2:] for k in next(iter(got.values())) if k.startswith("p_")]
        _check_same(_fold_rows(_RUNS[(name, mode)]), got, classes)
