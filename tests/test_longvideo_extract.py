"""Long-video extraction: the real workbooks with frames laid out for a few of their videos,
the store (schema, digests, damage, resume), and streaming (memory independent of length)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from merprep.errors import ValidationFailed
from merprep.longvideo.config import LongExtractConfig
from merprep.longvideo.extract import extract_long
from merprep.longvideo.store import LongVideoStore, StagedVideo, validate_long_store
from merprep.sample.layouts.common import write_image
from merprep.sample.longvideo import still_frames

DATA = Path(__file__).parent / "data" / "longvideo"
ROOT = Path(__file__).parents[1]


def lay_out(folder: Path, names: list[str], size, face_width, gray=False, subject=0):
    folder.mkdir(parents=True)
    for name, image in zip(
        names, still_frames(0, subject, size, face_width, len(names), gray=gray)
    ):
        write_image(folder / name, image)


@pytest.fixture(scope="module")
def real_casme2(tmp_path_factory):
    """The real CAS(ME)^2 workbook beside frames for two of its 95 videos, named as rawpic
    names them (img001.jpg...): s22's 0508 (annotated up to frame 115) and s25's 0101."""
    root = tmp_path_factory.mktemp("casme2_long")
    shutil.copy(DATA / "MTSN__CASME_sq_gt.xlsx", root / "CAS(ME)^2code_final.xlsx")
    lay_out(
        root / "rawpic/s22/22_0508funnydunkey",
        [f"img{n:03d}.jpg" for n in range(1, 121)],
        (640, 480),
        200,
        subject=0,
    )
    lay_out(
        root / "rawpic/s25/25_0101disgustingteeth",
        [f"img{n:03d}.jpg" for n in range(1, 131)],
        (640, 480),
        200,
        subject=1,
    )
    return root


def test_real_casme2_workbook_with_two_videos_on_disk(real_casme2, tmp_path):
    out = tmp_path / "casme2_long.h5"
    config = LongExtractConfig(dataset="casme2-long", root=real_casme2, out=out, workers=1)
    with pytest.raises(ValidationFailed) as info:  # 93 annotated videos have no frames here
        extract_long(config, progress=False)
    assert len(info.value.problems) == 93
    assert all("video frames not found on disk" in p.message for p in info.value.problems)
    assert not out.exists()
    config.skip_invalid = True
    result = extract_long(config, progress=False)
    assert result.n_videos == 2 and len(result.skipped) == 93
    assert len(result.quirks) == 49  # every workbook quirk, kept and reported
    with LongVideoStore(out) as store:
        assert store.video_ids == ["casme2-long/s22/0508", "casme2-long/s25/0101"]
        rec = store.record("casme2-long/s22/0508")
        assert rec["source"] == "rawpic/s22/22_0508funnydunkey"
        assert (rec["first_frame"], rec["last_frame"], rec["n_kept"]) == (1, 120, 120)
        # the intervals are the workbook's, cells verbatim beside the parse
        rows = sorted(i["annotation"]["row"] for i in rec["intervals"])
        assert rows and all(i["verbatim"]["video"].startswith("happy5_") for i in rec["intervals"])
        faces = store.array("casme2-long/s22/0508", "faces")
        assert faces.shape == (120, 128, 128, 1) and faces.dtype == np.uint8
        assert store.array("casme2-long/s22/0508", "landmarks").shape == (4, 68, 2)
        assert {s["video_id"] for s in store.skipped()} >= {"casme2-long/s15/0401"}
    assert validate_long_store(out) == []


def test_real_samm_and_casme3_workbooks_with_one_video_each(tmp_path):
    """SAMM LV 016_5 (frames 0001.. at 2040x1088 gray) and CAS(ME)^3 part A spNO.9 h (colour,
    numbered from 0, one frame dropped as the release drops frames)."""
    samm = tmp_path / "samm"
    shutil.copy(DATA / "MTSN__SAMMLV_gt.xlsx", tmp_path / "samm.xlsx")
    lay_out(
        samm / "SAMM_longvideos/016_5",
        [f"016_5_{n:04d}.jpg" for n in range(1, 191)],
        (2040, 1088),
        420,
        gray=True,
    )
    out = tmp_path / "samm.h5"
    r = extract_long(
        LongExtractConfig(
            dataset="samm-long",
            root=samm,
            out=out,
            annotations=tmp_path / "samm.xlsx",
            skip_invalid=True,
            stride=2,
            workers=1,
        ),
        progress=False,
    )
    assert r.n_videos == 1 and len(r.skipped) == 146
    with LongVideoStore(out) as store:
        rec = store.record("samm-long/016/016_5")
        assert rec["stride"] == 2 and rec["n_kept"] == 95 and rec["reduce"] == 4
        assert store.array("samm-long/016/016_5", "frame_numbers")[:3].tolist() == [1, 3, 5]
        noisy = [i for i in rec["intervals"] if "floating-point noise" in " ".join(i["notes"])]
        assert [i["apex"] for i in noisy] == [115]
    cas = tmp_path / "cas3"
    names = [f"{n}.jpg" for n in range(41) if n != 11]
    lay_out(cas / "part_A/data/part_A_split/part_A/spNO.9/h/color", names, (1280, 720), 280)
    (cas / "part_A/annotation").mkdir(parents=True)
    shutil.copy(
        DATA / "SFAMNet__CAS_ME_3_part_A_v2.xls", cas / "part_A/annotation/CAS(ME)3_part_A_v2.xls"
    )
    out = tmp_path / "cas3.h5"
    r = extract_long(
        LongExtractConfig(dataset="casme3-long", root=cas, out=out, skip_invalid=True, workers=1),
        progress=False,
    )
    assert r.n_videos == 1 and len(r.skipped) == 955
    with LongVideoStore(out) as store:
        rec = store.record("casme3-long/spNO.9/h")
        assert (rec["first_frame"], rec["last_frame"], rec["missing_frames"]) == (0, 40, 1)
        assert 11 not in store.array("casme3-long/spNO.9/h", "frame_numbers")
        assert [(i["onset"], i["offset"], i["type"]) for i in rec["intervals"]] == [(4, 18, "me")]


def test_the_shipped_schema_is_the_top_level_one():
    assert (ROOT / "schemas/longvideo-v1.json").read_text() == (
        ROOT / "merprep/schemas/longvideo-v1.json"
    ).read_text()


@pytest.fixture(scope="module")
def sample_long(tmp_path_factory):
    """A CAS(ME)^2-layout sample: 1 subject x 2 videos of 150 frames."""
    from merprep.sample import generate

    root = tmp_path_factory.mktemp("c2l") / "CASME2_long"
    generate("casme2-long", root, subjects=1, clips_per_subject=2, clip_length=150, seed=5)
    return root


def test_damage_is_found_and_resume_keeps_finished_videos(sample_long, tmp_path):
    out = tmp_path / "s.h5"
    fresh = extract_long(
        LongExtractConfig(dataset="casme2-long", root=sample_long, out=out, workers=1),
        progress=False,
    )
    # a torn frame file stops the run; nothing is written, the finished video stays staged
    copy = tmp_path / "copy"
    shutil.copytree(sample_long, copy)
    broken = copy / "rawpic/s15/15_0102eatingworms/img080.jpg"
    good = broken.read_bytes()
    broken.write_bytes(good[: len(good) // 2])
    out2 = tmp_path / "s2.h5"
    config = LongExtractConfig(dataset="casme2-long", root=copy, out=out2, workers=1)
    with pytest.raises(ValidationFailed, match="img080.jpg: truncated JPEG"):
        extract_long(config, progress=False)
    assert not out2.exists()
    staged = list((tmp_path / "s2.h5.partial" / "videos").glob("*.h5"))
    assert len(staged) == 1
    broken.write_bytes(good)
    config.resume = True
    resumed = extract_long(config, progress=False)
    assert resumed.resumed == 1  # the video finished before the failure was not redone
    # the same content as the uninterrupted run (the root folder differs, so compare digests)
    with LongVideoStore(out) as a, LongVideoStore(out2) as b:
        assert [a.array(v, "faces").tobytes() for v in a.video_ids] == [
            b.array(v, "faces").tobytes() for v in b.video_ids
        ]
    assert fresh.n_frames == resumed.n_frames == 300
    # flip bytes inside one face chunk: validation names the video
    with h5py.File(out, "r") as f:
        ds = f["videos/casme2-long/s15/0101/faces"]
        offset = ds.id.get_chunk_info(5).byte_offset
    with open(out, "r+b") as fh:
        fh.seek(offset + 100)
        fh.write(b"\x00" * 64)
    problems = validate_long_store(out)
    assert problems and "casme2-long/s15/0101" in problems[0]


#: peak RSS (KiB) of this process's own memory: VmHWM. Not ru_maxrss, which Linux carries over
#: from the parent across fork and exec, so inside a large pytest process it read 1.99 GiB
PEAK = """
import sys
from merprep.spotting.classical import SpotConfig
from merprep.spotting.run import spot_video
spot_video(sys.argv[1], "video/user/v", SpotConfig(flow_size=32))
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def synthetic_store(path: Path, n: int) -> Path:
    """A one-video store of ``n`` noisy 128 px frames written directly (no rendering)."""
    from merprep.longvideo.store import LongStoreWriter

    rng = np.random.default_rng(0)
    base = rng.integers(60, 200, (128, 128, 1), dtype=np.uint8)
    staged = StagedVideo(path.with_suffix(".staged.h5"), 128)
    for k in range(n):
        staged.add(k, np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8))
    points = np.array(
        json.loads((ROOT / "merprep/sample/photos/landmarks.json").read_text())["photos"][
            "astronaut.png"
        ]["points"],
        np.float32,
    )
    points = (points - points.min(0)) / (points.max(0) - points.min(0)) * 90 + 19
    record = {
        "video_id": "video/user/v",
        "dataset": "video",
        "subject": "user",
        "subject_id": "video/user",
        "video": "v",
        "fps": 30.0,
        "source": "v.mp4",
        "intervals": [],
        "limits": {"me_min": 7, "me_max": 16},
        "n_source_frames": n,
        "first_frame": 0,
        "last_frame": n - 1,
        "stride": 1,
        "n_kept": n,
        "transform": [[1, 0, 0], [0, 1, 0]],
        "reduce": 1,
        "n_landmarks": 1,
        "landmarks_lost": 0,
    }
    staged.finish(record, points[None], np.array([0]))
    provenance = {
        "datasets": ["video"],
        "command": "test",
        "params": {},
        "landmark_backend": "dlib",
        "landmark_backend_version": "test",
        "face_size": 128,
        "channels": 1,
        "color": "gray",
    }
    with LongStoreWriter(path, provenance) as w:
        w.add_staged(staged.path)
    return path


@pytest.mark.slow
def test_spotting_memory_does_not_grow_with_the_video(tmp_path):
    """Peak RSS of spotting a 6000-frame video is within a few MB of a 600-frame one (each in
    a fresh interpreter): frames are read a block at a time, the flow keeps K+1 small frames.
    The 10,000-frame figure is in docs/benchmarks.md."""
    peaks = []
    for n in (600, 6000):  # all 6000 crops at once would be 94 MiB more
        store = synthetic_store(tmp_path / f"v{n}.h5", n)
        out = subprocess.run(
            [sys.executable, "-c", PEAK, str(store)], capture_output=True, text=True, check=True
        )
        peaks.append(int(out.stdout.split()[-1]) / 1024)  # MiB
    assert peaks[1] - peaks[0] < 12, peaks
    assert peaks[1] < 1024


def test_command_line_choices_and_ranges_are_the_librarys():
    """The CLI keeps literal copies (so listing commands imports no store code): equal here."""
    from merprep.commands import spot as cli
    from merprep.longvideo import LONG_DATASETS, config
    from merprep.spotting.metric import MODES
    from merprep.store.codec import FRAME_COMPRESSIONS

    assert cli.LONG_DATASETS == tuple(LONG_DATASETS.names())
    assert (cli.FACE_SIZE_RANGE, cli.STRIDE_RANGE) == (config.FACE_SIZE_RANGE, config.STRIDE_RANGE)
    assert config.FRAME_COMPRESSIONS == FRAME_COMPRESSIONS and cli.MODES == MODES
