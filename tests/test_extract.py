"""merprep extract: validation before work, --skip-invalid, damaged media, resume after a kill,
sampling modes, every dataset end to end, and a fast CLI.

Damage is always done to a COPY of a generated sample; the source datasets are hashed before
and after extraction to prove they are never written.
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

import cv2
import numpy as np
import openpyxl
import pytest

from merprep.cli import cli
from merprep.frames.sampling import (
    all_frames,
    diffk_refine,
    every_position,
    get_sampling,
    key_frames,
    tim_interpolate,
    tim_refine,
)
from merprep.pipeline import ExtractConfig, extract
from merprep.sample import generate, load_truth
from merprep.sample.layouts.casme3 import generate_part_c
from merprep.store import ClipStore, validate_store


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(cli_runner, *args):
    result = cli_runner.invoke(cli, ["extract", "--no-progress", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exc_info
    )  # a traceback would be a bug: user errors exit cleanly
    return result


# --------------------------------------------------------------------------------------------
# a damaged copy of the CASME II sample
# --------------------------------------------------------------------------------------------

ANNOTATION = "CASME2-coding-20190701.xlsx"
COLUMN = {"onset": 4, "apex": 5, "offset": 6, "emotion": 9}  # 1-based, as in the real sheet


@pytest.fixture(scope="module")
def damaged(casme2_sample, tmp_path_factory):
    """A copy of the CASME II sample with one kind of damage per clip. Returns (root, expected,
    media, truth clips): ``expected`` maps clip id -> (annotation row, words of the reason) for
    what the validation pass finds; ``media`` clip id -> words, for what only decoding finds."""
    root = tmp_path_factory.mktemp("damaged") / "CASME2"
    shutil.copytree(casme2_sample, root)
    clips = load_truth(root)["clips"]
    book = openpyxl.load_workbook(root / ANNOTATION)
    sheet = book.active
    folder = {i: root / c["source"] for i, c in enumerate(clips)}
    cid = {i: f"casme2/{c['subject']}/{c['clip']}" for i, c in enumerate(clips)}
    row = {i: c["annotation_row"] for i, c in enumerate(clips)}
    expected = {}

    shutil.rmtree(folder[0])
    expected[cid[0]] = (row[0], "clip folder not found")
    (folder[1] / f"img{clips[1]['onset'] + 5}.jpg").unlink()
    expected[cid[1]] = (row[1], "1 of 12 frames between onset and offset missing")
    sheet.cell(row[2], COLUMN["onset"], clips[2]["offset"] + 1)
    expected[cid[2]] = (row[2], "is after offset")
    sheet.cell(row[3], COLUMN["apex"], clips[3]["offset"] + 5)
    expected[cid[3]] = (row[3], "outside onset..offset")
    sheet.cell(row[4], COLUMN["emotion"], "bewilderment")
    expected[cid[4]] = (row[4], "unknown emotion 'bewilderment'")
    duplicate = sheet.max_row + 1
    for col in range(1, sheet.max_column + 1):
        sheet.cell(duplicate, col, sheet.cell(row[5], col).value)
    expected[cid[5] + " (again)"] = (duplicate, f"duplicate clip id (first on row {row[5]})")
    sheet.cell(row[6], COLUMN["offset"], clips[6]["offset"] + 3)  # CASME II's "wrong offset"
    expected[cid[6]] = (row[6], "offset outside the frames on disk")
    book.save(root / ANNOTATION)

    # Damage found only when the frames are decoded (during extraction, not validation).
    offset_frame = folder[7] / f"img{clips[7]['offset']}.jpg"
    offset_frame.write_bytes(offset_frame.read_bytes()[:-2000])  # truncated JPEG
    onset_frame = folder[8] / f"img{clips[8]['onset']}.jpg"
    cv2.imwrite(str(onset_frame), np.full((480, 640, 3), 128, np.uint8))  # no face
    media = {cid[7]: "truncated JPEG", cid[8]: "no face detected"}
    return root, expected, media, clips


def test_validation_lists_every_problem_and_writes_nothing(damaged, cli_runner, tmp_path):
    root, expected, _, clips = damaged
    out = tmp_path / "store.h5"
    before = tree_digest(root)
    result = run_cli(
        cli_runner,
        "--dataset",
        "casme2",
        "--root",
        root,
        "--out",
        out,
        "--frames",
        "8",
        "--size",
        "64",
        "--workers",
        "1",
    )
    assert result.exit_code == 2
    text = result.output
    assert f"{len(expected)} problem(s)" in text
    for clip_id, (row, words) in expected.items():
        line = next((l for l in text.splitlines() if f"row {row} /" in l), text)
        assert clip_id.split(" ")[0] in line and words in line, (line, words)
    assert "Traceback" not in text
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    assert tree_digest(root) == before


def test_skip_invalid_records_each_clip_with_its_reason(damaged, tmp_path):
    root, expected, media, clips = damaged
    before = tree_digest(root)
    out = tmp_path / "store.h5"
    result = extract(
        ExtractConfig(
            dataset="casme2", root=root, out=out, frames=8, size=64, workers=1, skip_invalid=True
        ),
        progress=False,
    )
    assert tree_digest(root) == before  # the source dataset is never modified
    with ClipStore(out) as store:
        skipped = store.skipped()
        assert store.summary()["n_skipped"] == len(skipped) == len(expected) + len(media)
        # every damaged clip is left out, except the first row of the duplicated clip id
        assert len(store) == len(clips) - (len(expected) - 1) - len(media)
        stored = set(store.clip_ids)
    reasons = {(s["clip_id"], s["row"]): s["reason"] for s in skipped}
    for clip_id, (row, words) in expected.items():
        assert words in reasons[(clip_id.split(" ")[0], row)]
    for clip_id, words in media.items():
        reason = next(r for (c, _), r in reasons.items() if c == clip_id)
        assert words in reason and clip_id not in stored
    assert result.n_clips == len(stored) and validate_store(out) == []


def test_damaged_media_without_skip_invalid_fails_and_writes_nothing(damaged, tmp_path):
    """A corrupt frame or a frame without a face stops the run (after all clips are tried)."""
    root, _, media, clips = damaged
    book = openpyxl.load_workbook(root / ANNOTATION)
    sheet = book.active
    keep = {clips[i]["annotation_row"] for i in (7, 8, 9)}
    for r in range(sheet.max_row, 1, -1):
        if r not in keep:
            sheet.delete_rows(r)
    three = tmp_path / "three.xlsx"
    book.save(three)
    out = tmp_path / "store.h5"
    from merprep.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        extract(
            ExtractConfig(
                dataset="casme2",
                root=root,
                annotations=three,
                out=out,
                frames=8,
                size=64,
                workers=1,
            ),
            progress=False,
        )
    assert len(info.value.problems) == 2
    text = str(info.value)
    for clip_id, words in media.items():
        assert clip_id in text and words in text
    assert "three.xlsx, row" in text and not out.exists()


def test_unreadable_spreadsheet_is_one_clear_line(casme2_sample, tmp_path, cli_runner):
    root = tmp_path / "CASME2"
    root.mkdir()
    (root / "CASME2_RAW_selected").symlink_to(casme2_sample / "CASME2_RAW_selected")
    (root / ANNOTATION).write_bytes(b"PK\x03\x04 this is not a workbook")
    out = tmp_path / "store.h5"
    result = run_cli(cli_runner, "--dataset", "casme2", "--root", root, "--out", out)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{root / ANNOTATION}: cannot read annotation file" in result.output
    assert not out.exists()


def test_frame_compression_changes_storage_not_content(
    casme2_sample, casme2_store, tmp_path, cli_runner
):
    """Frames are deflated by default (fast); --frame-compression none stores them raw: the
    store's content (fingerprint, pixels) is the same, only its bytes differ."""
    import h5py

    from merprep.store import ClipStore

    out = tmp_path / "raw.h5"
    result = run_cli(
        cli_runner,
        "--dataset",
        "casme2",
        "--root",
        casme2_sample,
        "--out",
        out,
        "--frames",
        "8",
        "--size",
        "64",
        "--frame-compression",
        "none",
    )
    assert result.exit_code == 0, result.output
    with ClipStore(out) as raw, ClipStore(casme2_store) as fast:
        assert raw.fingerprint == fast.fingerprint
        clip = fast.clip_ids[0]
        np.testing.assert_array_equal(raw.frames(clip), fast.frames(clip))
        assert raw.attrs["params"]["frame_compression"] == "none"
    with h5py.File(out, "r") as raw, h5py.File(casme2_store, "r") as fast:
        name = f"clips/{clip}/frames"
        assert fast[name].compression == "gzip" and raw[name].compression is None
        assert raw[name].fletcher32 and fast[name].fletcher32
        assert fast[name].id.get_storage_size() < raw[name].id.get_storage_size()
    bad = run_cli(
        cli_runner,
        "--dataset",
        "casme2",
        "--root",
        casme2_sample,
        "--out",
        out,
        "--frame-compression",
        "lz4",
    )
    assert bad.exit_code == 2 and "--frame-compression" in bad.output


def test_corrections_reach_the_store_with_their_reasons(casme2_sample, tmp_path, cli_runner):
    """extract --corrections: the corrected cell is what the store holds, the clip's record says
    what was changed and why, and the store's parameters name the corrections file's hash."""
    import openpyxl

    from merprep.store import ClipStore

    sheet = openpyxl.load_workbook(casme2_sample / ANNOTATION)["Sheet1"]
    header = [c.value for c in sheet[1]]
    subject, clip = sheet.cell(2, 1).value, sheet.cell(2, 2).value
    emotion = sheet.cell(2, header.index("Estimated Emotion") + 1).value
    new = "others" if emotion != "others" else "happiness"
    fix = tmp_path / "fixes.csv"
    fix.write_text(
        f"row,column,was,value,reason\n2,Estimated Emotion,{emotion},{new},recoded after review\n",
        "utf-8",
    )
    out = tmp_path / "fixed.h5"
    result = run_cli(
        cli_runner,
        "--dataset",
        "casme2",
        "--root",
        casme2_sample,
        "--out",
        out,
        "--frames",
        "4",
        "--size",
        "32",
        "--corrections",
        fix,
    )
    assert result.exit_code == 0, result.output
    with ClipStore(out) as store:
        rec = store.record(f"casme2/sub{int(subject):02d}/{clip}")
        assert rec["emotion"] == new and rec["annotation"]["row"] == 2
        assert rec["extra"]["corrections"] == [
            {
                "column": "Estimated Emotion",
                "was": emotion,
                "value": new,
                "reason": "recoded after review",
            }
        ]
        others = [store.record(c) for c in store.clip_ids if c != rec["clip_id"]]
        assert all("corrections" not in r["extra"] for r in others)
        params = store.attrs["params"]
        assert params["corrections_sha256"] == hashlib.sha256(fix.read_bytes()).hexdigest()
    shown = cli_runner.invoke(cli, ["info", str(out)])
    assert f"corrected    1 clip(s) by --corrections: {rec['clip_id']}" in shown.output
    stale = tmp_path / "stale.csv"
    stale.write_text(
        f"row,column,was,value,reason\n2,Estimated Emotion,fear-not-there,{new},x\n", "utf-8"
    )
    bad = run_cli(
        cli_runner,
        "--dataset",
        "casme2",
        "--root",
        casme2_sample,
        "--out",
        tmp_path / "bad.h5",
        "--corrections",
        stale,
    )
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert f"{stale}: corrections do not match" in bad.output
    assert not (tmp_path / "bad.h5").exists()


def test_dataset_options_are_checked_by_the_cli(casme2_sample, tmp_path, cli_runner):
    out = tmp_path / "x.h5"
    for args, words in (
        (["--modality", "VIS"], "--modality applies to --dataset smic only"),
        (["--part", "C"], "--part applies to --dataset casme3 only"),
        (["--subjects-map", __file__], "--subjects-map applies to --dataset deception only"),
        (["--manifest", __file__], "--manifest applies to --dataset manifest only"),  # issue 17
        (["--sampling", "bogus"], "Invalid value for '--sampling'"),
    ):
        result = run_cli(
            cli_runner, "--dataset", "casme2", "--root", casme2_sample, "--out", out, *args
        )
        assert result.exit_code == 2 and words in result.output, result.output
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# resume after a kill
# --------------------------------------------------------------------------------------------


def test_resume_after_kill_gives_an_identical_store(casme2_sample, casme2_store, tmp_path):
    out = tmp_path / "casme2.h5"
    staged = out.with_name(out.name + ".partial") / "clips"
    command = [
        sys.executable,
        "-m",
        "merprep.cli",
        "extract",
        "--dataset",
        "casme2",
        "--root",
        str(casme2_sample),
        "--out",
        str(out),
        "--frames",
        "8",
        "--size",
        "64",
        "--workers",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if staged.is_dir() and sum(not p.name.startswith(".") for p in staged.iterdir()) >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not out.exists()
    n_staged = sum(not p.name.startswith(".") for p in staged.iterdir())
    assert 3 <= n_staged < 18

    result = extract(
        ExtractConfig(
            dataset="casme2", root=casme2_sample, out=out, frames=8, size=64, workers=1, resume=True
        ),
        progress=False,
    )
    assert result.resumed == n_staged and not staged.parent.exists()
    with ClipStore(out) as resumed, ClipStore(casme2_store) as straight:
        assert resumed.fingerprint == straight.fingerprint
        assert resumed.clip_ids == straight.clip_ids and len(resumed) == 18
        for clip_id in straight.clip_ids:
            assert resumed.record(clip_id) == straight.record(clip_id)
            assert np.array_equal(resumed.frames(clip_id), straight.frames(clip_id))
            assert np.array_equal(resumed.landmarks(clip_id), straight.landmarks(clip_id))
        assert resumed.skipped() == straight.skipped() == []
        assert resumed.attrs["params"] == straight.attrs["params"]  # only `created` differs


# --------------------------------------------------------------------------------------------
# sampling modes, on frames with known content
# --------------------------------------------------------------------------------------------


def test_key_frames_put_onset_apex_offset_at_0_4_8():
    available = list(range(100, 121))
    plan = key_frames(available, 100, 108, 120)
    assert len(plan.numbers) == 9
    assert (plan.numbers[0], plan.numbers[4], plan.numbers[8]) == (100, 108, 120)
    assert plan.numbers == sorted(plan.numbers) and plan.note == ""
    assert key_frames(available, 100, None, 120).numbers[4] == 110  # middle, noted
    assert "apex missing" in key_frames(available, 100, None, 120).note


def _steps(n: int, jumps: dict[int, int], size: int = 8) -> np.ndarray:
    """n gray frames whose brightness jumps by jumps[i] at frame i, plus faint noise."""
    rng = np.random.default_rng(0)
    level = np.cumsum([jumps.get(i, 0) for i in range(n)]) + 60
    frames = level[:, None, None, None] + rng.integers(0, 2, (n, size, size, 1))
    return frames.astype(np.uint8)


def test_diffk_keeps_the_largest_changes_in_temporal_order():
    frames = _steps(20, {5: 30, 12: 50, 17: 20, 3: 4})
    numbers = list(range(200, 220))
    plan = all_frames(numbers, 200, 210, 219)
    out, refined = diffk_refine(frames, plan, 3)
    assert refined.numbers == [205, 212, 217]  # temporal order, not by size
    assert np.array_equal(out, frames[[5, 12, 17]])
    assert refined.positions == [205.0, 212.0, 217.0]
    short, refined = diffk_refine(frames[:4], all_frames(numbers[:4], 200, None, 203), 6)
    assert len(short) == 6 and refined.numbers[0] == 200 and refined.numbers[-1] == 203
    assert "frames repeat" in refined.note


def test_tim_gives_n_frames_through_the_clip():
    ramp = np.stack([np.full((6, 6, 3), 10 * i, np.uint8) for i in range(11)])  # linear motion
    plan = every_position(list(range(50, 61)), 50, None, 60)
    out, refined = tim_refine(ramp, plan, 21)
    assert out.shape == (21, 6, 6, 3)
    assert np.abs(out[0].astype(int) - ramp[0]).max() <= 1  # first = onset frame
    assert np.abs(out[-1].astype(int) - ramp[-1]).max() <= 1  # last = offset frame
    assert np.abs(out[10].astype(int) - ramp[5]).max() <= 1  # a frame that exists: itself
    middle = out[7].astype(int)  # position 53.5: between frames 53 (30) and 54 (40)
    assert 30 < middle.mean() < 40 and abs(middle.mean() - 35) <= 2
    assert refined.positions[0] == 50.0 and refined.positions[-1] == 60.0
    assert refined.positions[7] == pytest.approx(53.5)
    # exact reproduction when N equals the clip length, whatever the content
    noise = np.random.default_rng(1).integers(0, 256, (9, 5, 5, 1)).astype(np.uint8)
    assert np.array_equal(tim_interpolate(noise, 9)[0], noise)


def test_tim_stands_in_for_dropped_frames():
    plan = every_position([10, 11, 13, 14], 10, None, 14)  # frame 12 dropped
    assert plan.numbers == [10, 11, 11, 13, 14] and "1 dropped" in plan.note
    frames = np.stack([np.full((4, 4, 1), v, np.uint8) for v in (0, 10, 10, 30, 40)])
    out, refined = tim_refine(frames, plan, 3)
    assert len(out) == 3 and refined.positions == [10.0, 12.0, 14.0]
    assert get_sampling("tim").fractional and not get_sampling("diffk").fractional


@pytest.fixture(scope="module")
def moving_sample(tmp_path_factory):
    """CASME II layout, 1 subject x 2 clips of 25 frames with a large motion."""
    root = tmp_path_factory.mktemp("moving") / "CASME2"
    generate("casme2", root, subjects=1, clips_per_subject=2, clip_length=25, amplitude=12.0)
    return root


@pytest.fixture(scope="module")
def every_frame(moving_sample, tmp_path_factory):
    """The moving sample extracted with every frame kept (the reference for diffk and tim)."""
    out = tmp_path_factory.mktemp("all") / "all.h5"
    extract(
        ExtractConfig(
            dataset="casme2", root=moving_sample, out=out, size=64, sampling="all", workers=1
        ),
        progress=False,
    )
    return out


@pytest.mark.parametrize("sampling,frames", [("key", 9), ("diffk", 4), ("tim", 6)])
def test_sampling_modes_on_a_clip_with_known_motion(
    moving_sample, every_frame, tmp_path, sampling, frames
):
    out = tmp_path / f"{sampling}.h5"
    extract(
        ExtractConfig(
            dataset="casme2",
            root=moving_sample,
            out=out,
            frames=frames,
            size=64,
            sampling=sampling,
            workers=1,
        ),
        progress=False,
    )
    truth = {f"casme2/{c['subject']}/{c['clip']}": c for c in load_truth(moving_sample)["clips"]}
    with ClipStore(out) as store, ClipStore(every_frame) as reference:
        for clip_id in store.clip_ids:
            rec, clip = store.record(clip_id), truth[clip_id]
            numbers = rec["frame_numbers"]
            assert rec["n_frames"] == len(numbers) == frames
            onset, apex, offset = clip["onset"], clip["apex"], clip["offset"]
            every = reference.frames(clip_id).astype(float)  # every[i] is frame onset + i
            if sampling == "key":
                assert (numbers[0], numbers[8]) == (onset, offset)
                if clip["apex_annotated"] != "/":
                    assert numbers[4] == apex
            elif sampling == "diffk":
                # raised-cosine motion changes fastest half-way up and half-way down; diffk
                # keeps the frame after each change (the change k-1 -> k is centred at k - 0.5)
                fastest = ((onset + apex) / 2 + 0.5, (apex + offset) / 2 + 0.5)
                assert numbers == sorted(numbers)
                assert all(min(abs(n - f) for f in fastest) <= 3 for n in numbers), numbers
                # the faster half (the shorter) changes most; both halves when about as fast
                rise, fall = apex - onset, offset - apex
                if abs(rise - fall) <= 0.25 * max(rise, fall):
                    expected = set(fastest)
                else:
                    expected = {fastest[0] if rise < fall else fastest[1]}
                assert expected <= {min(fastest, key=lambda f: abs(n - f)) for n in numbers}
                assert np.array_equal(store.frames(clip_id), every[[n - onset for n in numbers]])
            else:
                assert numbers[0] == onset and numbers[-1] == offset
                assert any(n != int(n) for n in numbers)  # fractional positions
                tim = store.frames(clip_id).astype(float)
                assert np.abs(tim[0] - every[0]).mean() < 0.5  # first = onset frame
                assert np.abs(tim[-1] - every[-1]).mean() < 0.5  # last = offset frame
                j = int(np.argmin([abs(p - (onset + apex) / 2) for p in numbers]))
                a = int(numbers[j] - onset)  # tim[j] lies between every[a] and every[a + 1]
                w = numbers[j] - onset - a
                blend = (1 - w) * every[a] + w * every[a + 1]
                moved = np.abs(every[a + 1] - every[0]).mean()
                assert np.abs(tim[j] - blend).mean() < 0.25 * moved, (j, moved)


# --------------------------------------------------------------------------------------------
# every dataset end to end (workers=2)
# --------------------------------------------------------------------------------------------

TINY = {
    "samm": dict(subjects=1, clips_per_subject=2, clip_length=6),
    "smic": dict(subjects=1, clips_per_subject=3, clip_length=6),
    "casme3": dict(subjects=1, clips_per_subject=2, clip_length=5),
    "deception": dict(subjects=2, clips_per_subject=1, clip_length=10),
}
CASES = {
    # dataset: (sampling, frames, extra CLI options, color)
    "samm": ("key", 9, [], "gray"),
    "smic": ("uniform", 5, ["--modality", "HS"], "rgb"),
    "casme3": ("tim", 6, [], "rgb"),
    "casme3c": ("diffk", 3, ["--part", "C"], "rgb"),
    "deception": ("uniform", 4, ["--subjects-map", "{root}/speakers.csv"], "rgb"),
}


CLI_DATASET = {"casme3c": "casme3"}  # part C is --dataset casme3 --part C


@pytest.mark.parametrize("dataset", list(CASES))
def test_extract_each_dataset_end_to_end(dataset, tmp_path, cli_runner):
    if dataset == "casme3c":
        root = tmp_path / "sample"
        generate_part_c(root, subjects=1, clips_per_subject=2, clip_length=5)
        truth = load_truth(root)
    else:
        summary = generate(dataset, tmp_path / "sample", **TINY[dataset])
        root, truth = summary.root, load_truth(summary.truth_file)
    sampling, frames, options, color = CASES[dataset]
    options = [o.format(root=root) for o in options]
    before = tree_digest(root)
    out = tmp_path / "store.h5"
    result = run_cli(
        cli_runner,
        "--dataset",
        CLI_DATASET.get(dataset, dataset),
        "--root",
        root,
        "--out",
        out,
        "--sampling",
        sampling,
        "--frames",
        frames,
        "--size",
        "48",
        "--color",
        color,
        "--workers",
        "2",
        *options,
    )
    assert result.exit_code == 0, result.output
    assert tree_digest(root) == before  # nothing written into the dataset
    assert validate_store(out) == []
    clips = [c for c in truth["clips"] if c.get("modality") in (None, "HS")]
    with ClipStore(out) as store:
        records = store.records()
        assert len(records) == len(clips) and store.skipped() == []
        assert sorted((r["subject"], r["emotion"]) for r in records) == sorted(
            (c["subject"], c["emotion"]) for c in clips
        )
        for rec in records:
            pixels = store.frames(rec["clip_id"])
            assert pixels.shape == (frames, 48, 48, 1 if color == "gray" else 3)
            assert pixels.std() > 5  # a face, not a blank
            assert rec["sampling"].startswith(sampling)
    assert json.loads(json.dumps(records)) == records  # plain JSON records, nothing lost


# --------------------------------------------------------------------------------------------
# the CLI starts fast and never imports TensorFlow
# --------------------------------------------------------------------------------------------


def test_help_is_fast_and_imports_no_tensorflow():
    code = (
        "import sys, time; t = time.perf_counter(); from merprep.cli import cli\n"
        "for args in (['--help'], ['extract', '--help']):\n"
        "    try: cli(args)\n"
        "    except SystemExit: pass\n"
        "print('SECONDS', time.perf_counter() - t)\n"
        "print('HEAVY', sorted(m for m in ('tensorflow', 'mediapipe', 'dlib', 'mertrain', "
        "'h5py') if m in sys.modules))"
    )
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    wall = time.perf_counter() - start
    lines = dict(
        line.split(" ", 1) for line in out.splitlines() if line.startswith(("SECONDS", "HEAVY"))
    )
    assert lines["HEAVY"] == "[]"
    assert "--sampling" in out and "--subjects-map" in out
    # about 0.2 s in-process on an idle machine; the bound leaves room for a shared machine
    assert float(lines["SECONDS"]) < 1.0 and wall < 3.0


@pytest.mark.parametrize("kind", ["images", "video"])
def test_long_clips_are_cropped_as_they_are_decoded(kind, tmp_path):
    """read_frames with a transform keeps only the transform's results: a long clip of large
    frames never sits in memory whole (tim/diffk/all decode every frame of a clip). Measured
    with tracemalloc, which sees numpy's (and OpenCV's numpy-backed) buffers."""
    import tracemalloc

    from merprep.frames.decode import read_frames

    n, h, w = 40, 480, 640
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    frames, video = None, None
    if kind == "images":
        frames = {}
        for i in range(n):
            frames[i] = tmp_path / f"img{i}.jpg"
            cv2.imwrite(str(frames[i]), np.roll(base, i, axis=1))
    else:
        video = tmp_path / "clip.avi"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (w, h))
        for i in range(n):
            writer.write(np.roll(base, i, axis=1))
        writer.release()
    seen = []

    def crop(number, img):
        assert img.shape == (h, w, 3)
        seen.append(number)
        return cv2.resize(img, (32, 32))

    numbers = list(range(n)) + [5]  # a repeat is decoded once
    tracemalloc.start()
    try:
        crops = read_frames(frames, video, numbers, "rgb", 1, transform=crop)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(seen) == list(range(n)) and len(crops) == n + 1
    assert all(c.shape == (32, 32, 3) for c in crops) and crops[-1] is crops[5]
    full = h * w * 3
    assert peak < 6 * full, f"peak {peak / full:.1f} full frames held at once"


def test_frames_already_decoded_are_not_decoded_again(tmp_path):
    """process_clip hands the onset it decoded for the landmarks to read_frames: that frame is
    taken as given (its file is never opened) and transformed like the others."""
    from merprep.frames.decode import read_frames

    image = np.full((8, 8, 3), 7, np.uint8)
    cv2.imwrite(str(tmp_path / "img2.jpg"), image)
    frames = {1: tmp_path / "gone.jpg", 2: tmp_path / "img2.jpg"}  # frame 1's file is missing
    onset = np.full((8, 8, 3), 99, np.uint8)
    out = read_frames(
        frames,
        None,
        [1, 2, 1],
        "rgb",
        1,
        transform=lambda n, img: (n, int(img[0, 0, 0])),
        decoded={1: onset},
    )
    assert out[0] == out[2] == (1, 99) and out[1][0] == 2


def test_fingerprint_does_not_depend_on_how_root_is_spelled(tmp_path):
    """The top folder and the frames folder give the same store (issue 17 item 6): sources are
    relative to the dataset's top folder whichever folder --root names."""
    root = generate("casme2", tmp_path / "CASME2", subjects=1, clips_per_subject=2, clip_length=6)
    stores = {}
    for name, folder in (("top", root.root), ("frames", root.root / "CASME2_RAW_selected")):
        stores[name] = extract(
            ExtractConfig(
                dataset="casme2",
                root=folder,
                out=tmp_path / f"{name}.h5",
                frames=3,
                size=32,
                workers=1,
            ),
            progress=False,
        ).fingerprint
    assert stores["top"] == stores["frames"]
    with ClipStore(tmp_path / "frames.h5") as s:
        assert {r["source"].split("/")[0] for r in s.records()} == {"CASME2_RAW_selected"}


def test_corrections_known_through_the_cli(casme2_sample, tmp_path, cli_runner):
    """`--corrections known` reaches the shipped errata: the sample's sheet is no release of
    CASME II, so nothing is written and the mismatch is named; a missing file is a usage error."""
    result = run_cli(
        cli_runner, "--dataset", "casme2", "--root", casme2_sample, "--out", tmp_path / "k.h5",
        "--corrections", "known",
    )  # fmt: skip
    assert result.exit_code == 2 and "no shipped release of the errata matches" in result.output
    assert "[casme2_coding.csv]" in result.output and not (tmp_path / "k.h5").exists()
    result = run_cli(
        cli_runner, "--dataset", "casme2", "--root", casme2_sample, "--out", tmp_path / "k.h5",
        "--corrections", tmp_path / "nope.csv",
    )  # fmt: skip
    assert result.exit_code == 2 and "no such file" in result.output
    config = ExtractConfig(
        dataset="samm", root=tmp_path, out=tmp_path / "s.h5", corrections="known"
    )
    params = config.output_params()
    assert params["corrections"] == "known" and len(params["corrections_sha256"]) == 64
