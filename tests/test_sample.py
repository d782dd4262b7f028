"""merprep.sample: generated datasets look like the real ones on disk, and move where they say.

Every dataset is generated small (2 subjects, short clips) once per module, then read back the
way a user's tools read the real files: pandas/openpyxl with the official column names, cv2 for
frames and videos. The programmed truth file is checked against the pixels.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest

from merprep.datasets.base import number_frames, parse_aus
from merprep.errors import MerprepError
from merprep.sample import SAMPLE_DATASETS, generate, load_truth
from merprep.sample.faces import load_photos, render_subject

REFERENCE = Path(__file__).parent / "data" / "casme3_partA_ME_label_JpgIndex_v2.xlsx"
MEGC_3CLASS = {
    "casme2": {
        "disgust": "negative",
        "repression": "negative",
        "happiness": "positive",
        "surprise": "surprise",
    },
    "samm": {
        "Anger": "negative",
        "Contempt": "negative",
        "Disgust": "negative",
        "Fear": "negative",
        "Sadness": "negative",
        "Happiness": "positive",
        "Surprise": "surprise",
    },
}
SMALL = {
    "casme2": dict(subjects=2, clip_length=12),
    "samm": dict(subjects=2, clip_length=10),
    "smic": dict(subjects=2, clip_length=10, modality="all"),
    "casme3": dict(subjects=2, clip_length=8),
    "deception": dict(subjects=2, clips_per_subject=4, clip_length=20),
    "manifest": dict(subjects=2, clip_length=12),
}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Each dataset generated once: name -> SampleSummary."""
    return _Lazy(tmp_path_factory)


class _Lazy(dict):
    """Generate a dataset the first time a test asks for it."""

    def __init__(self, factory):
        super().__init__()
        self.factory = factory

    def __missing__(self, dataset):
        summary = generate(dataset, self.factory.mktemp(dataset) / "out", **SMALL[dataset])
        self[dataset] = summary
        return summary


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def clip_frames(root: Path, clip: dict) -> dict[int, np.ndarray]:
    """Frame number -> decoded image (as stored: gray stays 2-D) for one truth record."""
    source = root / clip["source"]
    if source.suffix == ".mp4":
        capture = cv2.VideoCapture(str(source))
        frames, i = {}, 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            frames[i] = image
            i += 1
        capture.release()
        return frames
    return {n: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for n, p in number_frames(source).items()}


def region_change(frames: dict[int, np.ndarray], box, onset: int, numbers) -> list[float]:
    x0, y0, x1, y1 = box
    ref = frames[onset][y0:y1, x0:x1].astype(np.float32)
    return [float(np.abs(frames[n][y0:y1, x0:x1].astype(np.float32) - ref).mean()) for n in numbers]


def elsewhere(box, landmarks, size):
    """A box of the same size on another part of the face (mouth for upper-face motions, brows
    for lower-face ones), kept inside the frame."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    points = np.asarray(landmarks)
    upper = (y0 + y1) / 2 < points[30][1]  # above the nose tip
    cx, cy = points[57] if upper else points[[19, 24]].mean(axis=0)
    nx0 = int(min(max(cx - w / 2, 0), size[0] - w))
    ny0 = int(min(max(cy - h / 2, 0), size[1] - h))
    return nx0, ny0, nx0 + w, ny0 + h


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _aus(text) -> list[str]:
    return [f"{c.side if c.side in ('L', 'R') else ''}{c.code}" for c in parse_aus(text)[0]]


# --------------------------------------------------------------------------------------------
# layouts
# --------------------------------------------------------------------------------------------


def test_casme2_layout(samples):
    s = samples["casme2"]
    assert s.root == s.annotation_file.parent
    assert s.annotation_file.name == "CASME2-coding-20190701.xlsx"
    df = pd.read_excel(s.annotation_file, sheet_name="Sheet1")
    assert list(df.columns) == [
        "Subject",
        "Filename",
        "Unnamed: 2",
        "OnsetFrame",
        "ApexFrame",
        "OffsetFrame",
        "Unnamed: 6",
        "Action Units",
        "Estimated Emotion",
    ]
    assert len(df) == s.n_clips == 12
    assert df["Unnamed: 2"].isna().all() and df["Unnamed: 6"].isna().all()
    assert set(df["Subject"]) == {1, 2}
    assert (df["ApexFrame"] == "/").sum() >= 1  # 1 row in 8 hides its apex
    truth = load_truth(s.truth_file)
    for row, clip in zip(df.itertuples(index=False), truth["clips"]):
        assert re.fullmatch(r"EP\d{2}_\d{2}f?", row.Filename)
        assert clip["clip"] == row.Filename and clip["subject"] == f"sub{row.Subject:02d}"
        assert _aus(row[7]) == clip["animated_aus"]
        assert row[8] in {
            "happiness",
            "surprise",
            "disgust",
            "repression",
            "fear",
            "sadness",
            "others",
        }
        folder = s.root / "CASME2_RAW_selected" / clip["subject"] / row.Filename
        names = sorted(p.name for p in folder.iterdir())
        assert all(re.fullmatch(r"img[1-9]\d*\.jpg", n) for n in names)
        numbers = sorted(number_frames(folder))
        assert numbers == list(range(row.OnsetFrame, row.OffsetFrame + 1))
        assert row.ApexFrame in ("/", clip["apex"])
    image = cv2.imread(str(folder / names[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (480, 640, 3)


def test_samm_layout(samples):
    s = samples["samm"]
    raw = openpyxl.load_workbook(s.annotation_file).active
    assert all(raw.cell(r, 2).value is None for r in range(1, 14))  # preamble: text in A only
    df = pd.read_excel(s.annotation_file, header=13)
    assert list(df.columns) == [
        "Subject",
        "Filename",
        "Inducement Code",
        "Onset Frame",
        "Apex Frame",
        "Offset Frame",
        "Duration",
        "Micro",
        "Action Units",
        "Estimated Emotion",
        "Objective Classes",
        "Notes",
    ]
    assert len(df) == 12 and set(df["Subject"]) == {6, 7}
    assert set(df["Estimated Emotion"]) <= {
        "Anger",
        "Contempt",
        "Disgust",
        "Fear",
        "Happiness",
        "Sadness",
        "Surprise",
        "Other",
    }
    assert (df["Apex Frame"] == -1).sum() >= 1
    truth = load_truth(s.truth_file)["clips"]
    for row, clip in zip(df.itertuples(index=False), truth):
        subject = f"{row.Subject:03d}"
        assert re.fullmatch(rf"{subject}_{row[2]}_\d+", row.Filename)
        assert _aus(row[8]) == clip["animated_aus"]
        folder = s.root / "SAMM" / subject / row.Filename
        names = sorted(p.name for p in folder.iterdir())
        assert all(re.fullmatch(rf"{subject}_\d{{5}}\.jpg", n) for n in names)
        numbers = sorted(number_frames(folder))
        assert numbers[0] <= row[3] < row[5] <= numbers[-1]
    image = cv2.imread(str(folder / names[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (1088, 2040)  # grayscale stored as single-channel JPEG


def test_smic_layout(samples):
    s = samples["smic"]
    assert s.annotation_file is None and s.n_clips == 36  # 2 subjects x 6 clips x HS/VIS/NIR
    clips = load_truth(s.truth_file)["clips"]
    assert Counter(c["modality"] for c in clips) == {"HS": 12, "VIS": 12, "NIR": 12}
    assert {c["fps"] for c in clips if c["modality"] == "HS"} == {100.0}
    assert {c["fps"] for c in clips if c["modality"] != "HS"} == {25.0}
    pattern = re.compile(
        r"SMIC_all_raw/(HS|VIS|NIR)/s(\d+)/micro/(negative|positive|surprise)/"
        r"s\2_(ne|po|sur)_\d{2}"
    )
    for clip in clips:
        m = pattern.fullmatch(clip["source"])
        assert (
            m and m.group(4) == {"negative": "ne", "positive": "po", "surprise": "sur"}[m.group(3)]
        )
        assert clip["subject"] == f"s{int(m.group(2)):02d}"
        folder = s.root / clip["source"]
        names = sorted(p.name for p in folder.iterdir())
        assert all(re.fullmatch(r"image\d{7}\.bmp", n) for n in names)
        assert (clip["onset"], clip["offset"]) == (clip["first_frame"], clip["last_frame"])
    for subject in ("s01", "s02"):
        hs = Counter(
            c["emotion"] for c in clips if c["subject"] == subject and c["modality"] == "HS"
        )
        assert hs == {"negative": 2, "positive": 2, "surprise": 2}
    nir = next(c for c in clips if c["modality"] == "NIR")
    image = cv2.imread(str(next((s.root / nir["source"]).iterdir())), cv2.IMREAD_UNCHANGED)
    assert image.shape == (480, 640, 3)
    assert np.array_equal(image[:, :, 0], image[:, :, 2])  # gray content in 3 channels


def test_casme3_layout(samples):
    s = samples["casme3"]
    assert (
        s.annotation_file.relative_to(s.root).as_posix()
        == "part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
    )
    real = openpyxl.load_workbook(REFERENCE)
    ours = openpyxl.load_workbook(s.annotation_file)
    assert ours.sheetnames == real.sheetnames
    real_header = [c.value for c in real["label"][1]]
    assert [c.value for c in ours["label"][1]] == real_header
    for row in ours["label"].iter_rows(min_row=2):
        assert all(c.data_type == "s" for c in row)  # every cell text, as in the real file
    df = pd.read_excel(s.annotation_file, sheet_name="label", dtype=str)
    assert len(df) == 12
    assert df.duplicated(["Subject", "Filename"]).any()  # a video with two micro-expressions
    assert set(df["Objective class"]) <= {"I", "II", "III", "IV", "V", "VI", "VII"}
    assert set(df["emotion"]) <= {
        "disgust",
        "surprise",
        "others",
        "Others",
        "fear",
        "anger",
        "sad",
        "happy",
    }
    clips = load_truth(s.truth_file)["clips"]
    gaps = 0
    for row, clip in zip(df.itertuples(index=False), clips):
        assert re.fullmatch(r"spNO\.\d+", row.Subject) and re.fullmatch(r"[a-m]", row.Filename)
        assert (int(row.Onset), int(row.Apex), int(row.Offset)) == (
            clip["onset"],
            clip["apex"],
            clip["offset"],
        )
        assert _aus(row.AU) == clip["animated_aus"]
        color = s.root / "part_A/data/part_A_split/part_A" / row.Subject / row.Filename / "color"
        assert clip["source"] == color.relative_to(s.root).as_posix()
        numbers = sorted(number_frames(color))
        assert all(re.fullmatch(r"\d+\.jpg", p.name) for p in color.iterdir())
        assert numbers[0] < clip["onset"] and clip["offset"] < numbers[-1]  # margins
        assert {clip["onset"], clip["apex"], clip["offset"]} <= set(numbers)
        gaps += numbers != list(range(numbers[0], numbers[-1] + 1))
        depth = cv2.imread(str(color.parent / "depth" / f"{numbers[0]}.png"), cv2.IMREAD_UNCHANGED)
        assert depth.dtype == np.uint16 and depth.shape == (720, 1280)
    assert gaps >= 1  # dropped frames
    image = cv2.imread(str(color / f"{numbers[0]}.jpg"))
    assert image.shape == (720, 1280, 3)


def test_deception_layout(samples):
    s = samples["deception"]
    assert s.root.name == "Real-life_Deception_Detection_2016"
    df = pd.read_csv(s.annotation_file)
    assert (
        s.annotation_file.relative_to(s.root).as_posix()
        == "Annotation/All_Gestures_Deceptive and Truthful.csv"
    )
    assert df.columns[0] == "id" and df.columns[-1] == "class" and len(df.columns) == 41
    assert {"Smile", "Laugh", "Scowl", "Frown", "gazeDown", "upHands"} <= set(df.columns)
    assert set(df.iloc[:, 1:40].stack()) <= {0, 1}
    assert Counter(df["class"]) == {"deceptive": 4, "truthful": 4}
    speakers = pd.read_csv(s.subjects_map)
    assert list(speakers.columns) == ["id", "subject"] and set(speakers["id"]) == set(df["id"])
    truth = load_truth(s.truth_file)
    assert truth["subjects_map"] == "speakers.csv"
    for row, clip in zip(df.itertuples(index=False), truth["clips"]):
        folder = "Deceptive" if row[-1] == "deceptive" else "Truthful"
        assert re.fullmatch(
            rf"trial_{'lie' if folder == 'Deceptive' else 'truth'}_\d{{3}}\.mp4", row.id
        )
        assert clip["source"] == f"Clips/{folder}/{row.id}"
        if 12 in {c.code for c in parse_aus(clip["aus"])[0]}:
            assert row.Smile == 1
        if "4" in clip["animated_aus"]:
            assert row.Frown == 1
        capture = cv2.VideoCapture(str(s.root / clip["source"]))
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(clip["fps"])
        n = 0
        while capture.read()[0]:
            n += 1
        assert n == clip["n_frames"] == 20
        assert (
            capture.get(cv2.CAP_PROP_FRAME_WIDTH),
            capture.get(cv2.CAP_PROP_FRAME_HEIGHT),
        ) == tuple(clip["frame_size"])


def test_manifest_layout(samples):
    s = samples["manifest"]
    text = s.annotation_file.read_text().splitlines()
    assert text[0] == "dataset,subject,clip,source,onset,apex,offset,emotion,aus,fps"
    df = pd.read_csv(s.annotation_file, dtype=str, keep_default_na=False)
    assert len(df) == 12 and (df["dataset"] == "mydata").all()
    videos = df[df["source"].str.endswith(".mp4")]
    assert len(videos) == 1 and videos.iloc[0]["onset"] == "0"
    assert (df["apex"] == "").sum() >= 1
    for row in df[~df["source"].str.endswith(".mp4")].itertuples():
        names = [p.name for p in (s.root / row.source).iterdir()]
        assert all(re.fullmatch(r"frame_\d{6}\.jpg", n) for n in names)
        assert f"frame_{int(row.onset):06d}.jpg" in names
    capture = cv2.VideoCapture(str(s.root / videos.iloc[0]["source"]))
    assert capture.isOpened() and capture.read()[1].shape == (480, 640, 3)


# --------------------------------------------------------------------------------------------
# emotions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["casme2", "samm"])
def test_three_class_balance(samples, dataset):
    df = pd.read_excel(samples[dataset].annotation_file, header=13 if dataset == "samm" else 0)
    emotion = "Estimated Emotion"
    for _, rows in df.groupby("Subject"):
        classes = Counter(MEGC_3CLASS[dataset].get(e) for e in rows[emotion])
        assert classes == {"negative": 2, "positive": 2, "surprise": 2}
        negatives = [e for e in rows[emotion] if MEGC_3CLASS[dataset].get(e) == "negative"]
        assert len(set(negatives)) == 2


def test_clips_beyond_six_cover_every_emotion(tmp_path):
    s = generate("casme2", tmp_path / "c", subjects=1, clips_per_subject=13, clip_length=3)
    df = pd.read_excel(s.annotation_file)
    assert set(df["Estimated Emotion"]) == {
        "happiness",
        "surprise",
        "disgust",
        "repression",
        "fear",
        "sadness",
        "others",
    }


# --------------------------------------------------------------------------------------------
# the motion is where the truth says
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", SAMPLE_DATASETS)
def test_motion_peaks_at_apex_inside_region(samples, dataset):
    s = samples[dataset]
    clips = load_truth(s.truth_file)["clips"]
    for clip in clips[:6]:
        frames = clip_frames(s.root, clip)
        numbers = [n for n in sorted(frames) if clip["onset"] <= n <= clip["offset"]]
        change = region_change(frames, clip["region"], clip["onset"], numbers)
        peak = numbers[int(np.argmax(change))]
        assert abs(peak - clip["apex"]) <= 2, (clip["clip"], change)
        other = elsewhere(clip["region"], clip["landmarks"], clip["frame_size"])
        at_apex = region_change(frames, clip["region"], clip["onset"], [clip["apex"]])[0]
        away = region_change(frames, other, clip["onset"], [clip["apex"]])[0]
        assert at_apex > 1.5 * away, (clip["clip"], at_apex, away)
        # Outside every expression of the recording the face is at rest. In a compressed video
        # the codec's residue of the motion lingers after the offset (and its key frame differs
        # from the frames predicted from it), so there only frames before the onset count, with
        # a looser bound.
        video = clip["source"].endswith(".mp4")
        busy = [(c["onset"], c["offset"]) for c in clips if c["source"] == clip["source"]]
        rest = [
            n
            for n in sorted(frames)
            if not any(a <= n <= b for a, b in busy) and (n < clip["onset"] or not video)
        ]
        if len(rest) > 1:
            still = region_change(frames, clip["region"], rest[0], rest)
            assert max(still) < (0.8 if video else 0.7) * at_apex, (clip["clip"], still, at_apex)


def test_amplitude_scales_the_motion(tmp_path):
    def peak(amplitude):
        s = generate(
            "casme2",
            tmp_path / str(amplitude),
            subjects=1,
            clips_per_subject=1,
            clip_length=9,
            amplitude=amplitude,
        )
        clip = load_truth(s.truth_file)["clips"][0]
        frames = clip_frames(s.root, clip)
        return region_change(frames, clip["region"], clip["onset"], [clip["apex"]])[0], clip

    weak, clip_weak = peak(1.5)
    strong, clip_strong = peak(6.0)
    assert clip_strong["amplitude_px"] == pytest.approx(4 * clip_weak["amplitude_px"], rel=1e-3)
    assert strong > 2 * weak


# --------------------------------------------------------------------------------------------
# faces: dlib finds them
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dlib68():
    from merprep.sample.photos_landmarks import Dlib68

    return Dlib68()


def test_shipped_photos_have_one_face_and_their_landmarks(dlib68):
    for photo in load_photos():
        faces = dlib68(photo.image)
        assert len(faces) == 1 and faces[0].points.shape == (68, 2)
        assert np.abs(faces[0].points - photo.landmarks).max() <= 1.0


@pytest.mark.parametrize(
    "index,size,face",
    [
        (0, (640, 480), 225),
        (1, (640, 480), 225),
        (2, (640, 480), 190),
        (3, (480, 360), 115),
        (7, (1280, 720), 280),
    ],
)
def test_renderings_have_one_face_where_expected(dlib68, index, size, face):
    rendering = render_subject(load_photos(), 0, index, size, face)
    faces = dlib68(rendering.image, upsample=0)
    assert len(faces) == 1 and faces[0].points.shape == (68, 2)
    error = np.linalg.norm(faces[0].points - rendering.landmarks, axis=1)
    assert np.median(error) < 0.05 * rendering.face_width


def test_subjects_are_varied():
    photos = load_photos()
    params = [render_subject(photos, 0, i, (320, 240), 110).params for i in range(32)]
    looks = {
        (p["photo"], p["mirror"], round(p["rotation_deg"], 1), round(p["contrast"], 2))
        for p in params
    }
    assert len(looks) == 32
    assert {(p["photo"], p["mirror"]) for p in params[:4]} == {
        ("astronaut.png", False),
        ("grace_hopper.jpg", False),
        ("astronaut.png", True),
        ("grace_hopper.jpg", True),
    }


# --------------------------------------------------------------------------------------------
# determinism, options, CLI
# --------------------------------------------------------------------------------------------

TINY = dict(subjects=1, clips_per_subject=2, clip_length=5)


@pytest.mark.parametrize("dataset", SAMPLE_DATASETS)
def test_same_seed_same_bytes(tmp_path, dataset):
    a = tree_digest(generate(dataset, tmp_path / "a", seed=3, **TINY).truth_file.parent)
    b = tree_digest(generate(dataset, tmp_path / "b", seed=3, **TINY).truth_file.parent)
    c = tree_digest(generate(dataset, tmp_path / "c", seed=4, **TINY).truth_file.parent)
    assert a == b
    assert a.keys() != c.keys() or any(a[k] != c[k] for k in a)
    truth = json.loads((tmp_path / "a" / "merprep_sample_truth.json").read_text())
    assert truth["seed"] == 3 and len(truth["clips"]) == 2


def test_refuses_non_empty_output(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(MerprepError, match="not empty"):
        generate("casme2", tmp_path / "x", **TINY)
    with pytest.raises(MerprepError):
        generate("casme4", tmp_path / "y", **TINY)
    with pytest.raises(MerprepError, match="SMIC"):
        generate("samm", tmp_path / "z", modality="NIR", **TINY)
    assert not (tmp_path / "z").exists()


def test_cli(tmp_path, cli_runner):
    from merprep.commands.sample import sample

    result = cli_runner.invoke(
        sample,
        [
            "--dataset",
            "smic",
            "--out",
            str(tmp_path / "s"),
            "--subjects",
            "1",
            "--clips-per-subject",
            "3",
            "--clip-length",
            "4",
            "--modality",
            "VIS",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote 3 clips of smic to {tmp_path / 's'} (annotation: none)"
    assert (tmp_path / "s" / "SMIC_all_raw" / "VIS" / "s1" / "micro").is_dir()


# --------------------------------------------------------------------------------------------
# --megc: trees named after the official MEGC2019 list (issue 17 item 9)
# --------------------------------------------------------------------------------------------


def test_the_shipped_megc_list_is_the_official_one():
    here = Path(__file__).resolve().parents[1]
    ours = here / "merprep/sample/megc2019_combined_3class_gt.csv"
    assert (
        ours.read_bytes()
        == (here / "mertrain/protocols/data/megc2019_combined_3class_gt.csv").read_bytes()
    )


@pytest.fixture(scope="module")
def megc_stores(tmp_path_factory):
    """Tiny SMIC, CASME II and SAMM samples named after the list, extracted (32 px, 4 frames)."""
    from merprep.extract import ExtractConfig, extract

    base = tmp_path_factory.mktemp("megc")
    stores = {}
    for dataset in ("smic", "casme2", "samm"):
        summary = generate(dataset, base / dataset, subjects=2, clips_per_subject=2,
                           clip_length=4, megc=True)  # fmt: skip
        stores[dataset] = extract(
            ExtractConfig(
                dataset=dataset,
                root=summary.root,
                out=base / f"{dataset}.h5",
                frames=4,
                size=32,
                workers=1,
            ),
            progress=False,
        ).path
    return stores


def test_megc_samples_carry_the_listed_names_and_groups(megc_stores):
    import csv

    from merprep.store import ClipStore

    listed = {}
    for ds, subject, clip, label in csv.reader((Path(__file__).resolve().parents[1] / "merprep/sample/megc2019_combined_3class_gt.csv").open()):  # fmt: skip
        listed.setdefault(ds, []).append((subject, clip, int(label)))
    groups = {  # each dataset's emotion words -> MEGC2019 label (docs/references.md#megc2019)
        "casme2": {"disgust": 0, "repression": 0, "happiness": 1, "surprise": 2},
        "samm": {"anger": 0, "contempt": 0, "disgust": 0, "fear": 0, "sadness": 0,
                 "happiness": 1, "surprise": 2},
        "smic": {"negative": 0, "positive": 1, "surprise": 2},
    }  # fmt: skip
    for dataset, path in megc_stores.items():
        with ClipStore(path) as s:
            got = [
                (r["subject"], r["clip"], groups[dataset][r["emotion"].lower()])
                for r in s.records()
            ]
        subjects = list(dict.fromkeys(sub for sub, _, _ in listed[dataset]))[:2]
        want = [x for sub in subjects for x in [y for y in listed[dataset] if y[0] == sub][:2]]
        norm = {"casme2": str, "samm": lambda v: f"{int(v):03d}", "smic": str}[dataset]
        assert sorted(got) == sorted((norm(a), b, c) for a, b, c in want), dataset


def test_the_composite_protocol_runs_on_megc_samples(megc_stores, cli_runner):
    """The README's composite command, at a tiny size: `mertrain splits` gives one fold per
    listed subject present (2 per dataset), with the official labels."""
    from mertrain.cli import cli

    stores = [str(megc_stores[d]) for d in ("smic", "casme2", "samm")]
    result = cli_runner.invoke(cli, ["splits", *stores, "--protocol", "megc2019", "--json"])
    assert result.exit_code == 0, result.output
    splits = json.loads(result.output)
    folds = splits["folds"]
    assert len(folds) == 6
    assert {f["name"].split("/")[0] for f in folds} == {"smic", "casme2", "samm"}
    assert sum(len(f["test"]) for f in folds) == 12


def test_composite_on_unlisted_samples_says_what_to_do(megc_stores, tmp_path, cli_runner):
    from merprep.extract import ExtractConfig, extract
    from mertrain.cli import cli

    plain = generate("casme2", tmp_path / "c2", subjects=1, clips_per_subject=2, clip_length=4)
    store = extract(
        ExtractConfig(
            dataset="casme2", root=plain.root, out=tmp_path / "c2.h5", frames=4, size=32, workers=1
        ),
        progress=False,
    ).path
    result = cli_runner.invoke(
        cli,
        [
            "splits",
            str(megc_stores["smic"]),
            str(store),
            str(megc_stores["samm"]),
            "--protocol",
            "megc2019",
        ],
    )
    assert result.exit_code != 0
    assert "the 145 listed casme2 clips (e.g. casme2/sub01/EP02_01f)" in result.output
    assert "merprep sample --dataset casme2 --megc" in result.output


def test_megc_refuses_other_datasets_and_too_many_subjects(tmp_path):
    with pytest.raises(MerprepError, match="--megc applies to casme2, samm, smic"):
        generate("casme3", tmp_path / "a", subjects=1, clips_per_subject=1, megc=True)
    with pytest.raises(MerprepError, match="24 casme2 subjects"):
        generate("casme2", tmp_path / "b", subjects=25, clips_per_subject=1, megc=True)
