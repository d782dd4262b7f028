"""Reliability of ``mertrain run``, tested on purpose: damaged stores are refused before any
training, a fold whose loss stops being finite fails alone (recorded, the other folds scored,
non-zero exit), and a disk that fills while weights are written stops the run loudly without
harming the folds already finished (``--resume`` completes it).

A fold killed by SIGKILL and redone by ``--resume`` is tested in ``tests/test_run.py``
(``test_sigkill_between_folds_then_resume``). The guarantees are listed in docs/reliability.md.
Stores are 3 subjects x 6 clips of 8 frames at 32x32; runs use ``stcnn-3dcnn`` for 1-2 epochs.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_losses import _store
from test_run import write_store

from merprep.store import layout
from mertrain.train import RunConfig, run

MODEL = "stcnn-3dcnn"


@pytest.fixture(scope="module")
def good_store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("rel_store") / "casme2.h5")


def _cli(cli_runner, args):
    from mertrain.cli import cli

    return cli_runner.invoke(cli, ["run", *map(str, args)])


# --------------------------------------------------------------------------- damaged stores

CLIP = "casme2/sub02/EP03"


def _flip_frame_byte(path: Path) -> None:
    """Flip one byte in the middle of a compressed frame chunk of CLIP (fletcher32 catches it)."""
    with h5py.File(path, "r") as f:
        info = f[layout.clip_path(CLIP)]["frames"].id.get_chunk_info(3)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([b[0] ^ 0xFF]))


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)


def _drop_group(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f[layout.clip_path(CLIP)]


def _future_schema(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = "99.0.0"


def _not_hdf5(path: Path) -> None:
    path.write_text("clip_id,label\ncasme2/sub01/EP00,happiness\n")


@pytest.mark.parametrize(
    "damage,message",
    [
        (_flip_frame_byte, f"clip {CLIP!r}, array 'frames' is damaged"),
        (_truncate, "not a readable HDF5 file"),
        (_drop_group, f"clip {CLIP!r} is in the index but its group is missing"),
        (_future_schema, "written with clip-store schema 99.0.0, newer than this merprep supports"),
        (_not_hdf5, "not a readable HDF5 file"),
    ],
)
def test_damaged_store_is_refused_before_training(
    good_store, tmp_path, cli_runner, damage, message
):
    """Every array a run needs is read (and checksummed) in `prepare`, before the run
    directory exists: a damaged store stops the run with one line naming the store and the
    clip, and no fold starts."""
    store = tmp_path / "damaged.h5"
    shutil.copyfile(good_store, store)
    damage(store)
    out = tmp_path / "run"
    res = _cli(
        cli_runner,
        [
            store,
            "--model",
            MODEL,
            "--set",
            "size=32",
            "--epochs",
            "1",
            "--out",
            out,
            "--no-progress",
        ],
    )
    assert res.exit_code == 2, res.output
    assert f"error: {store}: " in res.output and message in res.output, res.output
    assert "Traceback" not in res.output
    assert not out.exists()  # nothing trained, nothing written


# --------------------------------------------------------------------------- NaN / inf loss


def test_non_finite_loss_callback_names_the_epoch_and_batch():
    from mertrain.fitting import NonFiniteLoss

    class Model:
        stop_training = False

    guard = NonFiniteLoss()
    guard.set_model(Model())
    guard.on_epoch_begin(1)
    guard.on_train_batch_end(0, {"loss": 0.7})
    assert guard.failure is None and not guard.model.stop_training
    guard.on_train_batch_end(3, {"loss": np.float32("nan")})
    assert guard.failure == "loss became NaN at epoch 2 (batch 4)"
    assert guard.model.stop_training


#: sub03 has no surprise clip, so the folds that train on it see surprise in 2 of 12 clips; a
#: logit-adjustment tau of 3e38 makes tau*log(prior) overflow float32 (to -inf) for any class
#: rarer than 1/3, so those two folds' loss is +inf from the first batch, deterministically,
#: while the fold testing sub03 trains on balanced classes and finishes.
UNEVEN = {"sub01": [0, 1, 2, 0, 1, 2], "sub02": [0, 1, 2, 0, 1, 2], "sub03": [0, 0, 1, 1, 0, 1]}


def test_non_finite_loss_fails_that_fold_only(tmp_path, cli_runner):
    store = _store(tmp_path / "uneven.h5", UNEVEN)
    out = tmp_path / "run"
    args = [
        store,
        "--model",
        MODEL,
        "--set",
        "size=32",
        "--epochs",
        "2",
        "--out",
        out,
        "--loss",
        "logit-adjusted",
        "--tau",
        "3e38",
        "--no-progress",
    ]
    res = _cli(cli_runner, args)
    assert res.exit_code == 1, res.output
    assert "error: fold casme2/sub01 failed: loss became inf at epoch 1" in res.output
    assert "error: 2 fold(s) failed" in res.output and "Traceback" not in res.output
    assert "INCOMPLETE (1/3 folds)" in res.output and "FAILED 2 fold(s)" in res.output

    results = json.loads((out / "results.json").read_text())
    assert results["failed_folds"] == {
        "casme2/sub01": "loss became inf at epoch 1 (batch 1)",
        "casme2/sub02": "loss became inf at epoch 1 (batch 1)",
    }
    assert (results["complete"], results["folds_done"], results["n"]) == (False, 1, 6)
    assert set(results["per_subject"]) == {"casme2/sub03"}  # pooled over finished folds only
    rows = (out / "predictions.csv").read_text().splitlines()[1:]
    assert len(rows) == 6 and all(",casme2/sub03," in r for r in rows)
    assert sorted(p.name for p in (out / "folds").iterdir()) == [
        "000.failed.json",
        "001.failed.json",
        "002.json",
    ]
    failed = json.loads((out / "folds" / "000.failed.json").read_text())
    assert failed["proba"] == [] and failed["failure"].startswith("loss became inf")

    # --resume retries the failed folds (and only them); they fail again, deterministically
    result = run(
        RunConfig.from_options(
            stores=[str(store)],
            out=str(out),
            model=MODEL,
            epochs=2,
            model_options={"size": 32},
            loss="logit_adjusted",
            logit_adjust_tau=3e38,
            resume=True,
        ),
        progress=False,
    )
    assert result.ran == [0, 1] and set(result.failed) == {"casme2/sub01", "casme2/sub02"}
    from mertrain.report import format_table

    assert "FAILED 2 fold(s)" in format_table(result.results).splitlines()[0]


# --------------------------------------------------------------------------- disk full


def _config(store: Path, out: Path, **kw) -> RunConfig:
    return RunConfig.from_options(
        stores=[str(store)],
        out=str(out),
        model=MODEL,
        epochs=1,
        model_options={"size": 32},
        save_weights=True,
        **kw,
    )


def _check_resume_after_weights_failure(store: Path, out: Path) -> None:
    """Fold 0 finished with its weights, fold 1 did not, nothing partial is left; --resume
    completes the run."""
    fold0 = (out / "folds" / "000.json").read_bytes()
    record = json.loads(fold0)  # whole, and fold 0's: its clips, each with a probability row
    assert record["index"] == 0 and len(record["proba"]) == len(record["clip_ids"]) > 0
    assert not (out / "folds" / "001.json").exists()
    assert sorted(p.name for p in (out / "weights").iterdir()) == ["000"]  # no empty 001/
    result = run(_config(store, out, resume=True), progress=False)
    assert result.ran == [1, 2] and result.complete
    assert (out / "folds" / "000.json").read_bytes() == fold0
    assert sorted(p.name for p in (out / "weights").iterdir()) == ["000", "001", "002"]
    from mertrain.models import load_model

    assert load_model(out / "weights" / "001" / "model.keras").count_params() > 0


def test_disk_full_while_saving_weights_simulated(good_store, tmp_path, cli_runner, monkeypatch):
    """ENOSPC from the OS while fold 1's weights are renamed into place (simulated for that
    one write; fold records and other files are written for real)."""
    real_replace = os.replace

    def replace(src, dst, *a, **k):
        if str(dst).endswith("001/model.keras"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "run"
    res = _cli(
        cli_runner,
        [
            good_store,
            "--model",
            MODEL,
            "--set",
            "size=32",
            "--epochs",
            "1",
            "--out",
            out,
            "--save-weights",
            "--no-progress",
        ],
    )
    monkeypatch.setattr(os, "replace", real_replace)
    assert res.exit_code == 2, res.output
    weights = out / "weights" / "001" / "model.keras"
    assert (
        f"error: {weights}: cannot write the fold's weights (No space left on device)" in res.output
    )
    assert "Traceback" not in res.output
    _check_resume_after_weights_failure(good_store, out)


def _can_mount_tmpfs(path: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    ok = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    if ok:
        subprocess.run(["umount", str(path)], check=True)
    return ok


def test_disk_full_while_saving_weights_real_tmpfs(good_store, tmp_path):
    """The same on a real full filesystem: a 4 MB tmpfs holds fold 0's 2.8 MB model (and the
    small run files) but not fold 1's (needs root to mount; skipped otherwise)."""
    mnt = tmp_path / "tiny"
    if not _can_mount_tmpfs(mnt):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        from mertrain.train import WeightsError

        out = mnt / "run"
        with pytest.raises(WeightsError) as info:
            run(_config(good_store, out), progress=False)
        assert str(info.value).startswith(
            f"{out / 'weights' / '001' / 'model.keras'}: cannot write "
            "the fold's weights (No space left on device)"
        )
        assert not list((out / "weights").rglob(".*partial*"))  # no partial file left
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        _check_resume_after_weights_failure(good_store, out)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
