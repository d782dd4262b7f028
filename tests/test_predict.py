"""Trained models used outside their run: ``mertrain fit`` then ``predict`` on a user's own
unlabelled recordings (a ``merprep sample --dataset manifest`` tree with its emotions blanked),
``export`` read back by bare TensorFlow, cross-dataset ``evaluate`` (CASME II -> SAMM) and the
``holdout-dataset`` protocol, stores preprocessed differently refused by name, fold ensembles,
``explain``, and what is resampled (recorded, logged once, flow displacements scaled).

Everything runs on sample datasets extracted with dlib at 8x64x64 RGB (CASME II from the
shared fixture, SAMM and a manifest here) and ``stcnn-3dcnn`` at 9x32x32 gray for one epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from merprep.errors import MerprepError
from mertrain.config import RunConfig
from mertrain.inference import StoreMismatch, load_trained
from mertrain.protocols import get_task
from mertrain.runner import run

MODEL = "stcnn-3dcnn"
OPTS = {"size": 32}


def _sample(dataset: str, root: Path, **kw) -> Path:
    from merprep.sample import generate

    out = root / dataset
    generate(
        dataset, out, seed=0, **{"subjects": 3, "clips_per_subject": 6, "clip_length": 12, **kw}
    )
    return out


def _extract(dataset: str, root: Path, out: Path, **kw) -> Path:
    """As the shared CASME II fixture extracts (dlib, 8 frames, 64 px, RGB)."""
    from merprep.pipeline import ExtractConfig, extract

    params = {"frames": 8, "size": 64, "workers": 1, **kw}
    extract(ExtractConfig(dataset=dataset, root=root, out=out, **params), progress=False)
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("predict")


@pytest.fixture(scope="module")
def samm_store(work) -> Path:
    return _extract("samm", _sample("samm", work), work / "samm.h5")


@pytest.fixture(scope="module")
def hd_run(casme2_store, samm_store, work) -> Path:
    """holdout-dataset over CASME II + SAMM: fold ``samm`` trained on CASME II, and back."""
    config = RunConfig.from_options(
        stores=[str(casme2_store), str(samm_store)],
        out=str(work / "hd"),
        model=MODEL,
        model_options=OPTS,
        epochs=1,
        protocol="holdout-dataset",
        save_weights=True,
    )
    return run(config, progress=False).out


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _cli(cli_runner, args):
    from mertrain.cli import cli

    return cli_runner.invoke(cli, [str(a) for a in args])


# --------------------------------------------------------------------------- fit, predict, export


def test_fit_then_predict_unlabelled_recordings_and_export(casme2_store, tmp_path, cli_runner):
    model = tmp_path / "final"
    res = _cli(cli_runner, ["fit", casme2_store, "--model", MODEL, "--set", "size=32"]
               + ["--epochs", "1", "-o", model, "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    config = json.loads((model / "config.json").read_text())
    assert config["config"]["data"]["protocol"] == "all"
    splits = json.loads((model / "splits.json").read_text())
    assert [(f["name"], len(f["test"]), len(f["train"])) for f in splits["folds"]] == [
        ("all", 0, 18)
    ]
    assert (model / "model.keras").is_file() and (model / "preprocessing.json").is_file()

    # the user's own recordings: a manifest dataset of another name, emotions left empty
    root = _sample("manifest", tmp_path, subjects=2, clips_per_subject=3)
    with open(root / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "dataset": "mylab", "emotion": ""} for r in rows)
    mine = _extract("manifest", root, tmp_path / "mine.h5", annotations=root / "manifest.csv")

    out = tmp_path / "predictions.csv"
    res = _cli(cli_runner, ["predict", model, mine, "-o", out, "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    got = _csv(out)
    assert len(got) == 6 and {r["emotion"] for r in got} == {""}
    assert {r["dataset"] for r in got} == {"mylab"} and {r["seen_in_training"] for r in got} == {
        "0"
    }
    assert all("final model" in r["predicted_by"] for r in got)
    for r in got:
        p = [float(r[f"p_{c}"]) for c in ("negative", "positive", "surprise")]
        assert abs(sum(p) - 1) < 1e-6 and r["predicted_class"] == ("negative", "positive", "surprise")[int(np.argmax(p))]  # fmt: skip

    exported = tmp_path / "exported"
    res = _cli(cli_runner, ["export", model, "-o", exported])
    assert res.exit_code == 0, res.output
    card = json.loads((exported / "model_card.json").read_text())
    from merprep.store import ClipStore

    with ClipStore(casme2_store) as s:
        assert [d["fingerprint"] for d in card["training_data"]] == [s.fingerprint]
    assert card["classes"] == ["negative", "positive", "surprise"]
    assert card["evaluation"]["protocol"] == "all" and card["evaluation"]["honest_selection"]
    assert card["inputs"]["face"]["frames"] == 9 and card["inputs"]["face"]["channels"] == 1

    # bare TensorFlow, in a process that never imports mertrain or merprep, on the clips as
    # stored (resampled to the model's input shape, uint8)
    from mertrain.data import StoreCollection, load_arrays

    with StoreCollection([mine]) as coll:
        x = load_arrays(
            coll, [r["clip_id"] for r in got], {"face": (9, 32, 32, 1)}, {"face": "face"}
        )
    np.save(tmp_path / "x.npy", x["face"])
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"f = tf.saved_model.load({str(exported / 'saved_model')!r}).signatures['serving_default']\n"
        f"p = f(face=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))['probabilities']\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, p.numpy())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mertrain', 'merprep'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    want = np.array([[float(r[f"p_{c}"]) for c in card["classes"]] for r in got])
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- cross-dataset


def test_holdout_dataset_folds_train_on_the_other_datasets(hd_run, casme2_store, samm_store):
    import random

    from merprep.store import ClipStore
    from mertrain.protocols import ProtocolError, build_splits

    splits = json.loads((hd_run / "splits.json").read_text())
    assert [f["name"] for f in splits["folds"]] == ["casme2", "samm"]
    for f in splits["folds"]:
        assert {c.split("/")[0] for c in f["test"]} == {f["name"]}
        assert f["name"] not in {c.split("/")[0] for c in f["train"]}
    with ClipStore(casme2_store) as a, ClipStore(samm_store) as b:
        records = a.records() + b.records()
    shuffled = random.Random(0).sample(records, len(records))  # a pure function of the records
    assert build_splits(shuffled, "holdout-dataset", "3class")[1].sha256 == splits["sha256"]
    with pytest.raises(ProtocolError, match="at least two datasets"):
        build_splits(records[:18], "holdout-dataset", "3class")


def test_evaluate_casme2_model_on_samm(hd_run, samm_store, tmp_path, cli_runner):
    """Fold ``samm`` of the holdout-dataset run was trained on CASME II only: evaluating it on
    the SAMM store gives that fold's predictions and scores, classes mapped by SAMM's table."""
    out = tmp_path / "eval"
    res = _cli(cli_runner, ["evaluate", hd_run, samm_store, "--fold", "samm", "-o", out, "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    for name in ("results.json", "predictions.csv", "per_subject.csv", "confusion.png",
                 "evaluation.json", "config.json", "splits.json"):  # fmt: skip
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert (
        results["classes"] == ["negative", "positive", "surprise"] and results["task"] == "3class"
    )
    from merprep.store import ClipStore

    task = get_task("3class")
    with ClipStore(samm_store) as s:
        truth = {r["clip_id"]: task.label(r) for r in s.records()}
        emotions = {str(r["emotion"]).lower() for r in s.records()}
        assert results["stores"][0]["fingerprint"] == s.fingerprint
    assert {"anger", "contempt", "fear", "sadness"} <= emotions  # negative in SAMM's table only
    rows = _csv(out / "predictions.csv")
    assert len(rows) == results["n"] == 18
    assert {r["clip_id"]: int(r["y_true"]) for r in rows} == truth
    fold = {r["clip_id"]: r for r in _csv(hd_run / "predictions.csv") if r["fold"] == "samm"}
    for r in rows:
        for c in results["classes"]:
            assert abs(float(r[f"p_{c}"]) - float(fold[r["clip_id"]][f"p_{c}"])) < 1e-6
    pooled = json.loads((hd_run / "results.json").read_text())["per_dataset"]["samm"]
    assert results["uf1"] == pytest.approx(pooled["uf1"]) and results["n"] == pooled["n"]
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["folds"] == ["samm"] and evaluation["trained_protocol"] == "holdout-dataset"
    assert "model" in res.output and "pooled" in res.output


def test_evaluate_refuses_subjects_the_model_trained_on(hd_run, samm_store, tmp_path, cli_runner):
    # the mean of both folds includes fold casme2, trained on these SAMM subjects
    res = _cli(cli_runner, ["evaluate", hd_run, samm_store, "-o", tmp_path / "e", "--no-progress"])
    assert res.exit_code == 2 and "trained the model" in res.output and "samm/006" in res.output
    assert "Traceback" not in res.output


def test_evaluate_refuses_a_task_without_mapping(casme2_store, samm_store, tmp_path, cli_runner):
    from mertrain.inference.fit import fit

    config = RunConfig.from_options(
        stores=[str(samm_store)],
        out=str(tmp_path / "samm7"),
        model="lbptop-svm",
        model_options={"frames": 8, "size": 32, "grid": [2, 2]},
        task="7class",
    )
    fit(config)
    res = _cli(cli_runner, ["evaluate", tmp_path / "samm7", casme2_store, "-o", tmp_path / "e"])
    assert res.exit_code == 2, res.output
    line = res.output.strip().splitlines()[-1]
    assert line.startswith(f"error: {casme2_store}: task '7class'")
    assert "dataset casme2's emotions disgust, happiness, repression, surprise" in line


# --------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def tiny(work) -> Path:
    """A CASME II sample of 3 clips (one subject)."""
    return _sample("casme2", work / "tiny", subjects=1, clips_per_subject=3)


def test_store_preprocessed_differently_is_refused_by_name(hd_run, tiny, tmp_path, cli_runner):
    stores = {
        "size": _extract("casme2", tiny, tmp_path / "px32.h5", size=32),
        "sampling": _extract("casme2", tiny, tmp_path / "diffk.h5", sampling="diffk"),
    }
    model = load_trained(hd_run, fold="samm")
    with pytest.raises(StoreMismatch) as info:
        model.check_store(stores["size"])
    assert "size 32 (the model's training stores: 64)" in str(info.value)
    assert "merprep extract --size 64" in str(info.value)
    res = _cli(cli_runner, ["predict", hd_run, stores["sampling"], "--fold", "samm", "-o", tmp_path / "p.csv"])  # fmt: skip
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"error: {stores['sampling']}: preprocessed differently" in res.output
    assert "sampling 'diffk' (the model's training stores: 'uniform')" in res.output
    assert not (tmp_path / "p.csv").exists()


def test_stage_parameters_are_compared(tiny, tmp_path):
    import shutil

    from merprep.flow import FlowConfig, run_flow
    from merprep.store import ClipStore
    from mertrain.inference.storeparams import check_params, store_params

    base = _extract("casme2", tiny, tmp_path / "tiny.h5")
    stores = []
    for method in ("farneback", "tvl1"):
        path = tmp_path / f"{method}.h5"
        shutil.copyfile(base, path)
        run_flow(path, FlowConfig(method=method, workers=1), progress=False)
        with ClipStore(path) as s:
            stores.append(store_params(s, {"flow"}))
    assert stores[0]["flow.method"] == "farneback" and stores[0]["size"] == 64
    check_params(stores[0], {}, stores[0], store_path="a.h5", model="m")
    # flow stacks read at another size keep their unit: displacements in the new pixels
    from mertrain.data import StoreCollection, load_arrays

    with StoreCollection([tmp_path / "farneback.h5"]) as coll:
        ids = coll.stores[0].clip_ids
        stored = np.stack([coll.read(c, "flow/onset_apex") for c in ids])
        read = load_arrays(coll, ids, {"flow": (56, 56, 3)}, {"flow": "flow"}, False)["flow"]
    for k, factor in ((0, 2.0), (1, 2.0), (2, 1.0)):  # u, v doubled; strain as is
        ratio = np.abs(read[..., k]).mean() / np.abs(stored[..., k]).mean()
        assert ratio == pytest.approx(factor, rel=0.05), k
    with pytest.raises(StoreMismatch, match=r"flow.method 'tvl1' \(the model's training stores: 'farneback'\).*merprep flow --method farneback"):  # fmt: skip
        check_params(stores[0], {}, stores[1], store_path="b.h5", model="ststnet")


def test_run_refuses_protocol_all(casme2_store, tmp_path, cli_runner):
    res = _cli(cli_runner, ["run", casme2_store, "--protocol", "all", "-o", tmp_path / "r"])
    assert res.exit_code == 2 and "mertrain fit" in res.output
    assert not (tmp_path / "r").exists()


def test_broken_records_and_old_weights_are_named(hd_run, tmp_path):
    import shutil

    from mertrain.inference import ModelLoadError
    from mertrain.inference.record import RecordError

    folder = tmp_path / "m"
    shutil.copytree(hd_run / "weights" / "001", folder)
    record = json.loads((folder / "preprocessing.json").read_text())
    del record["classes"]
    (folder / "preprocessing.json").write_text(json.dumps(record))
    with pytest.raises(RecordError, match="'classes' is a required property") as info:
        load_trained(folder)
    assert str(folder / "preprocessing.json") in str(info.value)
    old = tmp_path / "old"
    (old / "weights").mkdir(parents=True)
    shutil.copyfile(folder / "model.keras", old / "weights" / "000.keras")
    with pytest.raises(ModelLoadError, match="predate preprocessing records"):
        load_trained(old)


# --------------------------------------------------------------------------- ensembles, explain


def test_fold_ensemble_is_the_mean_of_its_folds(hd_run, casme2_store):
    ensemble = load_trained(hd_run)
    rows = ensemble.predict_store(casme2_store, progress=False)
    assert rows[0]["predicted_by"].startswith(f"{MODEL} mean of 2 folds")
    folds = [
        load_trained(hd_run, fold=k).predict_store(casme2_store, progress=False) for k in (0, 1)
    ]
    for i, row in enumerate(rows):
        mean = (np.array(folds[0][i]["probabilities"]) + folds[1][i]["probabilities"]) / 2
        np.testing.assert_allclose(row["probabilities"], mean, rtol=0, atol=1e-12)
        assert row["seen_in_training"] == 1  # fold samm trained on CASME II, fold casme2 did not


def test_explain_draws_the_occlusion_map(hd_run, casme2_store, tmp_path, cli_runner):
    import cv2

    from merprep.store import ClipStore
    from mertrain.inference.explain import occlusion_map

    with ClipStore(casme2_store) as s:
        clip = s.clip_ids[0]
    out = tmp_path / "heat.png"
    res = _cli(cli_runner, ["explain", hd_run, casme2_store, clip, "--fold", "samm", "-o", out,
                            "--class", "positive", "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "explained class 'positive'" in res.output
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 160 and image.shape[1] >= 480
    model = load_trained(hd_run, fold="samm")
    from mertrain.data import StoreCollection, load_arrays

    with StoreCollection([casme2_store]) as coll:
        x = load_arrays(coll, [clip], model.shapes(), {"face": "face"}, False)
    heat, _ = occlusion_map(model, x, "face", 1, patch=8, stride=8, progress=False)
    assert heat.shape == (32, 32) and np.abs(heat).max() > 0
    still = {
        "face": np.repeat(x["face"][:, :1], 9, axis=1)
    }  # no motion anywhere: nothing to remove
    heat, _ = occlusion_map(model, still, "face", 1, patch=8, stride=8, progress=False)
    assert np.abs(heat).max() < 1e-6  # zero up to float32 rounding of the batched forward pass


# --------------------------------------------------------------------------- resampling


def test_resampling_is_recorded_logged_once_and_refusable(
    casme2_store, hd_run, monkeypatch, caplog
):
    config = json.loads((hd_run / "config.json").read_text())
    for store in config["stores"]:
        face = store["resampled"]["face"]
        assert (face["frames"]["store"], face["frames"]["model"]) == (8, 9)
        assert (face["pixels"]["store"], face["pixels"]["model"]) == ("64x64", "32x32")
        assert (face["channels"]["store"], face["channels"]["model"]) == (3, 1)

    from mertrain.models.registry import MODELS
    from mertrain.prepare import prepare
    from mertrain.resampling import ResampleError

    config = RunConfig.from_options(stores=[str(casme2_store)], model=MODEL, model_options=OPTS)
    with caplog.at_level(logging.WARNING, logger="mertrain.prepare"):
        prepare(config, progress=False)
    lines = [r.getMessage() for r in caplog.records if "resampled" in r.getMessage()]
    assert len(lines) == 1 and "frames 8 -> 9" in lines[0] and "channels 3 -> 1" in lines[0]

    spec = MODELS.get(MODEL)
    strict = dataclasses.replace(spec.inputs[0], resample=("channels",))
    monkeypatch.setitem(MODELS._entries, MODEL, dataclasses.replace(spec, inputs=(strict,)))
    with pytest.raises(ResampleError) as info:
        prepare(config, progress=False)
    text = str(info.value)
    assert text.startswith(f"{casme2_store}: model '{MODEL}' input 'face' takes frames 9")
    assert "has frames 8" in text


def test_flow_is_resized_with_its_displacements_scaled():
    from mertrain.resampling import FLOW_NORMALISED, fit_flow

    stack = np.zeros((28, 28, 3), np.float32)
    stack[..., 0], stack[..., 1], stack[..., 2] = 1.5, -0.5, 0.2
    up = fit_flow(stack, (56, 56, 3))
    np.testing.assert_allclose(up[..., 0], 3.0, atol=1e-6)
    np.testing.assert_allclose(up[..., 1], -1.0, atol=1e-6)
    np.testing.assert_allclose(up[..., 2], 0.2, atol=1e-6)  # strain is scale-free
    down = fit_flow(stack, (14, 14, 3))
    np.testing.assert_allclose(down[..., 0], 0.75, atol=1e-6)
    same = fit_flow(stack, (56, 56, 3), FLOW_NORMALISED)  # per-clip normalised: scale-free
    np.testing.assert_allclose(same[..., 0], 1.5, atol=1e-6)


def test_predict_arrays_takes_clips_as_stored(hd_run, casme2_store):
    model = load_trained(hd_run, fold="samm")
    from merprep.store import ClipStore

    with ClipStore(casme2_store) as s:
        ids = s.clip_ids[:3]
        clips = np.stack([s.frames(c) for c in ids])  # (3, 8, 64, 64, 3): resampled inside
    rows = model.predict_store(casme2_store, ids, progress=False)
    np.testing.assert_allclose(
        model.predict_arrays({"face": clips}), [r["probabilities"] for r in rows], atol=1e-6
    )
    with pytest.raises(MerprepError, match="must be uint8"):
        model.predict_arrays({"face": clips.astype(np.float32)})
