"""Silent wrong results and rough edges a new user hit (issue 17): each test here failed on the
code before its fix.

- re-running ``merprep extract`` onto an existing store replaced it and dropped its later
  stages without a word;
- a run's identity ignored the later stages a model reads: resuming after recomputing flow
  with another method kept the old folds, and shards of two flow methods merged;
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from merprep.errors import MerprepError


@pytest.fixture(scope="module")
def small_store(casme2_sample, tmp_path_factory) -> Path:
    from merprep.extract import ExtractConfig, extract

    out = tmp_path_factory.mktemp("user_errors") / "casme2.h5"
    extract(
        ExtractConfig(dataset="casme2", root=casme2_sample, out=out, frames=4, size=32, workers=1),
        progress=False,
    )
    return out


def test_extract_refuses_to_replace_a_store_and_names_its_stages(
    small_store, casme2_sample, tmp_path, cli_runner
):
    from merprep.cli import cli
    from merprep.regions import CropConfig, run_crop_au

    store = tmp_path / "s.h5"
    shutil.copyfile(small_store, store)
    run_crop_au(store, CropConfig(size=16))
    before = store.read_bytes()
    args = [
        "extract",
        "--dataset",
        "casme2",
        "--root",
        str(casme2_sample),
        "-o",
        str(store),
        "--frames",
        "4",
        "--size",
        "32",
        "-j",
        "1",
        "--no-progress",
    ]
    res = cli_runner.invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert "already exists (a store of 18 clips)" in res.output
    assert "its stages crop-au" in res.output and "--overwrite" in res.output
    assert store.read_bytes() == before  # nothing touched
    res = cli_runner.invoke(cli, [*args, "--resume"])  # nothing interrupted: still refused
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = cli_runner.invoke(cli, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    from merprep.store import ClipStore

    with ClipStore(store) as s:
        assert s.stages == {} and len(s) == 18


def test_library_extract_refuses_an_existing_store_too(small_store, casme2_sample, tmp_path):
    from merprep.extract import ExtractConfig, extract

    store = tmp_path / "s.h5"
    shutil.copyfile(small_store, store)
    with pytest.raises(MerprepError, match="already exists"):
        extract(
            ExtractConfig(
                dataset="casme2", root=casme2_sample, out=store, frames=4, size=32, workers=1
            ),
            progress=False,
        )


def test_run_identity_covers_the_stages_a_model_reads(small_store, tmp_path, cli_runner):
    """Recomputing flow with another method changes what a flow model reads: --resume into the
    old run directory and merging shards of the two are refused, naming the stage."""
    from merprep.flow import FlowConfig, run_flow
    from mertrain.cli import cli
    from mertrain.config import RunConfig
    from mertrain.runner import run

    store = tmp_path / "s.h5"
    shutil.copyfile(small_store, store)
    run_flow(store, FlowConfig(method="farneback", size=28, workers=1), progress=False)
    options = dict(stores=[str(store)], model="ststnet", epochs=1)
    first = tmp_path / "farneback"
    run(RunConfig.from_options(out=str(first), folds="0", **options), progress=False)

    run_flow(store, FlowConfig(method="tvl1", size=28, workers=1), progress=False)
    with pytest.raises(MerprepError, match=r"holds a different run \(store_stages"):
        run(
            RunConfig.from_options(out=str(first), folds="0-1", resume=True, **options),
            progress=False,
        )
    second = tmp_path / "tvl1"
    run(RunConfig.from_options(out=str(second), folds="1", **options), progress=False)
    res = cli_runner.invoke(cli, ["report", "--merge", str(first), str(second)])
    assert res.exit_code == 2 and "different configuration (store_stages" in res.output


def _ctrl_c_as_at_a_terminal() -> None:
    """The child starts with SIGINT at its default, as a command typed at a terminal does. A
    suite started in the background (``make test &``, nohup, some CI runners) has SIGINT
    ignored, every child inherits that and Python keeps it ignored: Ctrl-C would do nothing."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_extract_workers_start_is_one_line(casme2_sample, tmp_path):
    """Ctrl-C reaches every process of the terminal's foreground group; the workers, being
    started, printed a CRITICAL 'Exception in initializer' traceback each (and the pool a
    thread traceback). Now: one line that says how to resume, exit 130, no traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "s.h5"
    cmd = [
        sys.executable,
        "-m",
        "merprep.cli",
        "extract",
        "--dataset",
        "casme2",
        "--root",
        str(casme2_sample),
        "-o",
        str(out),
        "-j",
        "2",
        "--frames",
        "4",
        "--size",
        "32",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )
    staging = out.with_name(out.name + ".partial")
    deadline = time.monotonic() + 60
    while not staging.is_dir() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the workers are spawning and loading dlib's model now
    assert proc.poll() is None, "extract finished before it could be interrupted"
    # a Ctrl-C in the instant a worker is being spawned (SIGINT ignored there) is lost, as a
    # user would find: press it again
    for _ in range(10):
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=3)
            break
        except subprocess.TimeoutExpired:
            continue
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "CRITICAL" not in err, err
    assert err.strip().splitlines()[-1].startswith("interrupted: rerun the same")
    assert "--resume" in err and not out.exists()


@pytest.mark.parametrize("value", ["abc", "64.5", "[1, 2]"])
def test_set_values_of_the_wrong_type_are_one_line_errors(value, tmp_path, cli_runner):
    """``--set dense_units=abc`` was a TypeError traceback, ``=64.5`` a Keras ValueError after the
    run directory existed (which then blocked the corrected command)."""
    from test_run import write_store

    from mertrain.cli import cli

    store = write_store(tmp_path / "s.h5")
    out = tmp_path / "run"
    base = [
        "run",
        str(store),
        "--model",
        "stcnn-3dcnn",
        "--set",
        "size=32",
        "--epochs",
        "1",
        "-o",
        str(out),
        "--folds",
        "0",
        "--no-progress",
    ]
    res = cli_runner.invoke(cli, [*base, "--set", f"dense_units={value}"])
    assert res.exit_code == 2, res.output
    assert "dense_units must be int, got" in res.output and "Traceback" not in res.output
    assert not out.exists()
    assert cli_runner.invoke(cli, [*base, "--set", "dense_units=16"]).exit_code == 0


def test_a_run_interrupted_before_its_first_fold_leaves_no_directory(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from test_run import write_store

    store = write_store(tmp_path / "s.h5")
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "mertrain.cli",
        "run",
        str(store),
        "--model",
        "stcnn-3dcnn",
        "--set",
        "size=32",
        "--epochs",
        "200",
        "-o",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )
    deadline = time.monotonic() + 120
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    time.sleep(1.0)  # training fold 0 (200 epochs: tens of seconds)
    assert not (out / "folds").is_dir() or not list((out / "folds").iterdir())
    os.killpg(proc.pid, signal.SIGINT)
    printed, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not out.exists()
    # what the run would do was said before training started
    assert printed.startswith("recipe: adam lr 0.003") and "\nplan: 3 of 3 fold(s)" in printed


@pytest.mark.parametrize("name", ["clip.pdf", "clip.svg", "clip.png", "clip.jpg"])
def test_show_writes_every_picture_format_it_names(small_store, tmp_path, cli_runner, name):
    from merprep.cli import cli

    out = tmp_path / name
    res = cli_runner.invoke(cli, ["show", str(small_store), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 1000
    head = out.read_bytes()[:8]
    assert {
        "pdf": head.startswith(b"%PDF"),
        "svg": b"<?xml" in out.read_bytes()[:100],
        "png": head.startswith(b"\x89PNG"),
        "jpg": head.startswith(b"\xff\xd8"),
    }[name[-3:]]


@pytest.mark.parametrize("name", ["clip", "clip.gif", "clip.txt"])
def test_show_refuses_a_name_without_a_picture_format_in_one_line(
    small_store, tmp_path, cli_runner, name
):
    from merprep.cli import cli

    res = cli_runner.invoke(cli, ["show", str(small_store), "-o", str(tmp_path / name)])
    assert res.exit_code == 2 and "cannot tell the picture format" in res.output
    assert "Traceback" not in res.output and not (tmp_path / name).exists()


def test_show_flow_at_its_defaults_gives_tiles_labels_fit_under(small_store, tmp_path):
    """The README's `merprep show --layer flow` drew 28 px maps x2: a 304x222 picture whose
    labels ran into each other. The default scale now follows the stored size."""
    import cv2

    from merprep.draw import FONT
    from merprep.flow import FlowConfig, run_flow
    from merprep.show import COLUMNS, MIN_TILE_PX, PAD, render_montage

    store = tmp_path / "s.h5"
    shutil.copyfile(small_store, store)
    run_flow(store, FlowConfig(method="farneback", size=28, workers=1), progress=False)
    image = render_montage(store, layer="flow")
    tile = (image.shape[1] - PAD) // COLUMNS - PAD
    assert tile >= MIN_TILE_PX and tile == 28 * 5
    (label_w, _), _ = cv2.getTextSize("strain (0-0.00)", FONT, 0.4, 1)
    assert label_w < tile  # the longest label fits under its tile
    frames = render_montage(store)  # four 32 px face frames: x4
    assert (frames.shape[1] - PAD) // 4 - PAD == 128


def test_crop_au_codes_must_have_a_region_and_accept_the_au_spelling(
    small_store, tmp_path, cli_runner
):
    """`crop-au --codes 1,2,99` was accepted (there is no AU 99) while `AU1` was rejected."""
    from merprep.cli import cli

    store = tmp_path / "s.h5"
    shutil.copyfile(small_store, store)
    res = cli_runner.invoke(cli, ["crop-au", str(store), "--codes", "1,2,99", "--size", "16"])
    assert res.exit_code == 2 and "AU 99 has no region in the rule table" in res.output
    res = cli_runner.invoke(cli, ["crop-au", str(store), "--codes", "AU1,au2,4", "--size", "16"])
    assert res.exit_code == 0, res.output
    from merprep.store import ClipStore

    with ClipStore(store) as s:
        assert s.stages["crop-au"]["params"]["codes"] == [1, 2, 4]


def test_magnify_refuses_a_band_above_the_clips_nyquist_frequency(
    small_store, tmp_path, cli_runner
):
    """`magnify --band 3 500` was accepted on clips whose stored frames hold far less."""
    from merprep.cli import cli
    from merprep.magnify import sample_rate
    from merprep.store import ClipStore

    store = tmp_path / "s.h5"
    shutil.copyfile(small_store, store)
    before = store.read_bytes()
    res = cli_runner.invoke(cli, ["magnify", str(store), "--alpha", "8", "--band", "3", "500"])
    assert res.exit_code == 2 and "holds frequencies up to" in res.output, res.output
    assert store.read_bytes() == before
    with ClipStore(store) as s:
        nyquist = min(sample_rate(r["fps"], r["frame_numbers"]) / 2 for r in s.records())
    res = cli_runner.invoke(
        cli, ["magnify", str(store), "--alpha", "8", "--band", "0.5", f"{nyquist * 0.9:.3f}"]
    )
    assert res.exit_code == 0, res.output


def test_a_fold_that_collapsed_to_one_class_is_flagged(tmp_path, cli_runner):
    """A model trained with weight only on one class predicts it for every test clip: the run
    said nothing (issue 17 item 12); a healthy run says nothing still."""
    from test_run import write_store

    from mertrain.cli import cli

    store = write_store(tmp_path / "s.h5")
    base = [
        "run",
        str(store),
        "--model",
        "stcnn-3dcnn",
        "--set",
        "size=32",
        "--folds",
        "0",
        "--epochs",
        "5",
        "--no-progress",
    ]
    res = cli_runner.invoke(cli, [*base, "--class-weights", "1,0,0", "-o", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert (
        "warning: fold casme2/sub01: every one of its 6 test clips is predicted 'negative'"
        in res.output
    )
    res = cli_runner.invoke(cli, [*base, "-o", str(tmp_path / "b")])
    assert res.exit_code == 0 and "warning:" not in res.output


def test_training_says_how_long_the_run_will_take_and_warns_when_hours(caplog):
    """The fold bar sat at 0/8 for the first fold's whole duration; now each epoch logs, and
    the second epoch's pace gives the run's duration, a warning when it is hours."""
    import logging
    import time

    from mertrain.fitting import EpochProgress

    cb = EpochProgress("fold 0 x", epochs=200, bar=False, run_epochs=200 * 68)
    cb.on_train_begin()
    with caplog.at_level(logging.INFO, logger="mertrain.fitting"):
        cb._t = time.perf_counter() - 3.0  # the first epoch took 3 s (tracing included)
        cb.on_epoch_end(0, {"loss": 1.0})
        cb._t = time.perf_counter() - 2.0  # the second 2 s
        cb.on_epoch_end(1, {"loss": 0.9})
    cb.on_train_end()
    lines = [r for r in caplog.records if r.name == "mertrain.fitting"]
    assert "epoch 1/200: loss 1.0000" in lines[0].getMessage()
    assert "fold done in about" in lines[1].getMessage()
    warning = [r for r in lines if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "take about 7.6 h on this machine" in warning[0].getMessage()


def test_models_listing_says_how_to_make_each_input(cli_runner):
    """`mertrain models` did not say that the stcnn-* models need key frames in gray."""
    from mertrain.cli import cli

    res = cli_runner.invoke(cli, ["models", "stcnn-3dcnn", "--no-params"])
    assert res.exit_code == 0
    assert "make it with: merprep extract --sampling key --size 128 --color gray" in res.output
    res = cli_runner.invoke(cli, ["models", "ststnet", "--no-params"])
    assert "make it with: merprep extract, then merprep flow --size 28" in res.output


@pytest.mark.slow
def test_mediapipe_extraction_prints_no_native_start_up_chatter(tmp_path):
    """`--landmarks mediapipe` printed about 25 lines of TensorFlow/absl/XNNPACK start-up noise
    per run (CUDA factories on a CPU machine, delegates); only the summary is left."""
    import subprocess
    import sys

    from merprep.sample import generate

    root = tmp_path / "casme2"
    generate("casme2", root, subjects=1, clips_per_subject=2, clip_length=6, seed=0)
    out = tmp_path / "mp.h5"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "merprep.cli",
            "extract",
            "--dataset",
            "casme2",
            "--root",
            str(root),
            "-o",
            str(out),
            "--frames",
            "4",
            "--size",
            "32",
            "--landmarks",
            "mediapipe",
            "-j",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    noise = [
        line
        for line in res.stderr.splitlines()
        if any(k in line for k in ("absl", "W0000", "E0000", "XNNPACK", "cuda", "TensorFlow"))
    ]
    assert noise == []
    assert res.stdout.startswith(f"wrote {out}: 2 clips")


def test_default_augmentation_shifts_follow_the_input_size(tmp_path):
    """`--augment default` shifted clips by up to 15 px whatever their size, half the width of a
    32 px clip (learning was ruined); the shift is now 15 px at 128, scaled to the input."""
    from test_run import write_store

    from mertrain.augment import AugmentConfig
    from mertrain.config import RunConfig
    from mertrain.fold_inputs import fold_inputs
    from mertrain.prepare import prepare

    assert AugmentConfig(max_translate=15, size_reference=128).for_width(32).max_translate == 4
    assert AugmentConfig(max_translate=6).for_width(32).max_translate == 6  # pixels as given
    store = write_store(tmp_path / "s.h5")
    p = prepare(
        RunConfig.from_options(
            stores=[str(store)],
            model="stcnn-3dcnn",
            model_options={"size": 32},
            augment="default",
            out=str(tmp_path / "r"),
        ),
        progress=False,
    )
    assert p.config.recipe.augment["size_reference"] == 128  # recorded with the run
    inputs = fold_inputs(p.context(), p.data, p.job(0))
    assert inputs.augmented is not None and inputs.augmented.config.max_translate == 4


def test_a_gray_store_trains_beside_an_rgb_store(tmp_path):
    """A gray SAMM store beside an RGB CASME II store was refused ("stores mix colour modes");
    both now feed the model's channels, and the run records which store was converted."""
    import json

    import numpy as np
    from test_run import _clip, _record, write_store

    from merprep.store import StoreWriter
    from mertrain.config import RunConfig
    from mertrain.runner import run

    rgb = write_store(tmp_path / "casme2.h5", subjects=2)
    gray = tmp_path / "samm.h5"
    rng = np.random.default_rng(1)
    prov = {
        "datasets": ["samm"],
        "command": "pytest",
        "params": {},
        "landmark_backend": "none",
        "landmark_backend_version": "0",
        "frame_height": 32,
        "frame_width": 32,
        "channels": 1,
        "color": "gray",
    }
    with StoreWriter(gray, prov) as w:
        for j, emotion in enumerate(("anger", "happiness", "surprise") * 2):
            rec = dict(
                _record("007", f"007_{j}", emotion, 8),
                dataset="samm",
                clip_id=f"samm/007/007_{j}",
                subject_id="samm/007",
            )
            w.add_clip(rec, _clip(j % 3, rng)[..., :1])
    res = run(
        RunConfig.from_options(
            stores=[str(rgb), str(gray)],
            model="dual3dcnn-gru-ecbam",
            epochs=1,
            out=str(tmp_path / "r"),
            folds="0",
            model_options={"frames": 8, "size": 32, "gru_units": 16},
        ),
        progress=False,
    )
    assert res.results["folds_done"] == 1
    stores = {
        Path(s["path"]).name: s
        for s in json.loads((tmp_path / "r" / "config.json").read_text())["stores"]
    }
    assert not stores["casme2.h5"].get("resampled")  # RGB, as the model reads
    assert stores["samm.h5"]["resampled"]["face"]["channels"] == {
        "store": 1,
        "model": 3,
        "how": "gray repeated in every channel",
    }


def test_magnified_frames_feed_a_model_with_read(small_store, tmp_path, cli_runner):
    """No model read `merprep magnify`'s output; `--read face=magnified` feeds it to any model
    that reads face clips, recorded in the run's identity."""
    import json

    from merprep.magnify import MagnifyConfig, run_magnify
    from merprep.store import ClipStore
    from mertrain.cli import cli

    store = tmp_path / "s.h5"
    shutil.copyfile(small_store, store)
    with ClipStore(store) as s:
        from merprep.magnify import sample_rate

        nyquist = min(sample_rate(r["fps"], r["frame_numbers"]) / 2 for r in s.records())
    run_magnify(store, MagnifyConfig(alpha=4, low=0.5, high=0.8 * nyquist, levels=2))
    base = [
        "run",
        str(store),
        "--model",
        "stcnn-3dcnn",
        "--set",
        "size=32",
        "--epochs",
        "1",
        "--folds",
        "0",
        "--no-progress",
    ]
    res = cli_runner.invoke(cli, [*base, "--read", "face=magnified", "-o", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    magnified = json.loads((tmp_path / "m" / "config.json").read_text())
    assert magnified["config"]["model"]["read_from"] == {"face": "magnified"}
    assert magnified["identity"]["read_from"] == {"face": "magnified"}
    assert "magnify" in magnified["stores"][0]["stages_read"]
    res = cli_runner.invoke(cli, [*base, "-o", str(tmp_path / "f")])
    face = json.loads((tmp_path / "f" / "config.json").read_text())
    assert face["identity_sha256"] != magnified["identity_sha256"]
    res = cli_runner.invoke(cli, [*base, "--read", "face=flow", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "is not the same kind" in res.output
