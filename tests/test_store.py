"""Clip store v1: round trip, validation of damage, atomic writes, locking, versions."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from merprep.datasets.base import ClipRecord
from merprep.errors import StoreError
from merprep.store import ClipStore, StoreWriter, store_lock, validate_store
from merprep.store.codec import EncodedClip
from merprep.store.schema import SCHEMA_VERSION, load_schema

PROVENANCE = dict(
    datasets=["casme2"],
    command="pytest",
    params={"frames": 4},
    landmark_backend="dlib",
    landmark_backend_version="test",
    frame_height=16,
    frame_width=16,
    channels=3,
    color="rgb",
)


def make_record(subject: str, clip: str, n: int, emotion: str = "happiness") -> dict:
    rec = ClipRecord(
        "casme2",
        subject,
        clip,
        emotion,
        "R12+L15",
        10,
        None,
        10 + n - 1,
        200.0,
        f"CASME2_RAW_selected/{subject}/{clip}",
        "coding.xlsx",
        2,
    ).to_dict()
    rec.update(n_frames=n, frame_numbers=list(range(10, 10 + n)), sampling="uniform")
    return rec


def write_store(path: Path, n_clips: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = {}
    with StoreWriter(path, PROVENANCE) as w:
        for i in range(n_clips):
            n = 3 + i  # clips of different lengths
            rec = make_record(f"sub0{1 + i % 2}", f"EP0{i}_01f", n)
            arr = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
            lm = rng.normal(8, 2, (n, 68, 2)).astype(np.float32)
            w.add_clip(rec, arr, lm)
            frames[rec["clip_id"]] = (arr, lm, rec)
    return frames


def test_round_trip_identical_arrays_and_metadata(tmp_path):
    path = tmp_path / "s.h5"
    written = write_store(path)
    with ClipStore(path) as s:
        assert s.clip_ids == sorted(written)
        for cid, (arr, lm, rec) in written.items():
            np.testing.assert_array_equal(s.frames(cid), arr)
            np.testing.assert_array_equal(s.landmarks(cid), lm)
            assert s.record(cid) == json.loads(json.dumps(rec))
        assert s.schema_version == SCHEMA_VERSION
        assert len(s.fingerprint) == 64
        summary = s.summary()
        assert summary["n_clips"] == 3 and summary["datasets"] == {"casme2": 3}
        assert summary["subjects"] == ["casme2/sub01", "casme2/sub02"]
        # the AU string is kept verbatim and parsed
        rec = s.record(s.clip_ids[0])
        assert rec["aus"] == "R12+L15"
        assert [(c["code"], c["side"]) for c in rec["au_codes"]] == [(12, "R"), (15, "L")]
    assert validate_store(path) == []


def test_storage_policy_chunks_compression_checksums(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path)
    with h5py.File(path, "r") as f:
        ds = f["clips/casme2/sub01/EP00_01f/frames"]
        assert ds.chunks == (1, 16, 16, 3)  # one frame is one chunk read
        assert ds.compression == "gzip" and ds.fletcher32  # compressed and checksummed
        assert f["clips/casme2/sub01/EP00_01f/landmarks"].fletcher32


def test_each_frame_compression_reads_back_through_hdf5(tmp_path):
    """fast (ISA-L), small (zlib) and none all give chunks HDF5's own filters decode and check;
    flat frames shrink under both deflates; none stores the raw bytes plus one checksum each."""
    rng = np.random.default_rng(5)
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    frames[1] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)  # one incompressible frame
    rec = make_record("sub01", "EP00", 3)
    sizes = {}
    for compression in ("fast", "small", "none"):
        path = tmp_path / f"{compression}.h5"
        with StoreWriter(path, {**PROVENANCE, "frame_height": 32, "frame_width": 32}) as w:
            w.add_clip(rec, frames, compression=compression)
        with h5py.File(path, "r") as f:
            ds = f["clips/casme2/sub01/EP00/frames"]
            assert ds.fletcher32
            assert ds.compression == (None if compression == "none" else "gzip")
            sizes[compression] = ds.id.get_storage_size()
        with ClipStore(path) as s:
            np.testing.assert_array_equal(s.frames("casme2/sub01/EP00"), frames)
        assert validate_store(path) == []
    assert sizes["none"] == frames.nbytes + 3 * 4  # raw bytes + one fletcher32 per chunk
    assert sizes["fast"] < frames.nbytes * 0.5 and sizes["small"] < frames.nbytes * 0.5
    with pytest.raises(ValueError, match="frame compression must be one of"):
        EncodedClip.encode(rec, frames, compression="lz4")


def test_fingerprint_is_deterministic_and_content_sensitive(tmp_path):
    write_store(tmp_path / "a.h5", seed=1)
    write_store(tmp_path / "b.h5", seed=1)
    write_store(tmp_path / "c.h5", seed=2)
    fp = {n: ClipStore(tmp_path / f"{n}.h5").fingerprint for n in "abc"}
    assert fp["a"] == fp["b"] != fp["c"]


def _frame_chunk_offset(path: Path) -> int:
    with h5py.File(path, "r") as f:
        ds = f["clips/casme2/sub01/EP00_01f/frames"]
        return ds.id.get_chunk_info(0).byte_offset


def test_validate_catches_a_flipped_byte_in_a_frame_chunk(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path)
    offset = _frame_chunk_offset(path)
    with open(path, "r+b") as fh:
        fh.seek(offset + 5)
        b = fh.read(1)
        fh.seek(offset + 5)
        fh.write(bytes([b[0] ^ 0xFF]))
    problems = validate_store(path)
    assert problems, "a flipped byte must be reported"
    text = " ".join(str(p) for p in problems)
    assert "casme2/sub01/EP00_01f" in text and "damaged" in text
    with ClipStore(path) as s, pytest.raises(StoreError, match="damaged"):
        s.frames("casme2/sub01/EP00_01f")


def test_validate_catches_a_missing_attribute(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path)
    with h5py.File(path, "r+") as f:
        del f.attrs["landmark_backend"]
    problems = validate_store(path)
    assert any("landmark_backend" in str(p) for p in problems)


def test_validate_catches_an_edited_record(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path)
    with h5py.File(path, "r+") as f:
        g = f["clips/casme2/sub02/EP01_01f"]
        rec = json.loads(g.attrs["record"])
        rec["emotion"] = "surprise"
        g.attrs["record"] = json.dumps(rec)
    problems = validate_store(path)
    assert any("digest" in str(p) and "EP01_01f" in str(p) for p in problems)


def test_newer_major_version_is_refused_older_minor_is_read(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path)
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = "2.0.0"
    with pytest.raises(StoreError, match="newer than this merprep supports"):
        ClipStore(path)
    assert any("newer" in str(p) for p in validate_store(path))
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = "1.0.0"  # older/equal minor reads fine
    with ClipStore(path) as s:
        assert len(s) == 3


def test_not_hdf5_and_missing_files_get_clear_errors(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not an HDF5 file" * 10)
    with pytest.raises(StoreError, match="not a readable HDF5 file"):
        ClipStore(junk)
    with pytest.raises(StoreError, match="no such store"):
        ClipStore(tmp_path / "absent.h5")
    assert validate_store(junk)


def test_writer_rejects_bad_records_and_leaves_no_file(tmp_path):
    path = tmp_path / "s.h5"
    with pytest.raises(StoreError, match="schema"):
        with StoreWriter(path, PROVENANCE) as w:
            rec = make_record("sub01", "EP01", 2)
            del rec["onset"]
            w.add_clip(rec, np.zeros((2, 16, 16, 3), np.uint8))
    assert not path.exists()
    assert not list(tmp_path.glob(".s.h5.tmp-*"))


KILL_SCRIPT = textwrap.dedent("""
    import sys, time, numpy as np
    sys.path.insert(0, {tests!r})
    from test_store import PROVENANCE, make_record
    from merprep.store import StoreWriter
    with StoreWriter({path!r}, PROVENANCE) as w:
        for i in range(10_000):
            rec = make_record("sub01", f"EP{{i:05d}}", 2)
            w.add_clip(rec, np.zeros((2, 16, 16, 3), np.uint8))
            if i == 20:
                print("writing", flush=True)
            time.sleep(0.01)
""")


@pytest.mark.parametrize("existing", [False, True])
def test_write_killed_midway_leaves_target_absent_or_unchanged(tmp_path, existing):
    path = tmp_path / "s.h5"
    before = None
    if existing:
        write_store(path)
        before = path.read_bytes()
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if existing:
        assert path.read_bytes() == before
        assert validate_store(path) == []
    else:
        assert not path.exists()


def test_lock_refuses_a_second_writer(tmp_path):
    path = tmp_path / "s.h5"
    code = (
        "import sys, time; from merprep.store import store_lock\n"
        f"with store_lock({str(path)!r}):\n    print('locked', flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=f"pid {proc.pid}"):
            with store_lock(path):
                pass
    finally:
        proc.kill()
        proc.wait()
    with store_lock(path):  # released when the holder dies
        pass
    assert not (tmp_path / "s.h5.lock").exists()


def test_packaged_schema_is_the_top_level_schema():
    top = json.loads((Path(__file__).parents[1] / "schemas" / "clipstore-v1.json").read_text())
    assert load_schema() == top


def test_worker_encoded_chunks_are_the_bytes_hdf5_writes(tmp_path):
    """Workers compress frames themselves (codec.encode_chunk); the chunks must equal what
    HDF5's deflate + fletcher32 filters store, for noisy, flat and odd-sized frames."""
    from merprep.store.codec import encode_chunk

    rng = np.random.default_rng(3)
    frames = [
        rng.integers(0, 256, (37, 53, 3), dtype=np.uint8),  # incompressible, odd sizes
        np.full((64, 64, 1), 255, np.uint8),  # highly compressible
        (rng.integers(0, 4, (31, 29, 3)) * 60).astype(np.uint8),
    ]
    for i, frame in enumerate(frames):
        clip = np.stack([frame, frame[::-1].copy()])
        for level in (0, 1, 6):
            deflate = {"compression": "gzip", "compression_opts": level} if level else {}
            with h5py.File(tmp_path / f"{i}_{level}.h5", "w") as f:
                ds = f.create_dataset(
                    "x", data=clip, chunks=(1,) + frame.shape, fletcher32=True, **deflate
                )
                for t in range(2):
                    _, stored = ds.id.read_direct_chunk((t, 0, 0, 0))
                    assert encode_chunk(clip[t], level) == stored


def test_store_written_from_encoded_chunks_reads_back_and_detects_damage(tmp_path):
    path = tmp_path / "s.h5"
    written = write_store(path, n_clips=2)
    with ClipStore(path) as s:
        for cid, (arr, _, _) in written.items():
            np.testing.assert_array_equal(s.frames(cid), arr)  # HDF5 decodes our chunks
    assert validate_store(path) == []


def test_cli_validate_json_lists_every_problem_with_its_fields(tmp_path, cli_runner):
    from merprep.cli import cli

    path = tmp_path / "s.h5"
    write_store(path)
    res = cli_runner.invoke(cli, ["validate", str(path), "--json"])
    assert res.exit_code == 0 and json.loads(res.output) == []
    offset = _frame_chunk_offset(path)
    with open(path, "r+b") as fh:  # damage one frame chunk of one clip
        fh.seek(offset + 5)
        b = fh.read(1)
        fh.seek(offset + 5)
        fh.write(bytes([b[0] ^ 0xFF]))
    expected = validate_store(path)
    res = cli_runner.invoke(cli, ["validate", str(path), "--json"])
    assert res.exit_code == 1  # as without --json
    problems = json.loads(res.output)
    assert isinstance(problems, list) and len(problems) == len(expected) > 0
    for got, want in zip(problems, expected):
        assert set(got) == {"file", "row", "clip_id", "message"}
        assert got == {
            "file": want.file,
            "row": want.row,
            "clip_id": want.clip_id,
            "message": want.message,
        }
    assert any(
        p["clip_id"] == "casme2/sub01/EP00_01f" and "damaged" in p["message"] for p in problems
    )
    assert all(p["file"] == str(path) for p in problems)
    text = cli_runner.invoke(cli, ["validate", str(path)])
    assert text.exit_code == 1 and f"{len(expected)} problem(s)" in text.output


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_stores_and_stage_commits_follow_the_umask(tmp_path, umask):
    """Issue 17 item 8: stores were always 0600 whatever the umask (mkstemp's mode), so
    colleagues on a shared cluster could not read them; a stage commit keeps the rule."""
    import os
    import stat

    from merprep.store import modify_store, store_lock

    old = os.umask(umask)
    try:
        path = tmp_path / "s.h5"
        write_store(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
        with store_lock(path, must_exist=True), modify_store(path, "magnify", "pytest", {}) as w:
            with ClipStore(path) as store:
                for cid in store.clip_ids:
                    w.write(cid, "magnified/frames", store.frames(cid))
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    finally:
        os.umask(old)
