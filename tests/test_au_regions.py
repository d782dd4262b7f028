"""merprep crop-au: the reference AU rule table, boxes, crops, rules files and store behaviour."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from merprep.regions import (
    DEFAULT_RULES,
    CropConfig,
    RulesError,
    choose,
    crop_clip,
    load_rules,
    points_box,
    run_crop_au,
)
from merprep.store import ClipStore, validate_store

# The reference table, written out again here (not imported) so the test checks the code
# against docs/references.md#model-b rather than against itself.
REFERENCE = [
    ("eyes", {4, 5, 7, 43}, [19, 24, 15, 1]),
    ("mouth", {10, 12, 14, 15, 17}, [3, 5, 11, 13]),
    ("eyebrows", {1, 2}, [17, 19, 24, 26]),
    ("cheeks", {6, 9}, [1, 29, 15, 3, 13]),
]
REFERENCE_CODES = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 43]


def expected_rule(codes, considered=REFERENCE_CODES):
    use = set(codes) & set(considered)
    for name, rule_codes, points in REFERENCE:
        if use & rule_codes:
            return name, points
    return "face", None


def reference_box(landmarks, points, size):
    """min/max of the points, as whole pixels holding them, clamped to the frame."""
    pts = landmarks[points]
    x0, y0 = np.floor(pts.min(axis=0))
    x1, y1 = np.floor(pts.max(axis=0)) + 1
    return [max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)]


# ----------------------------------------------------------------------------------------------
# Rules
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", REFERENCE_CODES)
def test_each_reference_code_picks_its_region(code):
    choice = choose([code], DEFAULT_RULES)
    name, points = expected_rule([code])
    assert choice.name == name and not choice.fallback
    assert list(choice.rules[0].points) == points


def test_first_matching_rule_wins_and_union_takes_all():
    assert choose([12, 4], DEFAULT_RULES).name == "eyes"  # table order, not annotation order
    assert choose([1, 12], DEFAULT_RULES).name == "mouth"
    assert choose([9, 2], DEFAULT_RULES).name == "eyebrows"
    assert choose([1, 12, 6], DEFAULT_RULES, mode="union").name == "mouth+eyebrows+cheeks"


def test_fallbacks_and_their_reasons():
    c = choose([], DEFAULT_RULES)
    assert c.name == "face" and c.fallback and c.reason == "no AU annotation"
    c = choose([12], DEFAULT_RULES, considered=[1, 2])
    assert c.name == "face" and c.reason == "no annotated code in --codes"
    c = choose([25, 26], DEFAULT_RULES)  # lips part / jaw drop: not in any rule
    assert c.name == "face" and c.considered == [] and c.annotated == [25, 26]


def test_box_is_min_max_of_points_with_margin_and_clamped():
    lm = np.zeros((68, 2), np.float32)
    lm[[3, 5, 11, 13]] = [[10.2, 40.5], [14.0, 50.7], [50.9, 50.1], [54.3, 41.0]]
    assert points_box(lm, [3, 5, 11, 13], 0.0, (64, 64)).tolist() == [10, 40, 55, 51]
    # margin 0.1 of (44.1 x 10.2) on each side
    assert points_box(lm, [3, 5, 11, 13], 0.1, (64, 64)).tolist() == [5, 39, 59, 52]
    # a box reaching outside the frame is clamped
    assert points_box(lm, [3, 5, 11, 13], 0.5, (60, 48)).tolist() == [0, 35, 60, 48]
    lm[5] = np.nan
    assert points_box(lm, [3, 5, 11, 13], 0.0, (64, 64)) is None


def test_tracked_landmarks_give_per_frame_boxes_and_missing_ones_the_whole_face():
    frames = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    lm = np.zeros((3, 68, 2), np.float32)
    for t in range(3):
        lm[t, [17, 19, 24, 26]] = np.array([[10, 12], [20, 8], [40, 8], [50, 12]]) + [t, 2 * t]
    record = {"au_codes": [{"code": 1}], "landmarks_from": "tracked"}
    arrays, info = crop_clip(frames, lm, record, CropConfig(size=32))
    boxes = arrays["au/boxes"]
    assert info["rule"] == "eyebrows" and info["landmarks_per_frame"]
    assert boxes[:, 0].tolist() == [10, 11, 12] and boxes[:, 1].tolist() == [8, 10, 12]
    arrays, _ = crop_clip(frames, lm, dict(record, landmarks_from="onset"), CropConfig(size=32))
    assert (arrays["au/boxes"] == boxes[0]).all()  # onset landmarks for every frame
    arrays, info = crop_clip(frames, np.full_like(lm, np.nan), record, CropConfig(size=32))
    assert info["rule"] == "face" and info["fallback"]
    assert (arrays["au/boxes"] == [0, 0, 64, 64]).all()
    assert arrays["au/frames"].shape == (3, 32, 32, 3)


def test_gray_frames_keep_their_channel_axis():
    frames = np.zeros((2, 64, 64, 1), np.uint8)
    lm = np.tile(np.linspace(5, 60, 68 * 2, dtype=np.float32).reshape(1, 68, 2), (2, 1, 1))
    arrays, _ = crop_clip(frames, lm, {"au_codes": []}, CropConfig(size=16))
    assert arrays["au/frames"].shape == (2, 16, 16, 1)


RULES_YAML = """\
# lips only, before the reference mouth rule; eyes with a margin
rules:
  - name: lips
    codes: [12, 14]
    points: [48, 54, 51, 57]
  - name: eyes
    codes: [4, 7]
    points: [36, 39, 42, 45]
    margin: 0.3
fallback: face
"""


@pytest.mark.parametrize(
    "text,message",
    [
        ("rules: [", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("rules: []\n", "'rules' must be a non-empty list"),
        (
            "rules:\n  - {name: eyes, codes: [4], points: [19, 70]}\n",
            "rules[0] ('eyes'): point(s) [70] are not 68-point indices",
        ),
        (
            "rules:\n  - {name: a, codes: [4], points: [1, 2]}\n  - {name: mouth, codes: 12, points: [3, 5]}\n",
            "rules[1] ('mouth'): 'codes' must be a non-empty list",
        ),
        (
            "rules:\n  - {name: a, codes: [4], points: [1, 2], colour: red}\n",
            "unknown key(s) colour",
        ),
        ("rules:\n  - {name: face, codes: [4], points: [1, 2]}\n", "reserved"),
        ("rules:\n  - {name: a, codes: [4], points: [1, 2], margin: -1}\n", "'margin' must be"),
        ("rules:\n  - {name: a, codes: [4], points: [1, 2]}\nfallback: nose\n", "fallback 'nose'"),
    ],
)
def test_bad_rules_files_are_reported_with_file_and_entry(tmp_path, text, message):
    path = tmp_path / "my_rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as err:
        load_rules(path)
    assert message in str(err.value) and "my_rules.yaml" in str(err.value)


def test_json_rules_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps(
            {"rules": [{"name": "brows", "codes": [1], "points": [17, 26]}], "fallback": "brows"}
        )
    )
    table = load_rules(path)
    assert table.fallback == "brows"
    c = choose([12], table)
    assert c.fallback and c.name == "brows"  # fallback to a named rule
    path.write_text("{bad json")
    with pytest.raises(RulesError, match="not valid JSON"):
        load_rules(path)


# ----------------------------------------------------------------------------------------------
# On the sample store
# ----------------------------------------------------------------------------------------------


def copy_store(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "store.h5"
    shutil.copyfile(src, dst)
    return dst


def motion_box(record: dict, region: list[float]) -> np.ndarray:
    """The programmed motion's box (source pixels) in store pixels (scale + shift only)."""
    m = np.asarray(record["transform"])
    x0, y0, x1, y1 = region
    corners = np.array([[x0, y0, 1], [x1, y1, 1]]) @ m.T
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)])


def overlap(motion: np.ndarray, box: np.ndarray) -> float:
    """Fraction of the motion box's area inside ``box``."""
    w = max(0.0, min(motion[2], box[2]) - max(motion[0], box[0]))
    h = max(0.0, min(motion[3], box[3]) - max(motion[1], box[1]))
    return w * h / ((motion[2] - motion[0]) * (motion[3] - motion[1]))


def test_default_rules_on_store(casme2_store, casme2_sample, tmp_path, cli_runner):
    from merprep.cli import cli

    truth = {
        f"{c['dataset']}/{c['subject']}/{c['clip']}": c
        for c in json.loads((casme2_sample / "merprep_sample_truth.json").read_text())["clips"]
    }
    path = copy_store(casme2_store, tmp_path)
    res = cli_runner.invoke(cli, ["crop-au", str(path)])
    assert res.exit_code == 0, res.output
    assert validate_store(path) == []
    counts: dict[str, int] = {}
    with ClipStore(path) as s:
        stage = s.stages["crop-au"]
        assert stage["arrays"] == ["au/boxes", "au/frames"]
        assert stage["params"]["rule_table"] == DEFAULT_RULES.to_dict()
        assert stage["params"]["codes"] == REFERENCE_CODES
        for cid in s.clip_ids:
            rec, frames, lm = s.record(cid), s.frames(cid), s.landmarks(cid)
            codes = [c["code"] for c in rec["au_codes"]]
            name, points = expected_rule(codes)
            info = s.stage_info(cid, "crop-au")
            assert info["rule"] == name and info["fallback"] is False
            assert info["codes"] == sorted(set(codes))
            counts[name] = counts.get(name, 0) + 1
            boxes, crops = s.array(cid, "au/boxes"), s.array(cid, "au/frames")
            assert boxes.shape == (8, 4) and boxes.dtype == np.float32
            assert crops.shape == (8, 128, 128, 3) and crops.dtype == np.uint8
            assert (
                (boxes[:, :2] >= 0).all()
                and (boxes[:, 2] <= 64).all()
                and (boxes[:, 3] <= 64).all()
            )
            assert (boxes[:, 2:] > boxes[:, :2]).all()
            assert boxes[0].tolist() == reference_box(lm[0], points, 64)
            assert (boxes == boxes[0]).all()  # onset landmarks: one box for the clip
            x0, y0, x1, y1 = boxes[3].astype(int)
            expect = cv2.resize(frames[3, y0:y1, x0:x1], (128, 128), interpolation=cv2.INTER_LINEAR)
            assert np.array_equal(crops[3], expect)  # stretched, not padded
            # the region the rule picked holds a good part of the programmed motion (the brow
            # band is thin and brows rise above it; 9+10 goes to the mouth by table order)
            assert overlap(motion_box(rec, truth[cid]["region"]), boxes[0]) >= 0.2, (cid, name)
    assert len(counts) >= 3  # the sample animates brows, eyes and mouth
    for name, n in counts.items():
        assert f"  {name:<12} {n}" in res.output
    assert "fallbacks    0" in res.output


def test_crops_from_source_frames_with_per_frame_landmarks(
    casme2_store, casme2_sample, tmp_path, cli_runner
):
    """--frames-from source: each kept frame of the dataset itself, landmarks found on it, the
    region cut at source resolution (boxes in source pixels), as the reference does."""
    from merprep.cli import cli
    from merprep.faces import get_backend
    from merprep.frames.decode import read_frames

    truth = {
        f"{c['dataset']}/{c['subject']}/{c['clip']}": c
        for c in json.loads((casme2_sample / "merprep_sample_truth.json").read_text())["clips"]
    }
    path = copy_store(casme2_store, tmp_path)
    res = cli_runner.invoke(
        cli, ["crop-au", str(path), "--frames-from", "source", "--size", "48", "-j", "1"]
    )
    assert res.exit_code == 0, res.output
    assert validate_store(path) == []
    dlib = get_backend("dlib")
    with ClipStore(path) as s:
        params = s.stages["crop-au"]["params"]
        assert params["frames_from"] == "source" and "SOURCE pixel" in params["box"]
        assert params["root"] == str(casme2_sample.resolve())
        for cid in s.clip_ids:
            rec, info = s.record(cid), s.stage_info(cid, "crop-au")
            boxes, crops = s.array(cid, "au/boxes"), s.array(cid, "au/frames")
            assert crops.shape == (8, 48, 48, 3) and info["frames_from"] == "source"
            assert info["source_frame_size"] == [640, 480] and info["landmarks_lost_frames"] == 0
            name, points = expected_rule([c["code"] for c in rec["au_codes"]])
            assert info["rule"] == name
            # source pixels: the boxes lie in the 640x480 frame, around the programmed motion
            assert (boxes[:, 2] <= 640).all() and (boxes[:, 3] <= 480).all()
            assert overlap(np.asarray(truth[cid]["region"], float), boxes[0]) >= 0.2, cid
            # frame 3: its own landmarks (not the onset's), its own source frame
            folder = casme2_sample / rec["source"]
            n = int(rec["frame_numbers"][3])
            (image,) = read_frames({n: folder / f"img{n}.jpg"}, None, [n], "rgb", 1)
            box = reference_box(dlib.landmarks(image), points, 640)
            assert boxes[3].tolist() == [box[0], box[1], min(box[2], 640), min(box[3], 480)]
            x0, y0, x1, y1 = boxes[3].astype(int)
            area = min(x1 - x0, y1 - y0) >= 48  # shrinking: area; a thin band is enlarged
            interp = cv2.INTER_AREA if area else cv2.INTER_LINEAR
            expect = cv2.resize(image[y0:y1, x0:x1], (48, 48), interpolation=interp)
            assert np.array_equal(crops[3], expect)


def test_crops_from_source_refuse_when_the_source_is_not_there(casme2_store, tmp_path, cli_runner):
    from merprep.cli import cli

    path = copy_store(casme2_store, tmp_path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    empty = tmp_path / "moved"
    (empty / "CASME2_RAW_selected" / "sub01").mkdir(parents=True)
    res = cli_runner.invoke(
        cli, ["crop-au", str(path), "--frames-from", "source", "--root", str(empty)]
    )
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "18 problem(s) in the source frames" in res.output
    assert "casme2/sub01/" in res.output and "clip folder not found" in res.output
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # nothing written
    res = cli_runner.invoke(cli, ["crop-au", str(path), "--root", str(empty)])
    assert res.exit_code == 2 and "--root applies to --frames-from source only" in res.output


def test_crops_from_source_refuse_interpolated_frames(tmp_path):
    from merprep.errors import MerprepError
    from merprep.extract import ExtractConfig, extract
    from merprep.regions_source import run_crop_au_source
    from merprep.sample import generate

    root = generate("casme2", tmp_path / "c2", subjects=1, clips_per_subject=2, clip_length=6).root
    store = extract(
        ExtractConfig(
            dataset="casme2",
            root=root,
            out=tmp_path / "tim.h5",
            sampling="tim",
            frames=4,
            size=32,
            workers=1,
        ),
        progress=False,
    ).path
    with pytest.raises(MerprepError, match="interpolates frames that exist in no source"):
        run_crop_au_source(store, CropConfig(), workers=1)


def test_codes_option_and_custom_rules_change_the_crop(casme2_store, tmp_path, cli_runner):
    from merprep.cli import cli

    path = copy_store(casme2_store, tmp_path)
    with ClipStore(path) as s:
        n_other = sum(not {c["code"] for c in r["au_codes"]} & {1, 2} for r in s.records())
    assert 0 < n_other < 18
    res = cli_runner.invoke(cli, ["crop-au", str(path), "--codes", "1,2"])
    assert res.exit_code == 0, res.output
    assert f"fallbacks    {n_other} (no annotated code in --codes: {n_other})" in res.output
    with ClipStore(path) as s:
        default = {cid: s.array(cid, "au/frames").tobytes() for cid in s.clip_ids}
        for cid in s.clip_ids:
            info = s.stage_info(cid, "crop-au")
            if info["rule"] == "face":
                assert (s.array(cid, "au/boxes") == [0, 0, 64, 64]).all()
                assert np.array_equal(
                    s.array(cid, "au/frames")[0], cv2.resize(s.frames(cid)[0], (128, 128))
                )
            else:
                assert info["rule"] == "eyebrows" and info["codes"] == [1, 2]

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    res = cli_runner.invoke(cli, ["crop-au", str(path), "--rules", str(rules), "--size", "64"])
    assert res.exit_code == 0, res.output
    with ClipStore(path) as s:
        params = s.stages["crop-au"]["params"]
        assert params["rules_file"] == str(rules.resolve())
        assert [r["name"] for r in params["rule_table"]["rules"]] == ["lips", "eyes"]
        changed = 0
        for cid in s.clip_ids:
            info, lm = s.stage_info(cid, "crop-au"), s.landmarks(cid)[0]
            codes = {c["code"] for c in s.record(cid)["au_codes"]}
            box = s.array(cid, "au/boxes")[0]
            if codes & {12, 14}:
                assert info["rule"] == "lips"
                assert box.tolist() == reference_box(lm, [48, 54, 51, 57], 64)
            elif codes & {4, 7}:
                assert info["rule"] == "eyes"
                assert box.tolist() == points_box(lm, [36, 39, 42, 45], 0.3, (64, 64)).tolist()
            else:
                assert info["rule"] == "face" and info["fallback"]
            assert s.array(cid, "au/frames").shape == (8, 64, 64, 3)
            changed += s.array(cid, "au/frames").tobytes() != default[cid]
        assert changed == len(s.clip_ids)

    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: eyes, codes: [4], points: [19, 99]}\n")
    res = cli_runner.invoke(cli, ["crop-au", str(path), "--rules", str(bad)])
    assert res.exit_code == 2 and "bad.yaml" in res.output and "rules[0] ('eyes')" in res.output
    assert "Traceback" not in res.output


def test_mode_all_writes_every_region_and_rerun_replaces_it(casme2_store, tmp_path):
    from merprep.flow import FlowConfig, run_flow

    path = copy_store(casme2_store, tmp_path)
    run_flow(path, FlowConfig(method="farneback", workers=1), progress=False)
    with ClipStore(path) as s:
        fingerprint, flow_stage = s.fingerprint, s.stages["flow"]
        base = {
            cid: (
                s.frames(cid).tobytes(),
                s.landmarks(cid).tobytes(),
                s.array(cid, "flow/onset_apex").tobytes(),
            )
            for cid in s.clip_ids
        }
    regions = ("eyebrows", "eyes", "nose", "mouth", "cheeks")
    run_crop_au(path, CropConfig(mode="all", size=48, margin=0.1))
    assert validate_store(path) == []
    with ClipStore(path) as s:
        assert s.stages["crop-au"]["arrays"] == sorted(
            f"au/{r}/{a}" for r in regions for a in ("boxes", "frames")
        )
        cid = s.clip_ids[0]
        lm = s.landmarks(cid)[0]
        for r in regions:
            assert s.array(cid, f"au/{r}/frames").shape == (8, 48, 48, 3)
        crops = np.concatenate([s.array(cid, f"au/{r}/frames") for r in sorted(regions)], axis=2)
        nose = s.array(cid, "au/nose/boxes")[0]
        assert nose.tolist() == points_box(lm, [27, 31, 33, 35, 39, 42], 0.1, (64, 64)).tolist()
        # nose box sits between the eyes' and the mouth's
        assert (
            s.array(cid, "au/eyebrows/boxes")[0][1] < nose[1] < s.array(cid, "au/mouth/boxes")[0][1]
        )
        assert s.stage_info(cid, "crop-au")["rule"] == "all"
    # merprep show --layer au puts the regions of each frame side by side, as stored, one
    # frame per row
    from merprep.show import PAD, render_montage

    picture = render_montage(path, cid, frames=2, scale=1, layer="au")
    assert picture.shape[1] == 5 * 48 + 2 * PAD
    top = picture.shape[0] - 2 * (48 + 18 + PAD)
    np.testing.assert_array_equal(picture[top : top + 48, PAD : PAD + 5 * 48], crops[0])

    run_crop_au(path, CropConfig(mode="union"))
    assert validate_store(path) == []
    with ClipStore(path) as s:
        assert s.fingerprint == fingerprint
        assert s.stages["flow"] == flow_stage
        assert s.stages["crop-au"]["arrays"] == ["au/boxes", "au/frames"]
        for cid in s.clip_ids:
            assert base[cid] == (
                s.frames(cid).tobytes(),
                s.landmarks(cid).tobytes(),
                s.array(cid, "flow/onset_apex").tobytes(),
            )
            assert not any(f"au/{r}/frames" in s._group(cid) for r in regions)


def test_failure_midway_leaves_the_store_unchanged(casme2_store, tmp_path, monkeypatch):
    import merprep.regions as regions_mod

    path = copy_store(casme2_store, tmp_path)
    run_crop_au(path, CropConfig(size=32))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    calls = {"n": 0}
    real = regions_mod.crop_clip

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(regions_mod, "crop_clip", failing)
    with pytest.raises(KeyboardInterrupt):
        run_crop_au(path, CropConfig(mode="all"))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.h5"]
    assert validate_store(path) == []


def test_command_defaults_match_the_library():
    import merprep.commands.crop_au as cmd
    import merprep.regions as lib

    assert cmd.DEFAULT_CODES == lib.DEFAULT_CODES and cmd.MODES == lib.MODES
