"""merprep flow / magnify: flow accuracy on known motion, strain formula, apex spotting against
the sample's programmed truth, and store behaviour (replace, validate, atomic failure)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from merprep.flow import (
    FlowConfig,
    compute_flow,
    face_mask,
    flow_features,
    nearest_index,
    normalise,
    optical_strain,
    process_clip,
    run_flow,
)
from merprep.magnify import MagnifyConfig, magnify_frames, run_magnify, sample_rate
from merprep.sample.faces import face_width
from merprep.sample.motion import SIGMA as MOTION_SIGMA
from merprep.store import ClipStore, validate_store

N = 64
BORDER = 8  # flow near the frame edge is ill-posed; accuracy is checked inside this margin


# ----------------------------------------------------------------------------------------------
# Synthetic frames with exactly known motion
# ----------------------------------------------------------------------------------------------


def texture(x: np.ndarray, y: np.ndarray, seed: int = 1) -> np.ndarray:
    """A smooth random texture evaluated at arbitrary (sub-pixel) positions: a sum of 40
    sinusoids with periods 6-24 px, so a shift by any (dx, dy) is exact, not interpolated."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(x, dtype=np.float64)
    for _ in range(40):
        period, theta, phase = (
            rng.uniform(6, 24),
            rng.uniform(0, 2 * np.pi),
            rng.uniform(0, 2 * np.pi),
        )
        out += np.cos(2 * np.pi * (np.cos(theta) * x + np.sin(theta) * y) / period + phase)
    return np.clip(np.rint(128 + out * 100 / np.sqrt(40)), 0, 255).astype(np.uint8)


def grid(n: int = N) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    return x, y


def inner(a: np.ndarray) -> np.ndarray:
    return a[BORDER:-BORDER, BORDER:-BORDER]


def endpoint_error(flow: np.ndarray, true_u, true_v) -> np.ndarray:
    return inner(np.hypot(flow[..., 0] - true_u, flow[..., 1] - true_v))


SOLVERS = [("tvl1", "opencv"), ("tvl1", "ipol"), ("farneback", "opencv")]


@pytest.mark.parametrize("method,tvl1", SOLVERS)
@pytest.mark.parametrize("dx,dy", [(0.4, -0.7), (2.0, -1.0), (-1.3, 0.6)])
def test_translation_is_recovered(method, tvl1, dx, dy):
    x, y = grid()
    first, second = texture(x, y), texture(x - dx, y - dy)  # content moves by (+dx, +dy)
    flow = compute_flow(first, second, method, tvl1)
    assert flow.shape == (N, N, 2) and flow.dtype == np.float32
    err = endpoint_error(flow, dx, dy)
    assert err.mean() < 0.1, err.mean()
    assert np.percentile(err, 95) < 0.2
    # Pure translation has no strain (up to estimation noise, far below the 1e-2 of real motion).
    assert np.median(inner(optical_strain(flow))) < 0.01


@pytest.mark.parametrize("method,tvl1", SOLVERS)
def test_local_warp_is_recovered(method, tvl1):
    """A Gaussian bump of motion (1.5 px peak) in one place, nothing elsewhere."""
    x, y = grid()
    cx, cy, sigma, amp = 30.0, 34.0, 8.0, np.array([1.2, -0.9])

    def disp(px, py):
        w = np.exp(-((px - cx) ** 2 + (py - cy) ** 2) / (2 * sigma**2))
        return amp[0] * w, amp[1] * w

    du, dv = disp(x, y)
    second = texture(x - du, y - dv)  # backward map: content at p moves to q with q - d(q) = p
    # Forward flow at p is d(q): solve q = p + d(q) by fixed-point iteration.
    qx, qy = x.copy(), y.copy()
    for _ in range(20):
        ux, uy = disp(qx, qy)
        qx, qy = x + ux, y + uy
    true_u, true_v = qx - x, qy - y
    flow = compute_flow(texture(x, y), second, method, tvl1)
    err = endpoint_error(flow, true_u, true_v)
    assert err.mean() < 0.1, err.mean()
    assert np.percentile(err, 95) < 0.3
    mag = inner(np.hypot(flow[..., 0], flow[..., 1]))
    py, px = np.unravel_index(np.argmax(mag), mag.shape)
    assert abs(py + BORDER - cy) <= 4 and abs(px + BORDER - cx) <= 4
    assert np.percentile(mag, 10) < 0.05  # far from the bump nothing moves


# ----------------------------------------------------------------------------------------------
# Optical strain: analytic fields
# ----------------------------------------------------------------------------------------------


def field(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.dstack([u, v]).astype(np.float32)


def test_strain_of_analytic_fields():
    x, y = grid()
    a = 0.03
    # translation: no strain
    assert np.allclose(optical_strain(field(0 * x + 1.7, 0 * y - 0.4)), 0, atol=1e-7)
    # stretch u = a x: e_xx = a, the rest 0 -> |e| = a
    assert np.allclose(optical_strain(field(a * x, 0 * y)), a, atol=1e-6)
    # stretch v = a y: e_yy = a
    assert np.allclose(optical_strain(field(0 * x, a * y)), a, atol=1e-6)
    # isotropic expansion: e_xx = e_yy = a -> a sqrt(2)
    assert np.allclose(optical_strain(field(a * x, a * y)), a * np.sqrt(2), atol=1e-6)
    # simple shear u = a y: e_xy = e_yx = a/2 -> sqrt(2 (a/2)^2) = a / sqrt(2)
    assert np.allclose(optical_strain(field(a * y, 0 * x)), a / np.sqrt(2), atol=1e-6)
    # rigid rotation u = -w y, v = w x: no deformation at all
    assert np.allclose(optical_strain(field(-a * y, a * x)), 0, atol=1e-7)


@pytest.mark.parametrize("method", ["tvl1", "farneback"])
def test_strain_of_estimated_stretch(method):
    """Content stretched horizontally by 1 + a about the centre: u = a (x - c), e_xx = a."""
    x, y = grid()
    a, c = 0.025, (N - 1) / 2
    second = texture(c + (x - c) / (1 + a), y)
    flow = compute_flow(texture(x, y), second, method)
    err = endpoint_error(flow, a * (x - c), 0 * y)
    assert err.mean() < 0.1
    strain = np.median(inner(optical_strain(flow)))
    assert strain == pytest.approx(a, rel=0.25)


def test_features_rescale_flow_to_output_pixels():
    x, y = grid()
    flow = field(0 * x + 2.0, 0.02 * y - 0.5)  # constant u, linear v (strain 0.02)
    feats = flow_features(flow, 28)
    assert feats.shape == (28, 28, 3) and feats.dtype == np.float32
    assert np.allclose(feats[4:-4, 4:-4, 0], 2.0 * 28 / N, atol=1e-5)
    mid = flow_features(field(0 * x, 0 * y - 1.0), 28)[..., 1]
    assert np.allclose(mid, -1.0 * 28 / N, atol=1e-5)
    assert np.allclose(feats[4:-4, 4:-4, 2], 0.02, atol=1e-5)  # strain is scale-free


def test_clip_normalisation_and_none():
    feats = np.zeros((8, 8, 3), np.float32)
    feats[2, 3] = (3.0, 4.0, 0.5)
    same, scale = normalise(feats, "none")
    assert same is feats and scale == {}
    out, scale = normalise(feats, "clip")
    assert scale == {"flow_scale": 5.0, "strain_scale": 0.5}
    assert np.allclose(out[2, 3], (0.6, 0.8, 1.0))


def test_nearest_index_never_picks_the_onset_for_the_apex():
    nums = [10, 12, 14, 16]
    assert nearest_index(nums, 13.1) == 2
    assert nearest_index(nums, 15) == 2  # ties: the earlier frame
    assert nearest_index(nums, 10) == 1  # an apex on the onset maps to the next stored frame
    assert nearest_index([5.0, 7.5, 9.0], 8.4) == 2  # fractional (TIM) frame numbers


def test_command_choices_match_the_library():
    import merprep.commands.flow as cmd
    import merprep.flow as lib
    import merprep.magnify as mag

    assert cmd.TVL1_PRESETS == lib.TVL1_PRESETS
    assert (cmd.METHODS, cmd.PAIRS, cmd.APEX_CHOICES, cmd.NORMALISATIONS, cmd.FILTERS) == (
        lib.METHODS,
        lib.PAIRS,
        lib.APEX_CHOICES,
        lib.NORMALISATIONS,
        mag.FILTERS,
    )


# ----------------------------------------------------------------------------------------------
# On the sample store: programmed apex and motion region
# ----------------------------------------------------------------------------------------------


def load_truth(sample: Path) -> dict[str, dict]:
    data = json.loads((sample / "merprep_sample_truth.json").read_text())
    return {f"{c['dataset']}/{c['subject']}/{c['clip']}": c for c in data["clips"]}


def store_box(record: dict, region: list[float]) -> tuple[float, float, float, float]:
    """The truth motion box (source pixels) in store pixels via the record's transform."""
    m = np.asarray(record["transform"])
    x0, y0, x1, y1 = region
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]]) @ m.T
    return (*corners.min(axis=0), *corners.max(axis=0))


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_store(src: Path, tmp_path: Path, name: str = "store.h5") -> Path:
    dst = tmp_path / name
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture(scope="module")
def spotted_store(casme2_store, tmp_path_factory) -> Path:
    """The sample store with Farneback flow to every frame and spotted apexes (2 workers)."""
    path = copy_store(casme2_store, tmp_path_factory.mktemp("flow"))
    run_flow(
        path,
        FlowConfig(method="farneback", pair="sequence", size=64, apex="spot", workers=2),
        command="pytest",
        progress=False,
    )
    return path


def peak_in_face(flow_map: np.ndarray, landmarks: np.ndarray) -> tuple[int, int]:
    """(x, y) of the strongest local motion inside the face and away from the frame edge
    (median flow removed, lightly smoothed): where the jaw line meets the collar and the crop
    border, TV-L1 gives spurious small vectors that can outweigh a faint one-sided smile."""
    u = flow_map[..., 0] - np.median(flow_map[..., 0])
    v = flow_map[..., 1] - np.median(flow_map[..., 1])
    mag = cv2.GaussianBlur(np.hypot(u, v), (0, 0), 1.5)
    # the inner face (brows, eyes, nose, mouth: points 17-67) and a margin of the generator's
    # motion reach, not the jaw line, where the face meets the collar and the crop border
    inner = face_mask(landmarks[17:], mag.shape).astype(np.uint8)
    reach = max(1, int(round(MOTION_SIGMA * face_width(landmarks))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    keep = cv2.dilate(inner, kernel).astype(bool) & face_mask(landmarks, mag.shape)
    edge = mag.shape[0] // 10
    keep[:edge], keep[-edge:], keep[:, :edge], keep[:, -edge:] = False, False, False, False
    mag[~keep] = 0
    y, x = np.unravel_index(np.argmax(mag), mag.shape)
    return int(x), int(y)


def test_spotted_apex_is_near_the_programmed_apex(spotted_store, casme2_sample):
    truth = load_truth(casme2_sample)
    exact = 0
    with ClipStore(spotted_store) as store:
        assert store.stages["flow"]["params"]["apex"] == "spot"
        for cid in store.clip_ids:
            rec, info = store.record(cid), store.stage_info(cid, "flow")
            nums = np.asarray(rec["frame_numbers"], float)
            true_index = int(np.argmin(np.abs(nums - truth[cid]["apex"])))
            assert info["apex_source"] == "spot"
            assert abs(info["apex_index"] - true_index) <= 1, (cid, info, true_index)
            exact += info["apex_index"] == true_index
            assert info["apex_frame"] == rec["frame_numbers"][info["apex_index"]]
            assert info["onset_index"] == 0 and info["onset_frame"] == rec["frame_numbers"][0]
            seq = store.array(cid, "flow/sequence")
            assert seq.shape == (rec["n_frames"], 64, 64, 3) and seq.dtype == np.float32
            assert np.array_equal(seq[info["apex_index"]], store.array(cid, "flow/onset_apex"))
            assert not seq[0].any()  # onset to itself
    assert exact >= len(truth) // 2


@pytest.mark.parametrize("which", ["farneback-spot", "tvl1-annotated"])
def test_motion_peaks_in_the_animated_region(
    which, spotted_store, casme2_store, casme2_sample, tmp_path
):
    if which == "farneback-spot":
        path = spotted_store
    else:
        path = copy_store(casme2_store, tmp_path)
        result = run_flow(path, FlowConfig(method="tvl1", size=64, workers=1), progress=False)
        assert result.apex_sources["annotated"] + result.apex_sources["spot"] == result.n_clips
        assert result.notes == result.apex_sources["spot"] > 0  # rows with a hidden apex
    truth = load_truth(casme2_sample)
    with ClipStore(path) as store:
        for cid in store.clip_ids:
            rec = store.record(cid)
            x, y = peak_in_face(store.array(cid, "flow/onset_apex"), store.landmarks(cid)[0])
            x0, y0, x1, y1 = store_box(rec, truth[cid]["region"])
            assert x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1, (cid, (x, y), truth[cid]["aus"])
            info = store.stage_info(cid, "flow")
            if which != "tvl1-annotated":
                continue
            if rec["apex"] is None:
                assert info["apex_source"] == "spot" and "not annotated" in info["note"]
            else:
                assert info["apex_source"] == "annotated"
                assert info["apex_index"] == nearest_index(rec["frame_numbers"], rec["apex"])


# ----------------------------------------------------------------------------------------------
# Store behaviour
# ----------------------------------------------------------------------------------------------


def base_arrays(path: Path) -> dict[str, bytes]:
    with ClipStore(path) as s:
        return {
            f"{cid}:{n}": s.array(cid, n).tobytes()
            for cid in s.clip_ids
            for n in ("frames", "landmarks")
        }


def test_rerun_replaces_only_its_own_output(casme2_store, tmp_path):
    path = copy_store(casme2_store, tmp_path)
    before = base_arrays(path)
    with ClipStore(path) as s:
        fingerprint = s.fingerprint
    run_magnify(path, MagnifyConfig(alpha=5, low=10, high=60))
    run_flow(
        path,
        FlowConfig(method="farneback", pair="sequence", apex="middle", workers=1),
        progress=False,
    )
    with ClipStore(path) as s:
        magnified = {cid: s.array(cid, "magnified/frames").tobytes() for cid in s.clip_ids}
        magnify_stage = s.stages["magnify"]
        assert s.stage_info(s.clip_ids[0], "flow")["apex_index"] == 4  # 8 frames: centre
    run_flow(
        path, FlowConfig(method="farneback", size=32, normalize="clip", workers=1), progress=False
    )
    assert validate_store(path) == []
    assert base_arrays(path) == before
    with ClipStore(path) as s:
        assert s.fingerprint == fingerprint
        assert s.stages["magnify"] == magnify_stage
        assert {cid: s.array(cid, "magnified/frames").tobytes() for cid in s.clip_ids} == magnified
        assert s.stages["flow"]["arrays"] == ["flow/onset_apex"]
        assert s.stages["flow"]["params"]["normalize"] == "clip"
        for cid in s.clip_ids:
            assert "flow/sequence" not in s._group(cid)  # the old stage's arrays are gone
            oa = s.array(cid, "flow/onset_apex")
            assert oa.shape == (32, 32, 3)
            assert np.hypot(oa[..., 0], oa[..., 1]).max() == pytest.approx(1.0, abs=1e-5)
            assert "onset_apex_scale" in s.stage_info(cid, "flow")


def test_ipol_parameter_set_is_used_and_recorded(casme2_store, tmp_path, cli_runner):
    """``--tvl1 ipol``: the IPOL program's parameters in OpenCV's solver, recorded in the
    store's flow stage; they change the flow of a sub-pixel motion (not a relabelling)."""
    from merprep.cli import cli
    from merprep.flow_solvers import FlowEstimator, ipol_scales

    assert (ipol_scales(128, 128), ipol_scales(64, 64), ipol_scales(28, 28)) == (4, 3, 2)
    x, y = grid()
    first, second = texture(x, y), texture(x - 0.3, y)  # a 0.3 px shift
    opencv, ipol = (FlowEstimator("tvl1", p)(first, second) for p in ("opencv", "ipol"))
    assert np.abs(inner(opencv) - inner(ipol)).mean() > 1e-3
    path = copy_store(casme2_store, tmp_path)
    result = cli_runner.invoke(
        cli, ["flow", str(path), "--tvl1", "ipol", "--workers", "1", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    with ClipStore(path) as s:
        params = s.stages["flow"]["params"]
    assert params["tvl1"] == "ipol"
    assert params["tvl1_params"]["scale_step"] == 0.5
    assert params["tvl1_params"]["inner_iterations"] == 300
    assert params["tvl1_params"]["median_filtering"] == 1
    assert params["tvl1_params"]["presmoothing_sigma"] == 0.8
    bad = cli_runner.invoke(cli, ["flow", str(path), "--method", "farneback", "--tvl1", "ipol"])
    assert bad.exit_code == 2 and "--tvl1 applies to --method tvl1 only" in bad.output


def test_failure_midway_leaves_the_store_unchanged(casme2_store, tmp_path, monkeypatch):
    import merprep.flow as flow_mod

    path = copy_store(casme2_store, tmp_path)
    run_flow(path, FlowConfig(method="farneback", workers=1), progress=False)
    digest = file_digest(path)
    calls = {"n": 0}
    real = flow_mod.process_clip

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(flow_mod, "process_clip", failing)
    with pytest.raises(RuntimeError, match="boom"):
        run_flow(path, FlowConfig(method="farneback", size=16, workers=1), progress=False)
    assert file_digest(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.h5"]  # no temp file, no lock
    assert validate_store(path) == []


def test_cli_flow_and_errors(casme2_store, tmp_path, cli_runner):
    from merprep.cli import cli

    path = copy_store(casme2_store, tmp_path)
    res = cli_runner.invoke(
        cli, ["flow", str(path), "--method", "farneback", "--workers", "1", "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    with ClipStore(path) as s:
        recs = s.records()
    n_annotated = sum(r["apex"] is not None for r in recs)
    assert 0 < n_annotated < len(recs)  # the sample hides some apexes, as CASME II does
    assert f"{len(recs)} clips" in res.output and f"annotated: {n_annotated}," in res.output
    assert f"{len(recs) - n_annotated} clip(s) had no annotated apex" in res.output
    with ClipStore(path) as s:
        assert s.stages["flow"]["command"].startswith("merprep")
        assert s.array(s.clip_ids[0], "flow/onset_apex").shape == (28, 28, 3)
    res = cli_runner.invoke(cli, ["flow", str(path), "--size", "2"])
    assert res.exit_code == 2 and "--size" in res.output
    bad = tmp_path / "not_a_store.h5"
    bad.write_text("hello")
    res = cli_runner.invoke(cli, ["flow", str(bad)])
    assert res.exit_code == 2 and "not_a_store.h5" in res.output and "Traceback" not in res.output


# ----------------------------------------------------------------------------------------------
# Magnification
# ----------------------------------------------------------------------------------------------


def oscillating(freq_hz: float, fps: float = 30.0, t: int = 30, amp_px: float = 0.25) -> np.ndarray:
    x, y = grid()
    frames = [texture(x - amp_px * np.sin(2 * np.pi * freq_hz * i / fps), y) for i in range(t)]
    return np.stack(frames)[..., None].repeat(3, axis=-1)


def temporal_variation(frames: np.ndarray) -> float:
    f = frames.astype(np.float64)
    return float(np.abs(f - f.mean(axis=0)).mean())


@pytest.mark.parametrize("kind", ["ideal", "butterworth"])
def test_magnify_amplifies_motion_in_the_band_only(kind):
    config = MagnifyConfig(alpha=10, low=3, high=7, filter=kind)
    in_band = oscillating(5.0)
    out, info = magnify_frames(in_band, 30.0, config)
    assert out.shape == in_band.shape and out.dtype == np.uint8
    assert temporal_variation(out) > 5 * temporal_variation(in_band)
    # the same image moving at 12 Hz, outside the band, is barely changed
    out_of_band = oscillating(12.0)
    out2, _ = magnify_frames(out_of_band, 30.0, config)
    assert temporal_variation(out2) < 2 * temporal_variation(out_of_band)
    # a still clip stays still
    still = np.repeat(in_band[:1], 30, axis=0)
    assert np.array_equal(magnify_frames(still, 30.0, config)[0], still)


def test_magnify_stage_on_store(casme2_store, tmp_path, cli_runner):
    from merprep.cli import cli

    path = copy_store(casme2_store, tmp_path)
    res = cli_runner.invoke(cli, ["magnify", str(path), "--alpha", "8", "--band", "5", "40"])
    assert res.exit_code == 0, res.output
    assert validate_store(path) == []
    with ClipStore(path) as s:
        cid = s.clip_ids[0]
        rec = s.record(cid)
        frames, mag = s.frames(cid), s.array(cid, "magnified/frames")
        assert mag.shape == frames.shape and mag.dtype == np.uint8
        assert temporal_variation(mag) > temporal_variation(frames)
        info = s.stage_info(cid, "magnify")
        assert info["sample_rate"] == pytest.approx(
            sample_rate(rec["fps"], rec["frame_numbers"]), abs=1e-3
        )
    res = cli_runner.invoke(cli, ["magnify", str(path), "--alpha", "8", "--band", "40", "5"])
    assert res.exit_code == 2 and "LOW < HIGH" in res.output


def test_gray_clip_and_missing_landmarks():
    """Spotting on a gray clip without landmarks: a local bump growing to frame 3, then a
    global shift (which the median removal must ignore) in frame 4."""
    x, y = grid()
    bump = np.exp(-((x - 32) ** 2 + (y - 30) ** 2) / (2 * 7.0**2))
    amps = [0.0, 0.4, 0.8, 1.2, 0.3]
    frames = [texture(x - a * bump, y) for a in amps[:4]] + [texture(x - 2.0 - 0.3 * bump, y)]
    frames = np.stack(frames)[..., None]  # (T, H, W, 1)
    record = {"clip_id": "d/s/c", "frame_numbers": [3, 4, 5, 6, 7], "apex": None}
    arrays, info = process_clip(
        frames,
        np.full((5, 68, 2), np.nan, np.float32),
        record,
        FlowConfig(method="farneback", apex="annotated", size=16),
    )
    assert info["apex_source"] == "spot" and info["apex_index"] == 3
    assert info["apex_frame"] == 6
    assert arrays["flow/onset_apex"].shape == (16, 16, 3)


# ----------------------------------------------------------------------------------------------
# Pictures: merprep show --layer flow / magnified
# ----------------------------------------------------------------------------------------------


def test_flow_colours_encode_direction_and_magnitude():
    from merprep.show import BACKGROUND, colour_wheel, flow_colour

    one = np.ones((1, 1), np.float32)
    assert flow_colour(one, 0 * one, 1.0)[0, 0].tolist() == [255, 0, 0]  # right: red
    assert flow_colour(-one, 0 * one, 1.0)[0, 0].tolist() == [0, 255, 255]  # left: cyan
    assert flow_colour(0 * one, 0 * one, 1.0)[0, 0].tolist() == [0, 0, 0]  # still: black
    half = flow_colour(one, 0 * one, 2.0)[0, 0]
    assert 120 <= half[0] <= 135 and half[1] == half[2] == 0  # half the reach: half as bright
    wheel = colour_wheel(33)
    assert np.abs(wheel[16, 32].astype(int) - [255, 0, 0]).max() <= 2  # right edge: red
    assert np.abs(wheel[16, 0].astype(int) - [0, 255, 255]).max() <= 2  # left edge: cyan
    assert wheel[0, 0].tolist() == list(BACKGROUND)  # outside the disc


def test_show_flow_layer_draws_the_stored_flow(spotted_store, casme2_store, tmp_path, cli_runner):
    """The direction/magnitude tile is the stored onset-apex flow, pixel for pixel; u, v and
    strain tiles sit beside it, and the sequence adds one tile per frame after the onset."""
    import cv2

    from merprep.cli import cli
    from merprep.show import COLUMNS, PAD, flow_colour, render_montage

    with ClipStore(spotted_store) as store:
        cid = store.clip_ids[1]
        flow = store.array(cid, "flow/onset_apex")
    png = tmp_path / "flow.png"
    result = cli_runner.invoke(
        cli,
        [
            "show",
            str(spotted_store),
            "--clip",
            cid,
            "--layer",
            "flow",
            "--frames",
            "4",
            "--scale",
            "2",
            "--out",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    image = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    assert (
        image.shape[:2]
        == render_montage(spotted_store, cid, frames=4, scale=2, layer="flow").shape[:2]
    )
    assert image.shape[1] == COLUMNS * 128 + (COLUMNS + 1) * PAD
    tile_rows = 2  # onset-apex maps, then 4 sequence tiles
    top = image.shape[0] - tile_rows * (128 + 18 + PAD)
    x0 = PAD + 3 * (128 + PAD)
    reach = float(np.abs(flow[..., :2]).max())
    expected = cv2.resize(
        flow_colour(flow[..., 0], flow[..., 1], reach), (128, 128), interpolation=cv2.INTER_NEAREST
    )
    np.testing.assert_array_equal(image[top : top + 128, x0 : x0 + 128], expected)

    result = cli_runner.invoke(
        cli, ["show", str(casme2_store), "--layer", "flow", "--out", str(png)]
    )
    assert result.exit_code != 0 and "run merprep flow first" in result.output
    assert "Traceback" not in result.output
