"""A full disk on the WRITE itself, not only on the rename: ``RLIMIT_FSIZE`` makes every write
past the limit fail with EFBIG ("File too large") exactly as a full disk fails with ENOSPC,
without root or a tmpfs (Python ignores SIGXFSZ, so the write raises). The limit is set for
this process only around the one command under test.

- a stage (``merprep flow``) whose copy of the store cannot be written: one line naming the
  store, exit 2, the store byte for byte, nothing left beside it;
- a stage whose new arrays cannot be written into that copy (HDF5 writing): the store is kept
  and the next run cleans up, but the process dies in HDF5 (known, see the xfail below);
- fold weights (``mertrain run --save-weights``): one line naming the weights file, exit 2, the
  finished folds and their weights kept, no partial file; ``--resume`` then completes.
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import subprocess
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from merprep.store import store_lock


@contextmanager
def file_size_limit(nbytes: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def beside(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from test_run import write_store

    return write_store(tmp_path_factory.mktemp("full") / "casme2.h5", subjects=2)


FLOW = ["flow", "--method", "farneback", "--size", "12", "--pair", "sequence", "--workers", "1",
        "--no-progress"]  # fmt: skip


def test_a_stage_whose_store_copy_cannot_be_written_is_one_line_and_changes_nothing(
    store, tmp_path, cli_runner
):
    from merprep.cli import cli

    path = tmp_path / "store.h5"
    shutil.copyfile(store, path)
    before = sha(path)
    with file_size_limit(path.stat().st_size // 2):
        res = cli_runner.invoke(cli, [FLOW[0], str(path), *FLOW[1:]])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert (
        f"error: {path}: cannot write the store with stage 'flow' (File too large); the store "
        "is unchanged: free space and run the command again"
    ) in res.output
    assert sha(path) == before and beside(path) == []
    with store_lock(path):  # released
        pass


def _flow_process(path: Path, limit: int) -> subprocess.CompletedProcess:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "merprep.cli", FLOW[0], str(path), *FLOW[1:]],
        capture_output=True, text=True, timeout=120, preexec_fn=cap,
    )  # fmt: skip


def test_a_stage_whose_arrays_cannot_be_written_keeps_the_store(store, tmp_path):
    """The copy fits, the flow arrays do not: HDF5 fails writing the temporary copy. The store
    is untouched, and the next writer removes the temporary file the failed run left."""
    path = tmp_path / "store.h5"
    shutil.copyfile(store, path)
    before = sha(path)
    proc = _flow_process(path, path.stat().st_size + 4096)
    assert proc.returncode != 0
    assert sha(path) == before
    from merprep.flow import FlowConfig, run_flow

    run_flow(path, FlowConfig(method="farneback", size=12, pair="sequence", workers=1))
    assert beside(path) == []  # the temporary copy of the failed run is gone


@pytest.mark.xfail(
    strict=True,
    reason="known: when HDF5 itself cannot write (disk full), h5py reports it from a "
    "deallocator and the process dies with SIGSEGV instead of one error line (the store is "
    "kept, see the test above); mertrain avoided it for weights by writing .keras archives",
)
def test_a_stage_whose_arrays_cannot_be_written_is_one_line(store, tmp_path):
    path = tmp_path / "store.h5"
    shutil.copyfile(store, path)
    proc = _flow_process(path, path.stat().st_size + 4096)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_weights_that_cannot_be_written_stop_the_run_and_resume_completes(
    store, tmp_path, cli_runner
):
    from mertrain.cli import cli
    from mertrain.train import RunConfig, run

    out = tmp_path / "run"
    options = dict(stores=[str(store)], out=str(out), model="stcnn-3dcnn", epochs=1,
                   model_options={"size": 32}, save_weights=True)  # fmt: skip
    run(RunConfig.from_options(folds="0", **options), progress=False)
    fold0 = (out / "folds" / "000.json").read_bytes()
    weights0 = sha(out / "weights" / "000" / "model.keras")
    assert (out / "weights" / "000" / "model.keras").stat().st_size > 1 << 20
    args = ["run", str(store), "--model", "stcnn-3dcnn", "--set", "size=32", "--epochs", "1",
            "--out", str(out), "--save-weights", "--resume", "--no-progress"]  # fmt: skip
    with file_size_limit(1 << 20):  # the fold records fit, a model (about 2.8 MB) does not
        res = cli_runner.invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    weights1 = out / "weights" / "001" / "model.keras"
    assert (
        f"error: {weights1}: cannot write the fold's weights (File too large); the folds "
        "finished before are kept: free space and rerun with --resume"
    ) in res.output
    assert (out / "folds" / "000.json").read_bytes() == fold0
    assert sha(out / "weights" / "000" / "model.keras") == weights0
    assert not (out / "folds" / "001.json").exists()
    assert sorted(p.name for p in (out / "weights").iterdir()) == ["000"]  # no partial 001/
    assert not [p for p in out.rglob("*") if ".partial" in p.name or ".tmp" in p.name]
    result = run(RunConfig.from_options(resume=True, **options), progress=False)
    assert result.complete and result.ran == [1]
    for index in ("000", "001"):
        with zipfile.ZipFile(out / "weights" / index / "model.keras") as archive:
            assert archive.testzip() is None
