"""Store guarantees a reviewer breaks on purpose (issue 16): the fingerprints and digests follow
their documented formula and `merprep validate` notices every consistent-looking edit: a clip
removed with its index entry and count, a clip rewritten with its own digest fixed up, a stage
array rewritten after its stage was recorded; and each other inconsistency is named exactly,
once. Tiny stores written here with :class:`StoreWriter`; no dataset, no subprocess.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from merprep import stages
from merprep.errors import StoreError
from merprep.store import ClipStore, StoreWriter, modify_store, store_lock, validate_store

PROVENANCE = {
    "datasets": ["casme2"],
    "command": "pytest",
    "params": {"frames": 3},
    "landmark_backend": "dlib",
    "landmark_backend_version": "test",
    "frame_height": 8,
    "frame_width": 8,
    "channels": 3,
    "color": "rgb",
}
SHAPE = (8, 8, 3)


def record(subject: str, clip: str, n: int) -> dict:
    return {
        "clip_id": f"casme2/{subject}/{clip}",
        "dataset": "casme2",
        "subject": subject,
        "subject_id": f"casme2/{subject}",
        "clip": clip,
        "emotion": "happiness",
        "aus": "12",
        "au_codes": [{"code": 12, "side": None, "intensity": None, "uncertain": False}],
        "au_unparsed": [],
        "onset": 1,
        "apex": None,
        "offset": n,
        "fps": 200.0,
        "source": f"CASME2_RAW_selected/{subject}/{clip}",
        "annotation": {"file": "coding.xlsx", "row": 2},
        "extra": {},
        "n_frames": n,
        "frame_numbers": list(range(1, n + 1)),
        "sampling": "uniform",
    }


CLIPS = [("sub02", "EP01", 3), ("sub01", "EP02", 2), ("sub01", "EP01", 4)]  # added unsorted


def write(path: Path, seed: int = 0, compression: str = "fast") -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    written = {}
    with StoreWriter(path, PROVENANCE) as w:
        for subject, clip, n in CLIPS:
            rec = record(subject, clip, n)
            frames = rng.integers(0, 256, (n, *SHAPE), dtype=np.uint8)
            lm = rng.normal(4, 1, (n, 68, 2)).astype(np.float32)
            w.add_clip(rec, frames, lm, compression=compression)
            written[rec["clip_id"]] = (rec, frames, lm)
    return written


def problems(path: Path) -> list[str]:
    return sorted(f"{p.clip_id or '-'}: {p.message}" for p in validate_store(path))


# --------------------------------------------------------------------------------------------
# the documented formulas, computed here independently
# --------------------------------------------------------------------------------------------


def spec_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def spec_array(h, name: str, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(arr)
    h.update(f"{name}|{arr.dtype.str}|{arr.shape}".encode())
    h.update(arr.tobytes())


def spec_clip_digest(rec: dict, frames: np.ndarray, landmarks: np.ndarray) -> str:
    """sha256 over the canonical record, then each base array (name order): name|dtype|shape
    and the bytes (docs/clipstore.md)."""
    h = hashlib.sha256(spec_json(rec))
    spec_array(h, "frames", frames)
    spec_array(h, "landmarks", landmarks)
    return h.hexdigest()


def spec_combined(pairs) -> str:
    h = hashlib.sha256()
    for cid, digest in pairs:
        h.update(f"{cid}\t{digest}\n".encode())
    return h.hexdigest()


@pytest.mark.parametrize("compression", ["fast", "none"])
def test_digests_and_fingerprint_follow_the_documented_formula(tmp_path, compression):
    path = tmp_path / "s.h5"
    written = write(path, compression=compression)
    ids = sorted(written)
    with ClipStore(path) as s, h5py.File(path, "r") as f:
        assert s.clip_ids == ids  # sorted at commit, whatever the order of adding
        digests = {cid: spec_clip_digest(*written[cid]) for cid in ids}
        for cid in ids:
            assert f[f"clips/{cid}"].attrs["digest"] == digests[cid]
            assert json.loads(f[f"clips/{cid}"].attrs["record"]) == written[cid][0]
            np.testing.assert_array_equal(s.frames(cid), written[cid][1])
        assert s.fingerprint == spec_combined((cid, digests[cid]) for cid in ids)
        assert s.attrs["n_clips"] == 3 and s.attrs["n_skipped"] == 0
    assert validate_store(path) == []
    # the same content gives the same fingerprint; one pixel more gives another
    write(tmp_path / "again.h5", compression=compression)
    assert ClipStore(tmp_path / "again.h5").fingerprint == ClipStore(path).fingerprint
    assert (
        ClipStore(tmp_path / "again.h5").fingerprint != ClipStore(write_other(tmp_path)).fingerprint
    )


def write_other(tmp_path: Path) -> Path:
    path = tmp_path / "other.h5"
    write(path, seed=1)
    return path


# --------------------------------------------------------------------------------------------
# consistent-looking edits validate must still notice
# --------------------------------------------------------------------------------------------


def _rewrite_index(f: h5py.File, ids: list[str]) -> None:
    del f["index"]
    f.create_dataset("index", data=np.array(ids, dtype=object), dtype=h5py.string_dtype("utf-8"))


def test_a_clip_removed_with_its_index_entry_and_count_breaks_the_fingerprint(tmp_path):
    """Issue 16: with the fingerprint comparison disabled this store validated clean."""
    path = tmp_path / "s.h5"
    write(path)
    with h5py.File(path, "r+") as f:
        del f["clips/casme2/sub01/EP02"]
        _rewrite_index(f, ["casme2/sub01/EP01", "casme2/sub02/EP01"])
        f.attrs["n_clips"] = 2
    assert problems(path) == ["-: store fingerprint does not match its content"]


def test_a_clip_rewritten_with_its_digest_fixed_up_breaks_the_fingerprint(tmp_path):
    path = tmp_path / "s.h5"
    written = write(path)
    cid = "casme2/sub02/EP01"
    rec, frames, lm = written[cid]
    frames = frames.copy()
    frames[0, 0, 0, 0] ^= 1
    with h5py.File(path, "r+") as f:
        g = f[f"clips/{cid}"]
        del g["frames"]
        g.create_dataset("frames", data=frames, chunks=(1, *SHAPE), fletcher32=True)
        g.attrs["digest"] = spec_clip_digest(rec, frames, lm)
    assert problems(path) == ["-: store fingerprint does not match its content"]


def test_two_clips_swapping_places_break_the_fingerprint(tmp_path):
    """The fingerprint covers which clip holds which content, not only the set of digests."""
    path = tmp_path / "s.h5"
    write(path)
    a, b = "casme2/sub01/EP01", "casme2/sub02/EP01"
    with h5py.File(path, "r+") as f:
        ga, gb = f[f"clips/{a}"], f[f"clips/{b}"]
        fa, fb = ga["frames"][()], gb["frames"][()]
        la, lb = ga["landmarks"][()], gb["landmarks"][()]
        ra, rb = json.loads(ga.attrs["record"]), json.loads(gb.attrs["record"])
        for g, fr, lm, rec in ((ga, fb, lb, rb), (gb, fa, la, ra)):
            for name, arr in (("frames", fr), ("landmarks", lm)):
                del g[name]
                g.create_dataset(name, data=arr)
            rec = {**rec, "clip_id": g.name.removeprefix("/clips/")}
            g.attrs["record"] = json.dumps(rec)
            g.attrs["digest"] = spec_clip_digest(rec, fr, lm)
    assert problems(path) == ["-: store fingerprint does not match its content"]


def _flow_stage(path: Path, scale: float = 1.0, sequence: bool = False) -> dict[str, np.ndarray]:
    """A flow-like stage written through modify_store, as `merprep flow` writes one."""
    arrays = {}
    with store_lock(path, must_exist=True), ClipStore(path) as store:
        ids = store.clip_ids
        with modify_store(path, stages.FLOW.name, "pytest", {"size": 4}) as w:
            for i, cid in enumerate(ids):
                arr = np.full((4, 4, 3), scale * (i + 1), np.float32)
                w.write(cid, stages.FLOW_ONSET_APEX, arr)
                if sequence:
                    w.write(cid, stages.FLOW_SEQUENCE, np.stack([arr + k for k in range(3)]))
                w.set_clip_info(cid, {"apex_index": i})
                arrays[cid] = arr
    return arrays


def spec_stage_fingerprint(path: Path, stage: str) -> str:
    pairs = []
    with h5py.File(path, "r") as f:
        info = json.loads(f.attrs["stages"])[stage]
        for cid in (s.decode() if isinstance(s, bytes) else s for s in f["index"][()]):
            g = f[f"clips/{cid}"]
            h = hashlib.sha256()
            for name in sorted(info["arrays"]):
                spec_array(h, name, g[name][()])
            h.update(str(g.attrs[f"stage:{stage}"]).encode())
            pairs.append((cid, h.hexdigest()))
    return spec_combined(pairs)


def test_stage_fingerprint_follows_the_documented_formula(tmp_path):
    path = tmp_path / "s.h5"
    write(path)
    _flow_stage(path)
    with ClipStore(path) as s:
        info = s.stages["flow"]
        assert info["arrays"] == [stages.FLOW_ONSET_APEX] and info["params"] == {"size": 4}
        assert info["command"] == "pytest" and info["created"] and info["merprep_version"]
        assert info["fingerprint"] == spec_stage_fingerprint(path, "flow")
        assert s.stage_info("casme2/sub02/EP01", "flow") == {"apex_index": 2}
    assert validate_store(path) == []
    _flow_stage(path, scale=2.0)  # a different stage content, a different fingerprint
    with ClipStore(path) as s:
        assert s.stages["flow"]["fingerprint"] == spec_stage_fingerprint(path, "flow")
        assert s.stages["flow"]["fingerprint"] != info["fingerprint"]
        assert s.fingerprint == ClipStore(write_plain(tmp_path)).fingerprint  # base untouched


def write_plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.h5"
    write(path)
    return path


def _rewrite_flow(path: Path, cid: str) -> None:
    with h5py.File(path, "r+") as f:
        g = f[f"clips/{cid}"]
        arr = g[stages.FLOW_ONSET_APEX][()]
        del g[stages.FLOW_ONSET_APEX]
        g.create_dataset(stages.FLOW_ONSET_APEX, data=arr[::-1] * 0.5)


def _edit_stage_info(path: Path, cid: str) -> None:
    with h5py.File(path, "r+") as f:
        f[f"clips/{cid}"].attrs["stage:flow"] = json.dumps({"apex_index": 7})


def _drop_flow(path: Path, cid: str) -> None:
    with h5py.File(path, "r+") as f:
        del f[f"clips/{cid}/{stages.FLOW_ONSET_APEX}"]


STAGE_DAMAGE = {
    "flow array rewritten": (
        _rewrite_flow,
        ["-: stage 'flow': fingerprint does not match its arrays"],
    ),
    "stage info edited": (
        _edit_stage_info,
        ["-: stage 'flow': fingerprint does not match its arrays"],
    ),
    "flow array deleted": (
        _drop_flow,
        [
            "-: stage 'flow': fingerprint does not match its arrays",
            "casme2/sub01/EP02: stage 'flow': array 'flow/onset_apex' missing",
        ],
    ),
}


def _drop_one_damage_other(path: Path, cid: str) -> None:
    """The first of two stage arrays deleted, the second's chunk damaged: both are named."""
    with h5py.File(path, "r") as f:
        offset = f[f"clips/{cid}/{stages.FLOW_SEQUENCE}"].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + 3)
        b = fh.read(1)
        fh.seek(offset + 3)
        fh.write(bytes([b[0] ^ 0xFF]))
    _drop_flow(path, cid)


def _stage_without_array_list(path: Path, cid: str) -> None:
    with h5py.File(path, "r+") as f:
        recorded = json.loads(f.attrs["stages"])
        del recorded["flow"]["arrays"]
        f.attrs["stages"] = json.dumps(recorded)


STAGE_DAMAGE["an array deleted, another damaged"] = (
    _drop_one_damage_other,
    [
        "-: stage 'flow': fingerprint does not match its arrays",
        "casme2/sub01/EP02: stage 'flow': array 'flow/onset_apex' missing",
        "casme2/sub01/EP02: stage 'flow': array 'flow/sequence' is damaged",
    ],
)
STAGE_DAMAGE["the stage's array list deleted"] = (
    _stage_without_array_list,
    [
        "-: root attributes: stages/flow: 'arrays' is a required property",
        "-: stage 'flow': fingerprint does not match its arrays",
    ],
)


@pytest.mark.parametrize("damage", list(STAGE_DAMAGE))
def test_a_stage_array_changed_after_its_stage_was_recorded_is_reported(tmp_path, damage):
    """Issue 16: with the stage fingerprint check disabled a rewritten flow array went
    unnoticed; the base arrays and the store fingerprint are untouched by such an edit."""
    path = tmp_path / "s.h5"
    write(path)
    _flow_stage(path, sequence=True)
    assert validate_store(path) == []
    hurt, expected = STAGE_DAMAGE[damage]
    hurt(path, "casme2/sub01/EP02")
    found = problems(path)
    assert [p.split(" (")[0] for p in found] == expected  # (the HDF5 reason of a damage)
    assert all(p.file == str(path) for p in validate_store(path))
    structural = [f"-: {p.message}" for p in validate_store(path, check_data=False)]
    assert structural == [e for e in expected if e.startswith("-: root")]  # reads no data


# --------------------------------------------------------------------------------------------
# every other inconsistency, named once with its clip
# --------------------------------------------------------------------------------------------

A, B = "casme2/sub01/EP01", "casme2/sub01/EP02"


def _index(ids):
    def edit(f):
        _rewrite_index(f, ids)

    return edit


def _attr(group, key, value):
    def edit(f):
        if value is None:
            del f[group].attrs[key]
        else:
            f[group].attrs[key] = value

    return edit


def _record_field(cid, **changes):
    def edit(f):
        g = f[f"clips/{cid}"]
        rec = {**json.loads(g.attrs["record"]), **changes}
        g.attrs["record"] = json.dumps(rec)

    return edit


def _replace_array(cid, name, arr):
    def edit(f):
        g = f[f"clips/{cid}"]
        del g[name]
        g.create_dataset(name, data=arr)

    return edit


def _delete(path_in_file):
    def edit(f):
        del f[path_in_file]

    return edit


def _extra_group(f):
    g = f.create_group("clips/casme2/sub09/EP09")
    g.attrs["record"] = "{}"


DIGEST = "content digest mismatch: frames, landmarks or record changed after writing"
#: a clip whose content changed also changes the recomputed store fingerprint
FP = "-: store fingerprint does not match its content"
INCONSISTENCIES = {
    "index not sorted": (
        _index([B, A, "casme2/sub02/EP01"]),
        ["-: index is not sorted", "-: store fingerprint does not match its content"],
    ),
    "index lists a clip twice": (
        _index([A, A, B, "casme2/sub02/EP01"]),
        [
            "-: index lists a clip id twice",
            "-: n_clips says 3 but the index lists 4",
            "-: store fingerprint does not match its content",
        ],
    ),
    "group not in the index": (
        _extra_group,
        ["casme2/sub09/EP09: clip group not listed in the index"],
    ),
    "n_clips wrong": (_attr("/", "n_clips", 4), ["-: n_clips says 4 but the index lists 3"]),
    "group listed but missing": (
        _delete(f"clips/{B}"),
        [f"{B}: listed in the index but its group is missing"],
    ),
    "record attribute missing": (
        _attr(f"clips/{B}", "record", None),
        [f"{B}: missing record attribute"],
    ),
    "record not JSON": (
        _attr(f"clips/{B}", "record", "{not json"),
        [f"{B}: record attribute is not valid JSON"],
    ),
    "record names another clip": (
        _record_field(B, clip_id=A),
        [f"{B}: {DIGEST}", f"{B}: record says clip_id {A!r}", FP],
    ),
    "record frame count wrong": (
        _record_field(B, n_frames=5),
        [f"{B}: {DIGEST}", f"{B}: record says 5 frames, array holds 2", FP],
    ),
    "landmarks missing": (_delete(f"clips/{B}/landmarks"), [f"{B}: missing array(s): landmarks"]),
    "frames of another size": (
        _replace_array(B, "frames", np.zeros((2, 8, 9, 3), np.uint8)),
        [f"{B}: {DIGEST}", f"{B}: frames are (8, 9, 3), store says (8, 8, 3)", FP],
    ),
    "frames not uint8": (
        _replace_array(B, "frames", np.zeros((2, 8, 8, 3), np.float32)),
        [f"{B}: {DIGEST}", f"{B}: frames must be uint8 (T,H,W,C), found float32 (2, 8, 8, 3)", FP],
    ),
    "landmarks of another shape": (
        _replace_array(B, "landmarks", np.zeros((2, 5, 2), np.float32)),
        [f"{B}: {DIGEST}", f"{B}: landmarks shape (2, 5, 2), expected (2, 68, 2)", FP],
    ),
    "digest edited": (_attr(f"clips/{B}", "digest", "0" * 64), [f"{B}: {DIGEST}"]),
    "both arrays missing": (
        lambda f: (_delete(f"clips/{B}/frames")(f), _delete(f"clips/{B}/landmarks")(f)),
        [f"{B}: missing array(s): frames, landmarks"],
    ),
    "frames without a channel axis": (
        _replace_array(B, "frames", np.zeros((2, 8, 8), np.uint8)),
        [
            f"{B}: frames must be uint8 (T,H,W,C), found uint8 (2, 8, 8)",
            f"{B}: landmarks shape (2, 68, 2), expected (-1, 68, 2)",
            f"{B}: record says 2 frames, array holds -1",
            f"{B}: {DIGEST}",
            FP,
        ],
    ),
    "record failing the schema": (
        _record_field(B, onset="x"),
        [f"{B}: {DIGEST}", f"{B}: record: onset: 'x' is not of type 'integer'", FP],
    ),
}


@pytest.mark.parametrize("case", list(INCONSISTENCIES))
def test_validate_names_each_inconsistency_once(tmp_path, case):
    path = tmp_path / "s.h5"
    write(path)
    edit, expected = INCONSISTENCIES[case]
    with h5py.File(path, "r+") as f:
        edit(f)
    assert problems(path) == sorted(expected)
    assert all(p.file == str(path) for p in validate_store(path))


def test_validate_without_data_checks_structure_only(tmp_path):
    path = tmp_path / "s.h5"
    write(path)
    with h5py.File(path, "r+") as f:
        _attr(f"clips/{B}", "digest", "0" * 64)(f)
        f.attrs["fingerprint"] = "f" * 64
    assert validate_store(path, check_data=False) == []
    assert len(validate_store(path)) == 2


# --------------------------------------------------------------------------------------------
# the writer refuses what would make an inconsistent store, and leaves nothing behind
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frames, rec_changes, match",
    [
        (np.zeros((2, 8, 8, 3), np.float32), {}, "frames must be uint8"),
        (np.zeros((2, 8, 8), np.uint8), {}, "frames must be uint8"),
        (np.zeros((3, 8, 8, 3), np.uint8), {}, "n_frames/frame_numbers disagree with 3 frames"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"frame_numbers": [1]}, "n_frames/frame_numbers"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"onset": "x"}, "record does not match the schema"),
    ],
)
def test_writer_refuses_an_inconsistent_clip_and_writes_nothing(
    tmp_path, frames, rec_changes, match
):
    path = tmp_path / "s.h5"
    with pytest.raises(StoreError, match=match):
        with StoreWriter(path, PROVENANCE) as w:
            w.add_clip({**record("sub01", "EP01", 2), **rec_changes}, frames)
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_a_duplicate_clip_and_bad_provenance(tmp_path):
    path = tmp_path / "s.h5"
    with pytest.raises(StoreError, match="duplicate clip id 'casme2/sub01/EP01'"):
        with StoreWriter(path, PROVENANCE) as w:
            for _ in range(2):
                w.add_clip(record("sub01", "EP01", 2), np.zeros((2, *SHAPE), np.uint8))
    with pytest.raises(StoreError, match="store metadata does not match the schema"):
        with StoreWriter(path, {**PROVENANCE, "frame_height": "tall"}) as w:
            w.add_clip(record("sub01", "EP01", 2), np.zeros((2, *SHAPE), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_skipped_clips_are_recorded_with_their_reasons(tmp_path):
    path = tmp_path / "s.h5"
    with StoreWriter(path, PROVENANCE) as w:
        w.add_clip(record("sub01", "EP01", 2), np.zeros((2, *SHAPE), np.uint8))
        w.skip("casme2/sub01/EP09", "img3.jpg is empty", "coding.xlsx", 7)
        assert w.n_clips == 1
    with ClipStore(path) as s:
        assert s.skipped() == [
            {"clip_id": "casme2/sub01/EP09", "reason": "img3.jpg is empty",
             "file": "coding.xlsx", "row": 7}
        ]  # fmt: skip
        assert s.attrs["n_skipped"] == 1 and s.attrs["n_clips"] == 1
    assert validate_store(path) == []


def test_replacing_a_stage_keeps_only_its_new_arrays_and_the_base_intact(tmp_path):
    path = tmp_path / "s.h5"
    written = write(path)
    _flow_stage(path)
    with store_lock(path, must_exist=True), ClipStore(path) as store:
        ids = store.clip_ids
        with modify_store(path, "flow", "pytest", {"size": 2}) as w:
            for cid in ids:
                w.write(cid, stages.FLOW_SEQUENCE, np.ones((2, 2, 2, 3), np.float32))
    with ClipStore(path) as s:
        assert s.stages["flow"]["arrays"] == [stages.FLOW_SEQUENCE]
        for cid in ids:
            assert stages.FLOW_ONSET_APEX not in s._group(cid)  # the old stage's array went
            assert s.stage_info(cid, "flow") is None  # the old per-clip info went with it
            np.testing.assert_array_equal(s.frames(cid), written[cid][1])
    assert validate_store(path) == []


# --------------------------------------------------------------------------------------------
# the staged-clip format, and a stage that finds no room
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["fast", "small", "none"])
def test_an_encoded_clip_survives_its_staging_format(tmp_path, compression):
    """Workers stage clips as .npz (no pickles); what comes back is what was encoded."""
    from merprep.store.codec import EncodedClip

    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (3, *SHAPE), dtype=np.uint8)
    frames[1] = 7  # chunks of different sizes
    rec = record("sub01", "EP07", 3)
    clip = EncodedClip.encode(rec, frames, compression=compression)
    assert np.isnan(clip.landmarks).all() and clip.landmarks.shape == (3, 68, 2)
    arrays = clip.to_npz_arrays()
    assert sorted(arrays) == sorted(
        ["record", "frames_shape", "chunk_sizes", "chunks", "landmarks", "digest", "compression"]
    )
    np.savez(tmp_path / "c.npz", **arrays)
    with np.load(tmp_path / "c.npz") as z:
        back = EncodedClip.from_npz(z)
    assert back.record == rec and back.frames_shape == (3, *SHAPE)
    assert back.frame_chunks == clip.frame_chunks
    assert (len({len(c) for c in back.frame_chunks}) > 1) == (compression != "none")
    assert back.digest == clip.digest == spec_clip_digest(rec, frames, clip.landmarks)
    assert back.compression == compression
    np.testing.assert_array_equal(back.landmarks, clip.landmarks)
    path = tmp_path / "s.h5"
    with StoreWriter(path, PROVENANCE) as w:
        w.add_encoded(back)
    with ClipStore(path) as s:
        np.testing.assert_array_equal(s.frames(rec["clip_id"]), frames)
    assert validate_store(path) == []


def test_an_encoded_clip_whose_chunks_or_shape_disagree_is_refused(tmp_path):
    """A staged clip with a frame chunk missing, or whose shape is not (T, H, W, C), is refused
    naming the clip, and nothing is committed (each check alone, not only both at once)."""
    import dataclasses

    from merprep.store.codec import EncodedClip

    frames = np.random.default_rng(3).integers(0, 256, (3, *SHAPE), dtype=np.uint8)
    rec = record("sub01", "EP07", 3)
    clip = EncodedClip.encode(rec, frames)
    bad = {
        "a chunk missing": dataclasses.replace(clip, frame_chunks=clip.frame_chunks[:2]),
        "three-dimensional shape": dataclasses.replace(clip, frames_shape=(3, *SHAPE[:2])),
    }
    for what, broken in bad.items():
        path = tmp_path / f"{what}.h5"
        with (
            pytest.raises(StoreError, match="sub01.*encoded frames for shape"),
            StoreWriter(path, PROVENANCE) as w,
        ):
            w.add_encoded(broken)
        assert not path.exists(), what


def test_a_stage_without_room_for_its_copy_is_a_store_error_and_changes_nothing(tmp_path):
    import resource

    path = tmp_path / "s.h5"
    write(path)
    before = path.read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, hard))
    try:
        with pytest.raises(StoreError) as err, store_lock(path, must_exist=True):
            with modify_store(path, "magnify", "pytest", {}):
                pass
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert str(err.value) == (
        f"{path}: cannot write the store with stage 'magnify' (File too large); the store is "
        "unchanged: free space and run the command again"
    )
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_only_a_lack_of_room_becomes_that_message():
    import errno

    from merprep.store.writer import _no_room

    assert _no_room(OSError(errno.ENOSPC, "x")) == "No space left on device"
    assert _no_room(OSError(errno.EFBIG, "x")) == "File too large"
    assert _no_room(OSError(errno.EDQUOT, "x")) == "Disk quota exceeded"
    h5py_text = OSError("Can't write data (file write failed: ..., errno = 28, error message...)")
    assert _no_room(h5py_text) == "No space left on device"
    assert _no_room(OSError(errno.EACCES, "x")) is None
    assert _no_room(OSError("Can't write data (errno = 13)")) is None
    assert _no_room(OSError("something else")) is None


def test_a_store_the_reader_refuses_is_reported_with_its_root_problems(tmp_path):
    path = tmp_path / "s.h5"
    write(path)
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = "9.0.0"
        del f.attrs["color"]
    found = validate_store(path)
    assert [p.message.split(",")[0] for p in found] == [
        "written with clip-store schema 9.0.0",
        "root attributes: (root): 'color' is a required property",
    ]
    assert all(p.file == str(path) for p in found)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not HDF5" * 100)
    (problem,) = validate_store(junk)
    assert problem.file == str(junk) and problem.message.startswith("not a readable HDF5 file")
