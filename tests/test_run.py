"""``mertrain run`` end to end at a tiny size: outputs, determinism (fresh build == reused
compiled model), resume after ``--folds`` subsets and after a real SIGKILL, shard merging, the
Ray executor, oracle labelling, inner-validation subjects, bad input refused before training,
the demo path sample -> extract -> run through the CLI, training-only augmentation (spied on) and
its determinism, and the precision / XLA options.

Most runs use ``stcnn-3dcnn`` at 9x32x32 gray (about 1-2 s per fold after the first here) on a
3-subject synthetic store whose classes are learnable (a brightening left half, right half or
top half of the face).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mertrain.train import RunConfig, run

MODEL = "stcnn-3dcnn"
OPTS = {"size": 32}
EPOCHS = 2
EMOTIONS = ("disgust", "happiness", "surprise")
OUTPUTS = (
    "config.json",
    "splits.json",
    "predictions.csv",
    "results.json",
    "per_subject.csv",
    "confusion.png",
    "curves.png",
    "per_subject.png",
)


def _record(subject: str, clip: str, emotion: str, n_frames: int) -> dict:
    return {
        "clip_id": f"casme2/{subject}/{clip}",
        "dataset": "casme2",
        "subject": subject,
        "subject_id": f"casme2/{subject}",
        "clip": clip,
        "emotion": emotion,
        "aus": "",
        "au_codes": [],
        "au_unparsed": [],
        "onset": 0,
        "apex": None,
        "offset": n_frames - 1,
        "fps": 200.0,
        "source": f"{subject}/{clip}",
        "annotation": {"file": None, "row": None},
        "extra": {},
        "n_frames": n_frames,
        "frame_numbers": list(range(n_frames)),
        "sampling": "uniform",
    }


def _clip(label: int, rng: np.random.Generator, t: int = 8, s: int = 32) -> np.ndarray:
    x = rng.integers(90, 110, size=(t, s, s, 3)).astype(np.float32)
    region = [
        (slice(None), slice(0, s // 2)),
        (slice(None), slice(s // 2, None)),
        (slice(0, s // 2), slice(None)),
    ][label]
    for i in range(1, t):
        x[i][region] += 40.0 * i / (t - 1)
    return np.clip(x, 0, 255).astype(np.uint8)


def write_store(
    path: Path, subjects: int = 3, per_subject: int = 6, seed: int = 0, n_clips: int | None = None
) -> Path:
    from merprep.store import StoreWriter

    rng = np.random.default_rng(seed)
    prov = {
        "datasets": ["casme2"],
        "command": "pytest",
        "params": {},
        "landmark_backend": "none",
        "landmark_backend_version": "0",
        "frame_height": 32,
        "frame_width": 32,
        "channels": 3,
        "color": "rgb",
    }
    with StoreWriter(path, prov) as w:
        for i in range(subjects):
            for j in range(per_subject if n_clips is None else n_clips):
                label = j % 3
                w.add_clip(
                    _record(f"sub{i + 1:02d}", f"EP{j:02d}", EMOTIONS[label], 8), _clip(label, rng)
                )
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("run_store") / "casme2.h5")


def _config(store: Path, out: Path, **kw) -> RunConfig:
    return RunConfig.from_options(
        stores=[str(store)],
        out=str(out),
        model=kw.pop("model", MODEL),
        epochs=kw.pop("epochs", EPOCHS),
        model_options=kw.pop("model_options", OPTS),
        **kw,
    )


@pytest.fixture(scope="module")
def base(store, tmp_path_factory):
    """The reference run: every fold, local executor, compiled model reused across folds."""
    return run(_config(store, tmp_path_factory.mktemp("base") / "run"), progress=False)


def _predictions(run_dir: Path) -> str:
    return (Path(run_dir) / "predictions.csv").read_text()


def _scores(run_dir: Path) -> dict:
    r = json.loads((Path(run_dir) / "results.json").read_text())
    return {
        k: r[k]
        for k in (
            "uf1",
            "uar",
            "acc",
            "per_dataset",
            "per_subject",
            "confusion",
            "splits_sha256",
            "config_sha256",
        )
    }


# --------------------------------------------------------------------------- outputs


def test_run_writes_every_output(base, store, cli_runner):
    out = base.out
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "folds").iterdir()) == ["000.json", "001.json", "002.json"]
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "clip_id",
        "dataset",
        "subject",
        "fold",
        "y_true",
        "y_pred",
        "p_negative",
        "p_positive",
        "p_surprise",
    ]
    assert len(rows) == 18 and len({r["clip_id"] for r in rows}) == 18
    for r in rows:
        p = [float(r[f"p_{c}"]) for c in ("negative", "positive", "surprise")]
        assert sum(p) == pytest.approx(1, abs=1e-5) and int(r["y_pred"]) == int(np.argmax(p))
        assert r["fold"] == r["subject"]  # LOSO: the fold is the held-out subject

    res = json.loads((out / "results.json").read_text())
    for key in (
        "uf1",
        "uar",
        "acc",
        "per_dataset",
        "per_subject",
        "protocol",
        "task",
        "model",
        "select",
        "partial",
        "splits_sha256",
        "stores",
    ):
        assert key in res, key
    assert (res["protocol"], res["task"], res["model"], res["select"], res["partial"]) == (
        "loso",
        "3class",
        MODEL,
        "last",
        False,
    )
    assert res["complete"] and res["uf1"] > 0.5  # learnable sample
    from merprep.store import ClipStore

    with ClipStore(store) as s:
        assert res["stores"] == [
            {
                "path": str(store.resolve()),
                "schema_version": s.schema_version,
                "fingerprint": s.fingerprint,
                "n_clips": 18,
            }
        ]
    assert set(res["per_subject"]) == {"casme2/sub01", "casme2/sub02", "casme2/sub03"}

    # splits.json is byte-identical to `mertrain splits --json`; its sha256 is in results.json
    from mertrain.cli import cli

    printed = cli_runner.invoke(cli, ["splits", str(store), "--json"])
    assert printed.exit_code == 0
    assert (out / "splits.json").read_text() == printed.output
    assert json.loads(printed.output)["sha256"] == res["splits_sha256"]

    # config.json says everything needed to rerun
    cfg = json.loads((out / "config.json").read_text())
    again = RunConfig.from_record(cfg)
    assert again == _config(store, out)
    assert cfg["model_config"]["size"] == 32 and cfg["versions"]["tensorflow"]


def test_two_models_get_identical_splits(base, store, tmp_path):
    other = run(
        _config(
            store,
            tmp_path / "lbp",
            model="lbptop-svm",
            epochs=None,
            model_options={"frames": 8, "size": 32, "grid": [2, 2]},
        ),
        progress=False,
    )
    assert (other.out / "splits.json").read_bytes() == (base.out / "splits.json").read_bytes()
    assert other.results["complete"] and other.results["model"] == "lbptop-svm"


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_predictions_fresh_build_or_reused_model(base, store, tmp_path):
    """Same configuration and seed -> identical predictions (every digit), whether each fold
    rebuilds the model or the compiled model is re-initialised (the default)."""
    fresh = run(_config(store, tmp_path / "fresh", reuse_model=False), progress=False)
    assert _predictions(fresh.out) == _predictions(base.out)
    assert _scores(fresh.out) == _scores(base.out)


# --------------------------------------------------------------------------- resume and shards


@pytest.fixture(scope="module")
def shard0(store, tmp_path_factory):
    """Fold 0 only: what a killed run or one SLURM array task leaves behind."""
    result = run(
        _config(store, tmp_path_factory.mktemp("shard0") / "run", folds="0"), progress=False
    )
    assert result.ran == [0] and not result.complete
    return result.out


def test_resume_finishes_a_partial_run_identically(base, store, shard0, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(shard0, out)
    res = json.loads((out / "results.json").read_text())
    assert (res["complete"], res["folds_done"], res["folds_total"]) == (False, 1, 3)
    from merprep.errors import MerprepError

    with pytest.raises(MerprepError, match="already holds finished fold.*--resume"):
        run(_config(store, out), progress=False)
    result = run(_config(store, out, resume=True), progress=False)
    assert result.ran == [1, 2] and result.complete
    assert _predictions(out) == _predictions(base.out)
    assert _scores(out) == _scores(base.out)


def test_resume_refuses_another_configuration(store, shard0, tmp_path):
    from merprep.errors import MerprepError

    out = tmp_path / "other"
    shutil.copytree(shard0, out)
    with pytest.raises(MerprepError, match=r"different run \(.*training.seed: 0 vs 1\)"):
        run(_config(store, out, resume=True, seed=1), progress=False)


def test_sigkill_between_folds_then_resume(base, store, tmp_path):
    """A real SIGKILL once the first fold is on disk; --resume gives the uninterrupted result."""
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "mertrain.cli",
        "run",
        str(store),
        "--model",
        MODEL,
        "--set",
        "size=32",
        "--epochs",
        str(EPOCHS),
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (out / "folds" / "000.json").exists():
            assert proc.poll() is None, "the run ended before its first fold was saved"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p.name for p in (out / "folds").glob("*.json"))
    assert done and len(done) < 3 and not (out / "results.json").exists()
    result = run(_config(store, out, resume=True), progress=False)
    assert result.complete and len(result.ran) == 3 - len(done)
    assert _predictions(out) == _predictions(base.out)


def test_shards_merge_into_the_full_result(base, store, shard0, tmp_path, cli_runner):
    from mertrain.cli import cli

    shard12 = run(_config(store, tmp_path / "shard12", folds="1-2"), progress=False).out
    merged = tmp_path / "merged"
    res = cli_runner.invoke(
        cli, ["report", "--merge", str(shard0), str(shard12), "--out", str(merged)]
    )
    assert res.exit_code == 0, res.output
    assert "pooled" in res.output
    assert _predictions(merged) == _predictions(base.out)
    assert _scores(merged) == _scores(base.out)
    for name in OUTPUTS:
        assert (merged / name).is_file()
    # the merged directory is itself a complete run directory
    res = cli_runner.invoke(cli, ["report", str(merged), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["complete"]
    (merged / "predictions.csv").unlink()  # rebuilt in place from the fold records
    res = cli_runner.invoke(cli, ["report", str(merged), "--out", str(merged)])
    assert res.exit_code == 0 and _predictions(merged) == _predictions(base.out)

    # shards of another configuration, or another split, are refused with a clear message
    wrong = tmp_path / "wrong"
    shutil.copytree(shard12, wrong)
    cfg = json.loads((wrong / "config.json").read_text())
    cfg["config"]["recipe"]["epochs"] = 3
    cfg["recipe"]["epochs"] = 3
    (wrong / "config.json").write_text(json.dumps(cfg))
    res = cli_runner.invoke(cli, ["report", "--merge", str(shard0), str(wrong)])
    assert res.exit_code == 2 and "different configuration (recipe.epochs: 2 vs 3)" in res.output
    assert "Traceback" not in res.output

    from merprep.errors import MerprepError
    from mertrain.protocols import Fold, Splits
    from mertrain.report import load_run, merge_runs

    a = load_run(shard0)
    b = load_run(shard12)
    b.splits = Splits(b.splits.protocol, b.splits.task, b.splits.classes, [Fold("x", ["c"], ["d"])])
    with pytest.raises(MerprepError, match="different splits"):
        merge_runs([a, b])


def test_report_compares_runs(base, shard0, cli_runner):
    from mertrain.cli import cli

    res = cli_runner.invoke(cli, ["report", str(base.out), str(shard0)])
    assert res.exit_code == 0, res.output
    assert "INCOMPLETE (1/3 folds)" in res.output
    lines = res.output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("run "))
    for word in ("model", "protocol", "UF1", "UAR", "ACC"):
        assert word in lines[head]
    assert len([line for line in lines[head + 2 :] if MODEL in line]) == 2


# --------------------------------------------------------------------------- Ray


@pytest.mark.ray
def test_ray_executor_matches_local(base, store, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:  # two folds: one round of two workers on the two CPUs
        result = run(_config(store, tmp_path / "ray", executor="ray", folds="0-1"), progress=False)
    finally:
        ray.shutdown()
    assert result.ran == [0, 1]
    for i in (0, 1):
        ray_fold = json.loads((result.out / "folds" / f"{i:03d}.json").read_text())
        local_fold = json.loads((base.out / "folds" / f"{i:03d}.json").read_text())
        assert ray_fold["proba"] == local_fold["proba"]  # every digit
        assert ray_fold["history"] == local_fold["history"]


# --------------------------------------------------------------------------- epoch selection


def test_oracle_is_labelled_everywhere(store, tmp_path, cli_runner):
    result = run(_config(store, tmp_path / "oracle", select="oracle"), progress=False)
    label = "oracle (optimistic)"
    assert result.results["select"] == label
    with open(result.out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["select"] for r in rows} == {label}
    assert all(1 <= f["best_epoch"] <= EPOCHS for f in result.results["folds"].values())
    from mertrain.cli import cli
    from mertrain.report import format_table

    assert f"select {label}" in format_table(result.results).splitlines()[0]
    res = cli_runner.invoke(cli, ["report", str(result.out)])
    assert f"select {label}" in res.output
    hist = json.loads((result.out / "folds" / "000.json").read_text())["history"]
    assert len(hist["test_acc"]) == EPOCHS


def test_inner_val_draws_validation_subjects_from_training_subjects(tmp_path):
    store = write_store(tmp_path / "five.h5", subjects=5, n_clips=3)
    config = _config(store, tmp_path / "inner", select="inner-val", val_fraction=0.3, folds="0-1")
    from mertrain.train import prepare

    prepared = prepare(config, progress=False)
    for i, fold in enumerate(prepared.splits.folds):
        job = prepared.job(i)
        fold_train = {prepared.samples[c].subject_id for c in fold.train}
        test_subjects = {prepared.samples[c].subject_id for c in fold.test}
        val = {prepared.data.subjects[r] for r in job.val}
        fit = {prepared.data.subjects[r] for r in job.train}
        assert val == set(job.val_subjects) and len(val) == 2  # ceil(.3 * 4)
        assert val <= fold_train and not val & test_subjects and not val & fit
        assert fit | val == fold_train
        assert set(prepared.data.rows(fold.test)) == set(job.test)
    result = run(config, progress=False)
    for name, f in result.results["folds"].items():
        rec = json.loads((result.out / "folds" / f"{f['index']:03d}.json").read_text())
        assert (
            set(rec["val_subjects"]) <= set(rec["train_subjects"])
            and name not in rec["val_subjects"] + rec["train_subjects"]
        )
        assert 1 <= rec["best_epoch"] <= EPOCHS and len(rec["history"]["val_uf1"]) == EPOCHS
    assert result.results["select"] == "inner-val"


# --------------------------------------------------------------------------- bad input


def _cli_error(cli_runner, args, match):
    from mertrain.cli import cli

    res = cli_runner.invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert match in res.output, res.output
    assert "Traceback" not in res.output
    return res


def test_bad_input_is_refused_before_training(store, tmp_path, cli_runner):
    from merprep.store import StoreWriter

    out = tmp_path / "never"
    base_args = ["run", "--out", str(out), "--model", MODEL, "--set", "size=32"]
    empty = tmp_path / "empty.h5"
    with StoreWriter(
        empty,
        {
            "datasets": ["casme2"],
            "command": "t",
            "params": {},
            "landmark_backend": "none",
            "landmark_backend_version": "0",
            "frame_height": 32,
            "frame_width": 32,
            "channels": 3,
            "color": "rgb",
        },
    ):
        pass
    _cli_error(cli_runner, [*base_args, str(empty)], "the store holds no clips")
    _cli_error(cli_runner, [*base_args, str(tmp_path / "missing.h5")], "no such store")
    _cli_error(
        cli_runner,
        ["run", str(store), "--out", str(out), "--model", "ststnet"],
        "run `merprep flow",
    )
    _cli_error(
        cli_runner,
        [*base_args, str(store), "--task", "5class"],
        "leaves class(es) repression, others without clips",
    )
    _cli_error(
        cli_runner,
        [*base_args, str(store), "--protocol", "megc2019"],
        "protocol 'megc2019' needs SMIC(-HS), CASME II and SAMM",
    )
    _cli_error(
        cli_runner,
        [*base_args, str(store), "--protocol", "megc2019", "--task", "binary"],
        "megc2019 is 3-class",
    )
    _cli_error(
        cli_runner, [*base_args, str(store), "--protocol", "kfold", "--k", "5"], "only 3 subjects"
    )
    _cli_error(cli_runner, [*base_args, str(store), "--folds", "3"], "fold 3 does not exist")
    from mertrain.data import StoreCollection
    from mertrain.protocols import build_splits

    with StoreCollection([store]) as c:
        _, s = build_splits(c.records(), "loso", "3class")
    payload = json.loads(s.to_json())
    del payload["sha256"]
    payload["folds"][0]["test"] = []
    (tmp_path / "empty_fold.json").write_text(json.dumps(payload))
    _cli_error(
        cli_runner,
        [*base_args, str(store), "--splits", str(tmp_path / "empty_fold.json")],
        "has no test samples",
    )
    payload = json.loads(s.to_json())
    del payload["sha256"]
    payload["folds"][1]["train"].append("casme2/sub09/EP00")
    (tmp_path / "unknown.json").write_text(json.dumps(payload))
    _cli_error(
        cli_runner,
        [*base_args, str(store), "--splits", str(tmp_path / "unknown.json")],
        "do not hold",
    )
    assert not out.exists()  # nothing was trained or written


# --------------------------------------------------------------------------- the CLI demo path


def test_cli_run_writes_every_output(store, tmp_path, cli_runner):
    from mertrain.cli import cli

    out = tmp_path / "cli"
    res = cli_runner.invoke(
        cli,
        [
            "run",
            str(store),
            "--model",
            MODEL,
            "--set",
            "size=32",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--tensorboard",
            "--save-weights",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "pooled" in res.output and f"run directory: {out}" in res.output
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "weights").iterdir()) == ["000", "001", "002"]
    for fold in ("000", "001", "002"):  # a model folder: the model and its preprocessing record
        assert sorted(p.name for p in (out / "weights" / fold).iterdir()) == [
            "model.keras",
            "preprocessing.json",
        ]
    assert len(list((out / "tensorboard").iterdir())) == 3
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["command"].startswith("mertrain") and cfg["config"]["execution"]["tensorboard"]


def test_demo_path_sample_extract_run(casme2_store, tmp_path, cli_runner):
    """The README's demo at a tiny size: `merprep sample` -> `merprep extract` (fixtures) ->
    `mertrain run` through the CLI."""
    from mertrain.cli import cli

    out = tmp_path / "demo"
    res = cli_runner.invoke(
        cli,
        [
            "run",
            str(casme2_store),
            "--model",
            MODEL,
            "--set",
            "size=32",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["n"] == 18 and len(results["per_subject"]) == 3


# --------------------------------------------------------------------------- augmentation

#: a spy augmentation whose only transform is a per-clip brightness offset, visible after
#: --input raw normalisation (onset-diff would cancel it)
SPY = {"flip_prob": 0.0, "max_translate": 0, "max_rotate": 0.0, "noise_std": 0.0, "brightness": 0.2}


def test_augmentation_touches_training_clips_only(store, tmp_path, monkeypatch):
    """Training batches are augmented (new offsets every epoch, every training clip once per
    epoch); what the trainer predicts on is exactly the unaugmented test clips, and the
    inner-validation clips are never augmented either."""
    import mertrain.trainer
    from mertrain.data import Normaliser
    from mertrain.train import AugmentedTraining, fold_inputs, prepare

    config = _config(store, tmp_path / "aug", input="raw", augment=SPY, folds="0")
    prepared = prepare(config, progress=False)
    job = prepared.job(0)
    raw_train = prepared.data.take(job.train)["face"]
    norm = Normaliser("raw").fit(raw_train)
    expected_test = norm(prepared.data.take(job.test)["face"])

    batches, predicted = [], []
    real_batch, real_predict = AugmentedTraining.batch, mertrain.trainer.predict_proba

    def spy_batch(self, epoch, step, batch_size):
        x, y = real_batch(self, epoch, step, batch_size)
        batches.append((epoch, self.rows(epoch, step, batch_size).copy(), x["face"].copy()))
        return x, y

    def spy_predict(model, x, *a, **k):
        predicted.append({name: v.copy() for name, v in x.items()})
        return real_predict(model, x, *a, **k)

    monkeypatch.setattr(AugmentedTraining, "batch", spy_batch)
    monkeypatch.setattr(mertrain.trainer, "predict_proba", spy_predict)
    result = run(config, progress=False)
    monkeypatch.undo()

    assert len(predicted) == 1 and np.array_equal(predicted[0]["face"], expected_test)
    assert result.results["n"] == len(job.test)
    # Keras may ask for a batch twice (it peeks at the first to learn the shapes): a batch is a
    # pure function of (fold seed, epoch, step), so keep one of each
    unique = {(e, tuple(r)): (e, r, x) for e, r, x in batches}
    batches = list(unique.values())
    seen: dict[int, list[np.ndarray]] = {}
    for epoch in range(EPOCHS):
        rows = np.concatenate([r for e, r, _ in batches if e == epoch])
        assert sorted(rows) == list(range(len(job.train)))  # each training clip once per epoch
    for _, rows, x in batches:
        shift = x - norm(raw_train[rows])
        per_clip = shift.reshape(len(rows), -1)
        assert np.all(np.abs(per_clip).max(axis=1) > 1e-3)  # every clip brightened/darkened
        for r, s in zip(rows, per_clip):
            seen.setdefault(int(r), []).append(np.median(s))
    assert all(len(v) == EPOCHS and v[0] != v[1] for v in seen.values())  # new draw per epoch
    rec = json.loads((result.out / "folds" / "000.json").read_text())
    assert rec["recipe"]["augmented"] is True
    cfg = json.loads((result.out / "config.json").read_text())
    assert cfg["recipe_description"]["augment"]["brightness"] == 0.2
    assert cfg["recipe_description"]["augmented_inputs"] == ["face"]

    # inner-validation clips are normalised, never augmented
    five = write_store(tmp_path / "five.h5", subjects=4, n_clips=3)
    p = prepare(
        _config(five, tmp_path / "x", input="raw", augment=SPY, select="inner-val"), progress=False
    )
    job = p.job(0)
    inputs = fold_inputs(p.context(), p.data, job)
    norm = Normaliser("raw").fit(p.data.take(job.train)["face"])
    assert len(job.val) and np.array_equal(inputs.x_val["face"], norm(p.data.take(job.val)["face"]))
    assert np.array_equal(inputs.x_test["face"], norm(p.data.take(job.test)["face"]))
    assert inputs.x_train == {} and inputs.augmented is not None


def test_augmented_runs_are_deterministic(store, tmp_path):
    """Same seed -> the same predictions to every digit with augmentation on (CPU), whether
    the compiled model is reused across folds or rebuilt."""
    reused = run(_config(store, tmp_path / "a", augment="default", folds="0-1"), progress=False)
    fresh = run(
        _config(store, tmp_path / "b", augment="default", folds="0-1", reuse_model=False),
        progress=False,
    )
    assert _predictions(reused.out) == _predictions(fresh.out)
    folds = [json.loads((reused.out / "folds" / f"00{i}.json").read_text()) for i in (0, 1)]
    assert all(f["recipe"]["augmented"] for f in folds)


# --------------------------------------------------------------------------- precision, XLA


def test_precision_and_jit_options(store, tmp_path, caplog):
    """bf16 trains with float32 logits/probabilities; --precision mixed falls back to float32
    on a machine without a GPU (warned, and recorded per fold); --jit XLA-compiles (it needs
    --no-deterministic: Keras disables XLA under op determinism)."""
    import logging

    from mertrain.train import resolve_precision

    bf16 = run(
        _config(store, tmp_path / "bf16", precision="bf16", folds="0", epochs=1), progress=False
    )
    rec = json.loads((bf16.out / "folds" / "000.json").read_text())
    assert rec["recipe"]["precision"] == "mixed_bfloat16"
    p = np.asarray(rec["proba"])
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1, atol=1e-5)

    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        with caplog.at_level(logging.WARNING, logger="mertrain.fitting"):
            assert resolve_precision("mixed") == "float32"
        assert "no GPU visible; training in float32" in caplog.text

    with pytest.raises(ValueError, match="XLA compilation needs deterministic=False"):
        _config(store, tmp_path / "j", jit=True)
    jit = run(
        _config(store, tmp_path / "jit", jit=True, deterministic=False, folds="0", epochs=1),
        progress=False,
    )
    rec = json.loads((jit.out / "folds" / "000.json").read_text())
    assert rec["recipe"]["jit_compile"] is True and len(rec["proba"]) == 6


def test_shards_into_one_directory_end_complete_without_a_report(store, tmp_path):
    """Three SLURM-style shards (--folds 0, 1, 2) share one run directory. While the pooled
    outputs' lock is held, each saves its fold and then waits; released, the last one to
    rebuild the pooled outputs sees all three folds, so the directory ends complete with no
    final `mertrain report`."""
    from mertrain.report import pooled_outputs_lock

    out = tmp_path / "shared"
    out.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "mertrain.cli",
        "run",
        str(store),
        "--model",
        "lbptop-svm",
        "--out",
        str(out),
        "--no-progress",
        "--resume",
        "--folds",
    ]
    with pooled_outputs_lock(out):
        shards = [
            subprocess.Popen(
                cmd + [str(i)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            for i in range(3)
        ]
        try:
            deadline = time.monotonic() + 300
            while len(list((out / "folds").glob("*.json")) if (out / "folds").is_dir() else []) < 3:
                assert all(p.poll() is None for p in shards), "a shard ended early"
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.5)
            assert all(p.poll() is None for p in shards)  # all three wait for the lock
            assert not (out / "results.json").exists()
        except BaseException:
            for p in shards:
                p.kill()
            raise
    for p in shards:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] and results["folds_done"] == 3
    rows = (out / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + 18  # every clip of the three subjects, once
