"""Failures inside worker processes (merprep/parallel.py and its callers), with two workers:
a clip whose processing fails or raises in a worker is named, a worker that dies is a clear
one-line error, and in every case nothing is half written (no store, or the old one byte for
byte; no temporary file; the lock free) and ``extract --resume`` completes the run.

Issue 16: the mid-run failure tests of flow and crop-au used one worker, so a failure in a
worker process was never tested. (crop-au runs inline by design, regions.py: its failure is
checked here through the same path, with the clip named on the exception.)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from merprep.errors import ValidationFailed
from merprep.extract import ExtractConfig, extract
from merprep.sample import generate
from merprep.store import ClipStore, store_lock, validate_store
from merprep.store.staging import staging_dir

N_CLIPS = 8


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(store: Path) -> list[str]:
    """What a writer of ``store`` may leave beside it: temporary files, the lock."""
    return sorted(p.name for p in store.parent.iterdir() if p.name.startswith(f".{store.name}")) + (
        [f"{store.name}.lock"] if Path(f"{store}.lock").exists() else []
    )


def lock_is_free(store: Path) -> bool:
    with store_lock(store):
        return True


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """CASME II sample, 1 subject x 8 clips; clip 2's onset frame is empty, clip 6's is cut."""
    root = generate(
        "casme2", tmp_path_factory.mktemp("w") / "CASME2", subjects=1,
        clips_per_subject=N_CLIPS, clip_length=6, seed=5,
    ).root  # fmt: skip
    folders = sorted((root / "CASME2_RAW_selected" / "sub01").iterdir())

    def onset_frame(folder: Path) -> Path:
        return min(folder.glob("*.jpg"), key=lambda p: int(p.stem.removeprefix("img")))

    empty, cut = onset_frame(folders[2]), onset_frame(folders[6])
    empty.write_bytes(b"")
    cut.write_bytes(cut.read_bytes()[:300])
    bad = {
        f"casme2/sub01/{folders[2].name}": empty.name,
        f"casme2/sub01/{folders[6].name}": cut.name,
    }
    return root, bad


def _config(root: Path, out: Path, **kw) -> ExtractConfig:
    return ExtractConfig(dataset="casme2", root=root, out=out, frames=4, size=32, workers=2, **kw)


@pytest.fixture(scope="module")
def skipped_store(hostile, tmp_path_factory) -> Path:
    root, _ = hostile
    out = tmp_path_factory.mktemp("ref") / "store.h5"
    extract(_config(root, out, skip_invalid=True), progress=False)
    return out


def test_extract_with_two_workers_names_each_failed_clip_and_writes_nothing(hostile, tmp_path):
    root, bad = hostile
    out = tmp_path / "store.h5"
    with pytest.raises(ValidationFailed) as err:
        extract(_config(root, out), progress=False)
    problems = {p.clip_id: p for p in err.value.problems}
    assert set(problems) == set(bad)
    for clip_id, frame in bad.items():
        assert frame in problems[clip_id].message and problems[clip_id].row is not None
    assert not out.exists() and leftovers(out) == [] and lock_is_free(out)


def test_extract_with_two_workers_skips_the_failed_clips_by_name(hostile, skipped_store):
    _, bad = hostile
    assert validate_store(skipped_store) == []
    with ClipStore(skipped_store) as store:
        assert len(store) == N_CLIPS - 2 and not set(bad) & set(store.clip_ids)
        skipped = {s["clip_id"]: s["reason"] for s in store.skipped()}
    assert set(skipped) == set(bad) and all(bad[c] in skipped[c] for c in bad)


def _workers_of(pid: int) -> list[int]:
    """The spawned worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in map(int, children):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.append(child)
    return found


def _kill_a_worker(proc: subprocess.Popen, ready) -> None:
    """SIGKILL one worker of ``proc`` once ``ready()`` (polled until the run ends)."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        workers = _workers_of(proc.pid)
        if workers and ready():
            os.kill(workers[0], signal.SIGKILL)
            return
        time.sleep(0.005)
    raise AssertionError("the run ended before a worker could be killed")


def _merprep(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "merprep.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_worker_killed_during_extract_is_one_clear_line_and_resume_completes(
    hostile, skipped_store, tmp_path
):
    root, _ = hostile
    out = tmp_path / "store.h5"
    proc = _merprep("extract", "--dataset", "casme2", "--root", root, "--out", out, "--frames",
                    4, "--size", 32, "--workers", 2, "--skip-invalid", "--no-progress")  # fmt: skip
    staged = staging_dir(out)
    _kill_a_worker(proc, lambda: any((staged / "clips").glob("*.npz")))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "a worker process died (killed by SIGKILL" in line and "casme2/sub01/" in line
    assert not out.exists() and lock_is_free(out)
    result = extract(_config(root, out, skip_invalid=True, resume=True), progress=False)
    assert result.resumed > 0  # the clips staged before the kill were kept
    with ClipStore(out) as a, ClipStore(skipped_store) as b:
        assert a.fingerprint == b.fingerprint and a.skipped() == b.skipped()
    assert leftovers(out) == [] and not staged.exists()


# --------------------------------------------------------------------------------------------
# flow (two workers) and crop-au (inline)
# --------------------------------------------------------------------------------------------


def _damage_record(store: Path, clip_id: str, **changes) -> None:
    """A store edited by hand: one clip's record no longer holds what processing needs."""
    with h5py.File(store, "r+") as f:
        group = f[f"clips/{clip_id}"]
        group.attrs["record"] = json.dumps({**json.loads(group.attrs["record"]), **changes})


def _store_copy(skipped_store: Path, tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "store.h5"
    shutil.copyfile(skipped_store, path)
    with ClipStore(path) as store:
        return path, store.clip_ids[3]


def test_a_clip_that_raises_in_a_flow_worker_is_named(skipped_store, tmp_path, cli_runner):
    from merprep.cli import cli

    path, clip = _store_copy(skipped_store, tmp_path)
    _damage_record(path, clip, apex="x")
    before = sha(path)
    res = cli_runner.invoke(
        cli, ["flow", str(path), "--method", "farneback", "--size", "8", "--workers", "2",
              "--no-progress"],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert (
        f"error: {clip}: failed in a worker process (ValueError: could not convert string to "
        "float: 'x'); rerun with --workers 1 for the traceback"
    ) in res.output
    assert sha(path) == before and leftovers(path) == [] and lock_is_free(path)
    from merprep.flow import FlowConfig, run_flow

    with pytest.raises(ValueError, match="could not convert") as err:  # inline: the traceback
        run_flow(path, FlowConfig(method="farneback", size=8, workers=1), progress=False)
    assert f"while processing {clip}" in err.value.__notes__
    assert sha(path) == before and leftovers(path) == []


def _busy_store(path: Path) -> Path:
    """40 clips of 8 noisy 48 x 48 frames: TV-L1 over them keeps two workers busy for
    seconds, so a worker is surely killed mid-run, however loaded the machine."""
    import numpy as np
    from test_guarantee_store import PROVENANCE, record

    from merprep.store import StoreWriter

    rng = np.random.default_rng(0)
    with StoreWriter(path, {**PROVENANCE, "frame_height": 48, "frame_width": 48}) as w:
        for i in range(40):
            frames = rng.integers(0, 256, (8, 48, 48, 3), dtype=np.uint8)
            w.add_clip(record("sub01", f"EP{i:02d}", 8), frames)
    return path


def test_a_flow_worker_that_dies_is_one_clear_line(tmp_path):
    path = _busy_store(tmp_path / "store.h5")
    before = sha(path)
    proc = _merprep("flow", path, "--method", "tvl1", "--pair", "sequence", "--size", "16",
                    "--workers", "2", "--no-progress")  # fmt: skip
    _kill_a_worker(proc, lambda: True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "a worker process died (killed by SIGKILL" in line
    assert sha(path) == before and leftovers(path) == [] and lock_is_free(path)


def test_a_clip_that_raises_in_crop_au_is_named_and_the_store_kept(skipped_store, tmp_path):
    from merprep.regions import CropConfig, run_crop_au

    path, clip = _store_copy(skipped_store, tmp_path)
    _damage_record(path, clip, au_codes=[{"code": "x"}])
    before = sha(path)
    with pytest.raises(ValueError) as err:
        run_crop_au(path, CropConfig(size=16))
    assert f"while processing {clip}" in err.value.__notes__
    assert sha(path) == before and leftovers(path) == [] and lock_is_free(path)
