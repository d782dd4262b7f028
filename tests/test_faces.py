"""Landmark backends (real dlib, real MediaPipe), alignment, --track and ``merprep show``.

Everything runs the real models on the shipped photographs and on a small generated CASME II
sample; MediaPipe is imported once for the whole file (about 5 s).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from merprep.faces.align import (
    ALIGNERS,
    TEMPLATE,
    build_template,
    eye_positions,
    similarity_lstsq,
    template_points,
)
from merprep.faces.base import eye_centres
from merprep.faces.geometry import transform_points, warp
from merprep.sample.faces import MIRROR_INDEX, PHOTOS_DIR

PHOTOS = ("astronaut.png", "grace_hopper.jpg")

#: Largest dlib-vs-MediaPipe eye-centre distance accepted at a 128x128 crop; measured on the
#: shipped photographs (and their mirror images and +-8 degree rotations): 0.08 to 2.61 px.
EYE_AGREEMENT_PX = 4.0


def _angle(points: np.ndarray) -> float:
    right, left = eye_centres(points)
    return float(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0])))


def _rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    return {n: cv2.cvtColor(cv2.imread(str(PHOTOS_DIR / n)), cv2.COLOR_BGR2RGB) for n in PHOTOS}


@pytest.fixture(scope="session")
def dlib_backend():
    from merprep.faces import get_backend

    return get_backend("dlib")


@pytest.fixture(scope="session")
def mp_backend():
    from merprep.faces import get_backend

    backend = get_backend("mediapipe")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def tiny_sample(tmp_path_factory):
    """2 subjects x 2 clips of 12 frames in the CASME II layout (sub-pixel to ~1 px jitter)."""
    from merprep.sample import generate

    out = tmp_path_factory.mktemp("faces_sample") / "CASME2"
    generate("casme2", out, subjects=2, clips_per_subject=2, clip_length=12, seed=1)
    return out


def _extract(root, out, **kw):
    from merprep.pipeline import ExtractConfig, extract

    config = ExtractConfig(dataset="casme2", root=root, out=out, frames=6, size=64, workers=1, **kw)
    return extract(config, command="pytest", progress=False)


@pytest.fixture(scope="module")
def tracked_store(tiny_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("faces_stores") / "tracked.h5"
    _extract(tiny_sample, out, track=True, align="eyes")
    return out


# -- backends ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_backends_agree_on_eye_centres(photos, dlib_backend, mp_backend, name):
    img = photos[name]
    a, b = dlib_backend.landmarks(img), mp_backend.landmarks(img)
    assert a.shape == b.shape == (68, 2) and a.dtype == b.dtype == np.float32
    assert mp_backend.mesh(img).shape == (478, 2)
    crop = ALIGNERS["none"](a, 128, 0.1)  # the default 128x128 crop
    ea = np.array(eye_centres(transform_points(a, crop)))
    eb = np.array(eye_centres(transform_points(b, crop)))
    assert np.linalg.norm(ea - eb, axis=1).max() <= EYE_AGREEMENT_PX


def test_mediapipe_eye_contours_are_the_documented_mesh_points(photos, mp_backend):
    img = photos["astronaut.png"]
    mesh, pts = mp_backend.mesh(img), mp_backend.landmarks(img)
    right, left = eye_centres(pts)
    np.testing.assert_allclose(right, mesh[[33, 160, 158, 133, 153, 144]].mean(0), atol=1e-3)
    np.testing.assert_allclose(left, mesh[[362, 385, 387, 263, 373, 380]].mean(0), atol=1e-3)
    assert right[0] < left[0]  # the subject's right eye is on the image's left, as in dlib


@pytest.mark.parametrize("name", PHOTOS)
def test_mediapipe_mapping_is_in_anatomical_order(photos, mp_backend, name):
    p = mp_backend.landmarks(photos[name])
    x, y = p[:, 0], p[:, 1]
    assert np.all(np.diff(x[0:17]) > 0)  # jaw left to right
    assert np.argmax(y[0:17]) in (7, 8, 9)  # chin lowest
    assert np.all(np.diff(x[17:27]) > 0)  # brows left to right
    assert x[36] < x[39] < x[42] < x[45]  # eye corners: outer R, inner R, inner L, outer L
    assert y[37] < y[41] and y[38] < y[40] and y[43] < y[47] and y[44] < y[46]  # lids
    assert y[17:27].max() < y[36:48].min()  # brows above eyes
    assert np.all(np.diff(y[27:31]) > 0)  # nose bridge top to tip
    assert x[31] < x[33] < x[35]
    assert y[48:68].min() > y[30:36].max() - 2  # mouth below the nose
    assert x[48] < x[51] < x[54] and x[60] < x[62] < x[64]
    # lips top to bottom (a closed, thin-lipped mouth may put inner and outer lines together)
    assert y[51] < y[66] and y[62] < y[57] and y[51] <= y[62] + 1 and y[66] <= y[57] + 1
    assert y[8] > y[57]  # chin below the mouth


def test_mediapipe_mapping_table_is_left_right_symmetric():
    from merprep.faces.mediapipe68 import MAP_MATRIX, MESH_TO_68

    assert len(MESH_TO_68) == 68 and all(1 <= len(t) <= 3 for t in MESH_TO_68)
    np.testing.assert_allclose(MAP_MATRIX.sum(axis=1), 1.0)
    # Points on the midline map to mesh points on the midline; mirror partners to different
    # points (a left-right swap of the 68 scheme swaps mesh points, so sizes match).
    for i, j in enumerate(MIRROR_INDEX):
        assert len(MESH_TO_68[i]) == len(MESH_TO_68[j])
        assert (i == j) == (MESH_TO_68[i] == MESH_TO_68[j])


def test_versions_and_cli_do_not_import_mediapipe():
    import subprocess
    import sys

    code = (
        "import sys; from merprep.faces import backend_class; "
        "import merprep.commands.extract, merprep.commands.show; "
        "print(backend_class('mediapipe').describe_version()); "
        "print(backend_class('dlib').describe_version()); "
        "print(sorted(m for m in ('mediapipe', 'tensorflow', 'dlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith("mediapipe 0.10.") and "sha256" in out[0]
    assert out[1].startswith("dlib ")
    assert out[2] == "[]"


# -- alignment ---------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [8, -8])
def test_eyes_alignment_levels_a_rotated_photo(photos, dlib_backend, degrees):
    img = _rotate(photos["grace_hopper.jpg"], degrees)
    points = dlib_backend.landmarks(img)
    assert abs(_angle(points)) > 4  # the rendering is really tilted
    size, margin = 128, 0.1
    m = ALIGNERS["eyes"](points, size, margin)
    right, left = eye_centres(transform_points(points, m))
    target_r, target_l = eye_positions(size, margin)
    assert np.linalg.norm(right - target_r) <= 1 and np.linalg.norm(left - target_l) <= 1
    assert abs(_angle(transform_points(points, m))) <= 0.5
    # The warped image itself has level eyes: detect again on a 256 px rendering of the crop.
    big = ALIGNERS["eyes"](points, 256, margin)
    again = dlib_backend.landmarks(np.ascontiguousarray(warp(img, big, 256)))
    assert abs(_angle(again)) <= 2.0
    assert np.abs(np.array(eye_centres(again)) - eye_positions(256, margin)).max() <= 5


def test_eye_positions_follow_the_margin():
    np.testing.assert_allclose(eye_positions(128, 0.0), [[37.12, 34.816], [90.88, 34.816]])
    np.testing.assert_allclose(eye_positions(128, 0.1), [[41.6, 39.68], [86.4, 39.68]])


def test_similarity_recovers_a_known_transform_and_fits_photos(photos, dlib_backend):
    size, margin = 128, 0.1
    target = template_points(size, margin)
    known = np.array([[0.8, -0.3, 40.0], [0.3, 0.8, -12.0]])  # rotation+scale+shift
    source = (target - known[:, 2]) @ np.linalg.inv(known[:, :2]).T  # maps onto target
    m = ALIGNERS["similarity"](source, size, margin)
    np.testing.assert_allclose(m, known, atol=1e-4)
    for name in PHOTOS:
        img = _rotate(photos[name], 8)
        points = dlib_backend.landmarks(img)
        fitted = transform_points(points, ALIGNERS["similarity"](points, size, margin))
        rms = float(np.sqrt(((fitted - target) ** 2).sum(axis=1).mean()))
        assert rms < 3.0  # measured 1.7-1.9 px at 128 px
        assert abs(_angle(fitted)) < 2.0


def test_similarity_lstsq_matches_opencv():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (68, 2))
    dst = transform_points(src, np.array([[1.2, 0.4, 3], [-0.4, 1.2, 7]])) + rng.normal(
        0, 0.5, (68, 2)
    )
    ours = similarity_lstsq(src, dst)
    cv, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    np.testing.assert_allclose(ours, cv, atol=0.05)


def test_template_is_reproducible_from_the_shipped_landmarks():
    doc = json.loads((PHOTOS_DIR / "landmarks.json").read_text())
    shapes = [np.asarray(v["points"], float) for _, v in sorted(doc["photos"].items())]
    np.testing.assert_allclose(build_template(shapes, MIRROR_INDEX), TEMPLATE, atol=1e-3)
    np.testing.assert_allclose(TEMPLATE[:, 0] + TEMPLATE[MIRROR_INDEX, 0], 1.0, atol=2e-4)


# -- tracking ----------------------------------------------------------------------------------


def test_track_stores_per_frame_landmarks_and_small_drift(tracked_store, tiny_sample, tmp_path):
    from merprep.pipeline import drift_summary
    from merprep.store import ClipStore, validate_store

    with ClipStore(tracked_store) as store:
        assert len(store) == 4
        for cid in store.clip_ids:
            rec, lm = store.record(cid), store.landmarks(cid)
            assert rec["landmarks_from"] == "tracked" and rec["tracking_lost_frames"] == 0
            # sub-pixel to ~1 px jitter at 640x480 is well under 2 px at 64x64
            assert 0 < rec["landmark_drift_px"] < 2.0
            assert np.abs(np.diff(lm, axis=0)).max() > 0.01  # frames differ
            # frame 0 is the onset: its landmarks are the ones the crop was made from
            right, left = eye_centres(lm[0])
            np.testing.assert_allclose([right, left], eye_positions(64, 0.1), atol=1e-3)
        tracked_frames = {cid: store.frames(cid) for cid in store.clip_ids}
    assert "landmark drift over 4 tracked clips" in drift_summary(tracked_store)
    assert validate_store(tracked_store) == []  # the new record fields are in the schema

    # --track changes landmarks only: the frames are identical to an untracked run.
    plain = tmp_path / "plain.h5"
    _extract(tiny_sample, plain, align="eyes")
    with ClipStore(plain) as store:
        for cid, frames in tracked_frames.items():
            assert np.array_equal(store.frames(cid), frames)
            assert store.record(cid)["landmarks_from"] == "onset"
            assert np.ptp(store.landmarks(cid), axis=0).max() == 0
        assert drift_summary(plain) is None


def test_track_smooth_removes_a_single_frame_jump_and_keeps_the_onset():
    from merprep.extract.clip import landmark_jitter, smooth_track

    rng = np.random.default_rng(0)
    steady = np.linspace(0, 3, 9)[:, None, None] + rng.normal(0, 0.05, (9, 68, 2))
    jumped = steady.astype(np.float32).copy()
    jumped[5, :17] += 8.0  # the jaw line leaves the face on one frame
    numbers = [10, 12, 14, 16, 18, 20, 22, 24, 26]
    shuffled = [4, 0, 8, 2, 6, 1, 5, 3, 7]  # smoothing follows source order, not store order
    smoothed = smooth_track(jumped[shuffled], [numbers[i] for i in shuffled], 5, onset=10)
    back = np.empty_like(smoothed)
    back[shuffled] = smoothed
    assert np.abs(back[5, :17] - steady[5, :17]).max() < 0.5  # the jump is gone
    assert np.array_equal(back[0], jumped[0])  # the onset (crop reference) is kept exactly
    assert landmark_jitter(back) < landmark_jitter(jumped) / 4
    assert landmark_jitter(jumped[:2]) == 0.0


def test_track_smooth_is_recorded_and_lowers_the_reported_jitter(
    tracked_store, tiny_sample, tmp_path
):
    from merprep.pipeline import drift_summary
    from merprep.store import ClipStore, validate_store

    smooth = tmp_path / "smooth.h5"
    _extract(tiny_sample, smooth, track=True, align="eyes", track_smooth=3)
    with ClipStore(tracked_store) as raw, ClipStore(smooth) as sm:
        assert "track_smooth" not in raw.attrs["params"]  # stores made before it: same identity
        assert sm.attrs["params"]["track_smooth"] == 3
        for cid in raw.clip_ids:
            assert np.array_equal(raw.frames(cid), sm.frames(cid))  # the crop does not move
            j_raw, j_sm = (s.record(cid)["landmark_jitter_px"] for s in (raw, sm))
            assert 0 < j_sm < j_raw
    assert validate_store(smooth) == []
    assert "after a running median over 3 frames" in drift_summary(smooth)
    with pytest.raises(ValueError, match="needs track"):
        _extract(tiny_sample, tmp_path / "x.h5", track_smooth=3)


def test_track_reuses_previous_landmarks_when_the_face_is_lost(tiny_sample, dlib_backend):
    from merprep.faces.base import FaceNotFound
    from merprep.pipeline import ExtractConfig, plan_extraction, track_landmarks

    config = ExtractConfig(dataset="casme2", root=tiny_sample, out=tiny_sample.parent / "x.h5")
    task = plan_extraction(config)[0][0]
    onset = task.record.onset
    numbers = [onset, onset + 2, onset + 4, onset + 4]

    class LosesSecondFrame:  # dlib, but blind on one frame
        calls = 0

        def landmarks(self, img):
            self.calls += 1
            if self.calls == 1:
                raise FaceNotFound("no face")
            return dlib_backend.landmarks(img)

    onset_points = np.zeros((68, 2), np.float32)
    tracked, lost = track_landmarks(task, LosesSecondFrame(), numbers, onset_points)
    assert lost == 1 and tracked.shape == (4, 68, 2)
    assert np.array_equal(tracked[1], onset_points)  # reused from the previous frame
    assert np.array_equal(tracked[2], tracked[3]) and tracked[2].any()


# -- command line ------------------------------------------------------------------------------


def test_extract_with_mediapipe_end_to_end(tiny_sample, tmp_path, cli_runner):
    from merprep.cli import cli
    from merprep.store import ClipStore

    out = tmp_path / "mp.h5"
    result = cli_runner.invoke(
        cli,
        [
            "extract",
            "--dataset",
            "casme2",
            "--root",
            str(tiny_sample),
            "--out",
            str(out),
            "--landmarks",
            "mediapipe",
            "--align",
            "similarity",
            "--frames",
            "4",
            "--size",
            "64",
            "--workers",
            "1",
            "--track",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "landmark drift over 4 tracked clips" in result.output
    with ClipStore(out) as store:
        assert store.attrs["landmark_backend"] == "mediapipe"
        assert store.attrs["landmark_backend_version"].startswith("mediapipe 0.10.21")
        assert store.attrs["params"]["align"] == "similarity"
        lm = store.landmarks(store.clip_ids[0])
        assert lm.shape == (4, 68, 2) and np.isfinite(lm).all()
        assert abs(_angle(lm[0])) < 3


def test_extract_rejects_unknown_alignment(tiny_sample, tmp_path, cli_runner):
    from merprep.cli import cli

    result = cli_runner.invoke(
        cli,
        [
            "extract",
            "--dataset",
            "casme2",
            "--root",
            str(tiny_sample),
            "--out",
            str(tmp_path / "x.h5"),
            "--align",
            "affine",
        ],
    )
    assert result.exit_code == 2 and "eyes" in result.output


def test_show_writes_montage_with_landmarks_and_au_boxes(tracked_store, tmp_path, cli_runner):
    import shutil

    from merprep.cli import cli
    from merprep.show import BOX_COLOURS, COLUMNS, PAD, render_montage
    from merprep.store import ClipStore, modify_store

    store_path = tmp_path / "boxes.h5"
    shutil.copyfile(tracked_store, store_path)
    with ClipStore(store_path) as store:
        ids, t = store.clip_ids, store.record(store.clip_ids[0])["n_frames"]
    box = np.tile(np.array([[10, 30, 50, 60]], np.float32), (t, 1))
    with modify_store(store_path, "crop-au", "pytest", {}) as writer:
        for cid in ids:
            writer.write(cid, "au/mouth/boxes", box)

    result = cli_runner.invoke(cli, ["show", str(store_path), "--list"])
    assert result.exit_code == 0 and result.output.split() == ids

    png = tmp_path / "m.png"
    result = cli_runner.invoke(
        cli,
        [
            "show",
            str(store_path),
            "--clip",
            ids[1],
            "--out",
            str(png),
            "--frames",
            "4",
            "--scale",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    img = cv2.imread(str(png))
    assert img.shape[1] == 4 * 128 + 5 * PAD and img.shape[0] > 128
    assert img.shape[:2] == render_montage(store_path, ids[1], frames=4, scale=2).shape[:2]
    # the mouth box's left edge, in the first tile, in the first region colour (BGR on disk)
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    top = img.shape[0] - (128 + 18 + PAD)  # one row of tiles under the title
    edge = rgb[top + 70 : top + 110, PAD + 20]
    assert (np.abs(edge.astype(int) - BOX_COLOURS[0]).sum(axis=1) < 10).mean() > 0.8

    wide = render_montage(store_path, ids[0], frames=12, scale=1)
    assert wide.shape[1] == COLUMNS * 64 + (COLUMNS + 1) * PAD  # 6 frames -> 2 rows of 5
    result = cli_runner.invoke(
        cli, ["show", str(store_path), "--clip", "nope/a/b", "--out", str(png)]
    )
    assert result.exit_code != 0 and "no clip" in result.output
