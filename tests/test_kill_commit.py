"""Killed AT the commit: a store commit, a stage commit, a run-directory file and a weights
file, each SIGKILLed in a child process the moment its target path changes on disk, leave the
old file or the whole new one, never a torn one (merprep.fsio.commit_file and its callers).

How the kill lands: the child installs an audit hook (``sys.addaudithook``) that fires on the
first operation that writes the target (an ``open`` for writing, ``os.replace``/``os.rename``
onto it, ``shutil.copyfile`` onto it, its removal). There the child stops, caps the size of
any file it writes from then on at 1 MiB (``RLIMIT_FSIZE``) and tells the test, which notes
the target's inode, size and mtime, lets it go on and SIGKILLs it at the first change it sees.
An atomic rename changes the target in one step and writes no data, so the kill comes right
after it; a copy-based commit (or a plain write) of the several-MB targets here truncates the
target and is then cut short by the cap or the kill, whichever comes first: half written.
Issue 16: with commit_file done as copy-then-unlink every test here fails (a 0-byte store, a
truncated run file, an unreadable weights archive), and the old store is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from merprep.store import ClipStore, validate_store

TESTS = Path(__file__).parent

HOOK = textwrap.dedent(
    """
    import os, resource, sys

    TARGET = os.path.abspath(sys.argv[1])
    WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    ARMED = [False]
    FIRED = [False]

    def same(path):
        return isinstance(path, (str, bytes, os.PathLike)) and (
            os.path.abspath(os.fsdecode(path)) == TARGET
        )

    def touches(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITES
            )
            return bool(writes) and same(path)
        if event in ("os.replace", "os.rename", "shutil.copyfile", "shutil.move", "os.link"):
            return same(args[1])
        if event in ("os.remove", "os.unlink", "os.truncate"):
            return same(args[0])
        return False

    def hook(event, args):
        if not ARMED[0] or FIRED[0] or not touches(event, args):
            return
        FIRED[0] = True
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
        os.write(1, f"commit {event}\\n".encode())
        os.read(0, 1)  # the parent watches the target from now on, then lets us go on

    sys.addaudithook(hook)
    sys.path.insert(0, sys.argv[2])
    """
)
#: what the child does once its commit is done: wait to be killed
TAIL = "\nimport time\nprint('committed', flush=True)\ntime.sleep(120)\n"


def target_state(path: Path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def run_child(body: str, target: Path, *args: str, timeout: float = 180) -> Child:
    """Run HOOK + ``body`` (which sets ``ARMED[0] = True`` before its commit) in a child; at
    the first operation writing ``target`` the child stops in the hook, limits the size of
    any file it writes from then on to 1 MiB (RLIMIT_FSIZE; the rename of a finished file
    writes nothing) and tells us; we note the target's state, let it go on and SIGKILL it at
    the first change we see. A copy-based commit (or a plain write) of the several-MB targets
    here therefore never completes, however the machine schedules us."""
    script = HOOK + textwrap.dedent(body) + TAIL
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(target), str(TESTS), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while not (lines and lines[-1].startswith("commit ")):
            line = proc.stdout.readline().decode()
            assert line and time.monotonic() < deadline, (lines, proc.stderr.read()[-3000:])
            lines.append(line.strip())
        before = target_state(target)
        proc.stdin.write(b"g")
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while target_state(target) == before and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    return Child(proc.returncode, lines + proc.stdout.read().decode().splitlines(),
                 proc.stderr.read().decode())  # fmt: skip


@dataclass
class Child:
    returncode: int
    lines: list[str]
    stderr: str

    def was_killed_after_its_commit(self) -> None:
        """Checked after the files: with a non-atomic commit the child may also have died of
        the write limit (EFBIG) first; what is on disk is the point."""
        assert self.returncode == -signal.SIGKILL, (self.returncode, self.stderr[-3000:])
        assert "Traceback" not in self.stderr, self.stderr[-3000:]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# a store commit (StoreWriter.commit)
# --------------------------------------------------------------------------------------------

STORE_BODY = """
import numpy as np
from test_guarantee_store import PROVENANCE, record
from merprep.store import StoreWriter

def write(path):  # about 8 MB, stored raw so the copy of a copy-based commit takes a while
    rng = np.random.default_rng(1)
    with StoreWriter(path, {**PROVENANCE, "frame_height": 32, "frame_width": 32}) as w:
        for i in range(60):
            frames = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
            w.add_clip(record("sub01", f"EP{i:03d}", 40), frames, compression="none")

if sys.argv[3] == "reference":
    write(TARGET)
    sys.exit(0)
ARMED[0] = True
write(TARGET)
"""


def test_a_store_killed_at_its_commit_is_the_old_or_the_new_store(tmp_path):
    from test_guarantee_store import write

    target = tmp_path / "store.h5"
    write(target)  # the old store: 3 clips
    old = sha(target)
    reference = tmp_path / "reference.h5"  # what the new store must be
    subprocess.run(
        [sys.executable, "-c", HOOK + STORE_BODY, str(reference), str(TESTS), "reference"],
        check=True,
        timeout=120,
    )
    child = run_child(STORE_BODY, target, "new")
    assert target.exists(), "the old store is gone and no new one took its place"
    if sha(target) != old:
        assert validate_store(target) == []
        with ClipStore(target) as new, ClipStore(reference) as ref:
            assert new.fingerprint == ref.fingerprint and len(new) == 60
    child.was_killed_after_its_commit()


# --------------------------------------------------------------------------------------------
# a stage commit (modify_store)
# --------------------------------------------------------------------------------------------

STAGE_BODY = """
import numpy as np
from merprep.store import ClipStore, modify_store, store_lock

rng = np.random.default_rng(0)
ARMED[0] = True
with store_lock(TARGET, must_exist=True), ClipStore(TARGET) as store:
    ids = store.clip_ids
    with modify_store(TARGET, "magnify", "pytest", {"alpha": 1}) as w:
        for cid in ids:  # about 10 MB of noise (deflate cannot shrink it)
            n = 40 * len(store.frames(cid))
            w.write(cid, "magnified/frames", rng.integers(0, 256, (n, 96, 96, 3), np.uint8))
"""


def test_a_stage_killed_at_its_commit_leaves_the_old_store_or_the_new_stage(tmp_path):
    from test_guarantee_store import write

    target = tmp_path / "store.h5"
    written = write(target)
    old = sha(target)
    child = run_child(STAGE_BODY, target)
    assert target.exists()
    if sha(target) != old:
        assert validate_store(target) == []
        with ClipStore(target) as store:
            assert set(store.stages) == {"magnify"}
            for cid, (_, frames, _) in written.items():
                np.testing.assert_array_equal(store.frames(cid), frames)
                shape = store.array(cid, "magnified/frames").shape
                assert shape == (40 * len(frames), 96, 96, 3)
    child.was_killed_after_its_commit()


# --------------------------------------------------------------------------------------------
# a run-directory file (mertrain.rundir.write_text: config, splits, fold records, results)
# --------------------------------------------------------------------------------------------

RUNDIR_BODY = """
import json
from mertrain.rundir import write_text

new = json.dumps({"rows": [[i, i * 0.5, "casme2/sub01/EP%05d" % i] for i in range(400000)]})
ARMED[0] = True
write_text(TARGET, new + "\\n")
"""


def test_a_run_directory_file_killed_at_its_commit_is_the_old_or_the_new_file(tmp_path):
    target = tmp_path / "run" / "results.json"
    target.parent.mkdir()
    old = json.dumps({"rows": "the previous results"}) + "\n"
    target.write_text(old)
    child = run_child(RUNDIR_BODY, target)
    text = target.read_text()
    if text != old:
        rows = json.loads(text)["rows"]  # whole: parses, and holds every row
        assert len(rows) == 400000 and rows[-1][2] == "casme2/sub01/EP399999"
    child.was_killed_after_its_commit()


# --------------------------------------------------------------------------------------------
# a weights file (mertrain.weights.write_model_folder: model.keras, then preprocessing.json)
# --------------------------------------------------------------------------------------------

WEIGHTS_BODY = """
import hashlib
from pathlib import Path
from mertrain.backend import keras
from mertrain.weights import save_keras_model, write_model_folder

folder = Path(TARGET).parent

def model(seed):
    keras.utils.set_random_seed(seed)
    x = keras.Input((512,), name="face")
    return keras.Model(x, keras.layers.Dense(3)(keras.layers.Dense(4096)(x)))  # 8 MB

write_model_folder(folder, "keras", save_keras_model(model(0)), {"fold": "old"})
print("old", hashlib.sha256(Path(TARGET).read_bytes()).hexdigest(), flush=True)
new = model(1)
ARMED[0] = True
write_model_folder(folder, "keras", save_keras_model(new), {"fold": "new"})
"""


@pytest.mark.slow
def test_a_weights_file_killed_at_its_commit_is_the_old_or_the_new_model(tmp_path):
    target = tmp_path / "weights" / "000" / "model.keras"
    child = run_child(WEIGHTS_BODY, target, timeout=240)
    old = next(line.split()[1] for line in child.lines if line.startswith("old "))
    assert target.exists()
    if sha(target) != old:
        with zipfile.ZipFile(target) as archive:  # a whole archive: every member's CRC checks
            assert archive.testzip() is None
            assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
    # the record is removed before the model is replaced and written after it: never a record
    # beside a model it does not describe
    assert not (target.parent / "preprocessing.json").exists()
    child.was_killed_after_its_commit()
