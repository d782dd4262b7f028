"""``mertrain spot-train``: the learned spotter under leave-one-subject-out, on a generated
long-video store (real face photographs, programmed expressions and distractors, extracted
with dlib), with real flow, real Keras training and the MEGC evaluation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import mertrain.spotting.run as run_module
from merprep import ids
from merprep.longvideo.config import LongExtractConfig
from merprep.longvideo.extract import extract_long
from merprep.spotting.classical import peak_interval
from merprep.spotting.run import load_spots
from mertrain.spotting import train as training
from mertrain.spotting.config import LearnedSpotConfig
from mertrain.spotting.dataset import loso_folds, pseudo_labels
from mertrain.spotting.run import compute_features, features_cache, run_spot_train

#: small and fast: flow at 32 px, a few epochs
TINY = dict(flow_size=32, epochs=3, ensemble=1, crops_per_video=2, filters=8, dilations=(1, 2, 4))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """CAS(ME)^2 layout, 3 subjects x 2 videos of 10 s (the 4th video has no expression)."""
    from merprep.sample import generate

    root = tmp_path_factory.mktemp("learned") / "CASME2_long"
    generate("casme2-long", root, subjects=3, clips_per_subject=2, clip_length=300, seed=11)
    path = root.with_suffix(".h5")
    extract_long(
        LongExtractConfig(dataset="casme2-long", root=root, out=path, workers=2), progress=False
    )
    return path


@pytest.fixture(scope="module")
def features(store, tmp_path_factory):
    """(features by video id, the cache file): computed once for the module."""
    cache = features_cache(tmp_path_factory.mktemp("features"), store)
    feats = compute_features(store, LearnedSpotConfig(**TINY), workers=2, cache=cache)
    return feats, cache


def _run_folder(tmp_path, store, features):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(features[1], features_cache(out, store))  # the module's: no flow recomputed
    return out


def test_pseudo_labels_turn_back_into_the_annotated_intervals():
    """The soft target rises from 0 at an onset to 1 mid-interval and back, per type; its
    half-maximum width is half the interval, so the classical extraction (twice that width
    about the centre) gives the annotated interval back."""
    numbers = np.arange(1, 201)
    gts = [{"type": "me", "onset": 20, "offset": 31}, {"type": "mae", "onset": 80, "offset": 139}]
    y = pseudo_labels(numbers, gts)
    for col, gt in enumerate(gts):
        inside = (numbers >= gt["onset"]) & (numbers <= gt["offset"])
        assert np.all(y[~inside, col] == 0) and np.all(y[inside, col] > 0)
        assert y[:, col].max() == pytest.approx(1.0, abs=0.02)
        assert np.all(y[inside, 1 - col] == 0)  # the other type's target stays 0
        length = gt["offset"] - gt["onset"] + 1
        assert (y[:, col] >= 0.5).sum() == pytest.approx(length / 2, abs=1)
        onset, offset = peak_interval(y[:, col], int(y[:, col].argmax()), 0.0, numbers, 1)
        assert abs(onset - gt["onset"]) <= 1 and abs(offset - gt["offset"]) <= 1


def test_loso_folds_never_see_the_held_out_subject(store, features, tmp_path, monkeypatch):
    """A spy on everything a fold fits (standardisation, network, threshold choice: the videos
    and the scores it is given): none of it ever receives a video of the fold's held-out
    subject; each subject is held out once and each video is spotted by the fold that held its
    subject out."""
    by_id = features[0]
    seen: list[tuple[str, str, set[str]]] = []
    held_out: list[str] = []

    def spy(name, real):
        def wrapped(*args, **kwargs):
            for arg in args:
                if isinstance(arg, dict):  # scores by video id
                    seen.append(
                        (held_out[-1], f"{name} scores", {by_id[v].subject_id for v in arg})
                    )
                elif isinstance(arg, list):  # videos
                    seen.append((held_out[-1], name, {v.subject_id for v in arg}))
            return real(*args, **kwargs)

        return wrapped

    real_train_fold = training.train_fold

    def train_fold(videos, fold, config):
        held_out.append(fold.subject_id)
        return real_train_fold(videos, fold, config)

    for name in ("fit_normaliser", "fit_spotter", "choose_threshold"):
        monkeypatch.setattr(training, name, spy(name, getattr(training, name)))
    monkeypatch.setattr(run_module, "train_fold", train_fold)
    config = LearnedSpotConfig(**{**TINY, "epochs": 1, "threshold_select": "train"})
    out = _run_folder(tmp_path, store, features)
    run_spot_train(store, out, config, workers=1, progress=False)

    subjects = sorted({v.subject_id for v in by_id.values()})
    assert held_out == subjects  # each subject held out once, in order
    calls = {"fit_normaliser", "fit_spotter", "choose_threshold", "choose_threshold scores"}
    for subject in subjects:
        mine = [(name, s) for fold, name, s in seen if fold == subject]
        assert {name for name, _ in mine} == calls
        for name, fitted_on in mine:
            assert fitted_on == set(subjects) - {subject}, (name, subject, fitted_on)
    doc = load_spots(out)
    folds = {f["held_out_subject"]: f["index"] for f in doc["loso"]}
    assert len(doc["videos"]) == len(by_id)
    for v in doc["videos"]:
        assert v["fold"] == folds[v["subject_id"]]
        record = json.loads((out / "folds" / f"{v['fold']:03d}.json").read_text())
        assert v["video_id"] in record["test_videos"]
        assert all(ids.subject_of(t) != v["subject_id"] for t in record["train_videos"])
        assert v["subject_id"] not in record["train_subjects"]


def test_same_seed_same_intervals_other_seed_other_scores(features):
    """Determinism: one fold trained twice with one seed gives bit-identical scores and the
    same intervals; another run seed gives another network (so the seed is really used)."""
    by_id = features[0]
    fold = loso_folds(list(by_id.values()))[0]
    config = LearnedSpotConfig(**TINY)
    a = training.train_fold(by_id, fold, config)
    b = training.train_fold(by_id, fold, config)
    c = training.train_fold(by_id, fold, LearnedSpotConfig(**{**TINY, "seed": 2}))
    for vid in fold.test:
        assert np.array_equal(a.scores[vid], b.scores[vid])
        assert [s.to_dict() for s in a.spotted[vid]] == [s.to_dict() for s in b.spotted[vid]]
        assert not np.array_equal(a.scores[vid], c.scores[vid])
    assert a.losses == b.losses and a.seed == b.seed != c.seed


def test_trains_and_spots_a_tiny_store(store, features, tmp_path, cli_runner):
    """``mertrain spot-train`` end to end on CPU: the model learns (loss falls), the
    held-out videos' intervals come out in merprep's spots.json with every parameter and the
    MEGC evaluation, and ``merprep spot-eval`` scores it as it scores the classical spotter."""
    from merprep.cli import cli as merprep_cli
    from mertrain.cli import cli

    out = _run_folder(tmp_path, store, features)
    args = ["spot-train", str(store), "-o", str(out), "-j", "1", "--no-progress", "--plots", "1"]
    # the default inputs (`score`: 8 channels of per-block maxima over the video's baseline) need
    # more videos than this fixture's 3 subjects x 2 x 10 s to learn anything (0 TP at 30 and 80
    # epochs); every region's flow length learns here. The default's accuracy is measured by
    # benchmarks/bench_learned_spot.py (docs/benchmarks.md, "Learned spotter").
    args += ["--flow-size", "32", "--epochs", "30", "--ensemble", "1", "--inputs", "magnitude"]
    r = cli_runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "overall" in r.output and "leave-one-subject-out folds" in r.output
    doc = load_spots(out)
    assert doc["method"] == "learned"
    assert (
        doc["params"]
        == LearnedSpotConfig(flow_size=32, epochs=30, ensemble=1, inputs="magnitude").to_dict()
    )
    assert doc["store_fingerprint"] and "leave-one-subject-out" in doc["protocol"]
    for f in sorted((out / "folds").glob("*.json")):
        (loss,) = json.loads(f.read_text())["loss"]  # one network per fold
        assert len(loss) == 30 and np.mean(loss[-5:]) < 0.7 * np.mean(loss[:3])
    spotted = [s for v in doc["videos"] for s in v["intervals"]]
    assert spotted and all(
        {"onset", "offset", "apex", "type", "score", "onset_s"} <= set(s) for s in spotted
    )
    overall = doc["evaluation"]["combined"]["overall"]
    assert overall["n_pred"] == len(spotted) and overall["tp"] >= 1
    assert next((out / "timeline").glob("*.png")).read_bytes()[:4] == b"\x89PNG"
    r = cli_runner.invoke(merprep_cli, ["spot-eval", str(out), "-o", str(tmp_path / "t.json")])
    assert r.exit_code == 0, r.output
    table = json.loads((tmp_path / "t.json").read_text())["combined"]["overall"]
    assert table == overall
    # a store with one subject cannot be split leave-one-subject-out: one line, exit 2
    bad = tmp_path / "not_a_store.h5"
    bad.write_bytes(b"nope")
    r = cli_runner.invoke(cli, ["spot-train", str(bad), "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "not a readable HDF5 file" in r.output, r.output
