"""Frame sampling (merprep/frames/sampling.py), function by function, against oracles written
here: which source frames each mode keeps, for clips with dropped frames, clips shorter than the
request and missing apexes. Pure functions on frame-number lists and tiny arrays: no dataset.

Issue 16: uniform sampling that dropped the offset frame was caught only because a fixture
happened to truncate the offset frame; here the first and last kept frames are checked for
every clip hypothesis draws.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from merprep.errors import MerprepError
from merprep.frames import sampling as smp


def nearest(available, target):
    """Oracle: the available number closest to target, the earlier one on a tie."""
    return min(available, key=lambda a: (abs(a - target), a))


@st.composite
def clips(draw, max_len=60):
    """(available frame numbers, onset, apex or None, offset, n): a clip of onset..offset with
    some frames dropped (never all of them), and a requested frame count."""
    onset = draw(st.integers(0, 500))
    length = draw(st.integers(1, max_len))
    offset = onset + length - 1
    frames = list(range(onset, offset + 1))
    dropped = draw(st.sets(st.sampled_from(frames), max_size=max(0, length - 1)))
    available = [f for f in frames if f not in dropped]
    apex = draw(st.none() | st.integers(onset, offset))
    outside = draw(st.lists(st.integers(0, 1000), max_size=3))  # frames of other clips on disk
    available = sorted(set(available) | {x for x in outside if not onset <= x <= offset})
    n = draw(st.integers(1, 40))
    return available, onset, apex, offset, n


def inside(available, onset, offset):
    return [a for a in available if onset <= a <= offset]


@settings(max_examples=300, deadline=None)
@given(clips())
def test_uniform_spans_onset_to_offset_inclusive(clip):
    available, onset, apex, offset, n = clip
    plan = smp.uniform(available, onset, apex, offset, n)
    own = inside(available, onset, offset)
    targets = [onset + (offset - onset) * i / (n - 1) for i in range(n)] if n > 1 else [onset]
    assert plan.positions == pytest.approx(targets)
    # (nearest to the plan's own positions: a tie at x.5 must not hinge on float rounding)
    assert plan.numbers == [nearest(own, t) for t in plan.positions]
    if n > 1:  # the first and the LAST frame on disk of the clip are both kept
        assert plan.numbers[0] == own[0] and plan.numbers[-1] == own[-1]
    assert plan.numbers == sorted(plan.numbers) and set(plan.numbers) <= set(own)
    repeats = len(own) < n
    assert (plan.note != "") == repeats
    if repeats:
        assert plan.note == f"clip has {len(own)} frames < {n}: frames repeat"


def test_uniform_on_a_whole_clip_keeps_evenly_spaced_frames():
    plan = smp.uniform(list(range(10, 41)), 10, 20, 40, 4)
    assert plan.numbers == [10, 20, 30, 40] and plan.positions == [10.0, 20.0, 30.0, 40.0]
    assert smp.uniform(list(range(5)), 0, None, 4, 5).numbers == [0, 1, 2, 3, 4]
    assert smp.uniform([3, 7], 3, None, 7, 2).numbers == [3, 7]
    assert smp.uniform([0, 1, 2, 3], 0, None, 3, 3).numbers == [0, 1, 3]  # 1.5: tie -> earlier
    assert smp.uniform([0, 2, 3], 0, None, 3, 3).numbers == [0, 2, 3]  # 1.5 -> 2 (1 dropped)


def test_nearest_available_prefers_the_earlier_frame_on_a_tie():
    assert smp.nearest_available([2, 4, 6], 5) == 4
    assert smp.nearest_available([2, 4, 6], 5.01) == 6
    assert smp.nearest_available([2, 4, 6], -3) == 2 and smp.nearest_available([2, 4, 6], 99) == 6
    assert smp.nearest_available([2, 4, 6], 4) == 4


@pytest.mark.parametrize(
    "mode", [smp.uniform, smp.key_frames, smp.all_frames, smp.first_frames, smp.every_position]
)
def test_a_clip_without_frames_on_disk_is_refused(mode):
    with pytest.raises(ValueError, match="no frames available between onset 10 and offset 12"):
        mode([1, 2, 13, 20], 10, None, 12, 4)


@settings(max_examples=200, deadline=None)
@given(clips())
def test_key_frames_onset_three_apex_three_offset(clip):
    available, onset, apex, offset, _ = clip
    plan = smp.key_frames(available, onset, apex, offset)
    own = inside(available, onset, offset)
    middle = apex if apex is not None else (onset + offset) / 2
    first = [onset + (middle - onset) * i / 4 for i in range(5)]
    second = [middle + (offset - middle) * i / 4 for i in range(1, 5)]
    assert plan.positions == pytest.approx(first + second)
    assert plan.numbers == [nearest(own, t) for t in plan.positions]
    assert len(plan.numbers) == 9 and plan.numbers[4] == nearest(own, middle)
    assert plan.numbers[0] == own[0] and plan.numbers[-1] == own[-1]
    assert (plan.note == "apex missing: temporal middle used") == (apex is None)


def test_key_frames_with_an_apex_outside_the_clip_use_the_middle():
    plan = smp.key_frames(list(range(17)), 0, 40, 16)
    assert plan.numbers == [0, 2, 4, 6, 8, 10, 12, 14, 16]
    assert plan.note == "apex missing: temporal middle used"
    plan = smp.key_frames(list(range(17)), 0, 4, 16)
    assert plan.numbers == [0, 1, 2, 3, 4, 7, 10, 13, 16] and plan.note == ""


@settings(max_examples=200, deadline=None)
@given(clips())
def test_all_first_and_every_position(clip):
    available, onset, apex, offset, n = clip
    own = inside(available, onset, offset)
    everything = smp.all_frames(available, onset, apex, offset)
    assert everything.numbers == own and everything.positions == [float(x) for x in own]

    first = smp.first_frames(available, onset, apex, offset, n)
    if len(own) >= n:
        assert first.numbers == own[:n] and first.note == ""
    else:  # evenly repeated up to n: output i is the frame nearest to position i (L-1)/(n-1)
        assert len(first.numbers) == n and first.numbers[-1] == own[-1]
        for i, number in enumerate(first.numbers):
            position = i * (len(own) - 1) / (n - 1) if n > 1 else 0
            assert abs(own.index(number) - position) <= 0.5 + 1e-9
        assert first.note == f"{len(own)} frames < {n}: frames repeat"
    assert first.positions == [float(x) for x in first.numbers]

    every = smp.every_position(available, onset, apex, offset)
    assert every.positions == [float(p) for p in range(onset, offset + 1)]
    assert every.numbers == [nearest(own, p) for p in range(onset, offset + 1)]
    dropped = offset - onset + 1 - len(own)
    assert every.note == (
        f"{dropped} dropped frame(s) stood in for by their nearest" if dropped else ""
    )


def test_the_deception_window_skips_five_frames():
    plan = smp.skip_five_frames(list(range(100, 130)), 100, None, 129, 16)
    assert plan.numbers == list(range(105, 121))
    assert plan.note == "first 5 frames skipped; onset not kept"
    short = smp.skip_five_frames(list(range(100, 108)), 100, None, 107, 4)  # 3 frames after 5
    assert short.numbers == [105, 106, 106, 107] and "3 frames < 4: frames repeat" in short.note
    tiny = smp.skip_five_frames([0, 1, 2], 0, None, 2, 2)  # nothing after five: the last frame
    assert tiny.numbers == [2, 2]
    assert smp.stored_onset_index({"onset": 100, "frame_numbers": plan.numbers}) is None


# --------------------------------------------------------------------------------------------
# frame differences
# --------------------------------------------------------------------------------------------


def test_frame_differences_are_grayscale_mean_absolute_differences():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    gray = rgb.astype(np.float64) @ [0.299, 0.587, 0.114]
    expected = [np.abs(gray[i + 1] - gray[i]).mean() for i in range(3)]
    assert smp.frame_differences(rgb) == pytest.approx(expected, rel=1e-5)
    one = rgb[..., :1]
    assert smp.frame_differences(one) == pytest.approx(
        [np.abs(one[i + 1].astype(float) - one[i]).mean() for i in range(3)]
    )


def _steps(levels) -> np.ndarray:
    return np.array(levels, np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 1), np.uint8)


@pytest.mark.parametrize(
    "keep, expected",
    [("after", [2, 5]), ("before", [1, 4])],
)
def test_diffk_keeps_one_side_of_the_largest_changes_in_temporal_order(keep, expected):
    frames = _steps([10, 10, 50, 52, 52, 90, 91])  # changes: +40 at 1->2, +38 at 4->5
    plan = smp.all_frames(list(range(20, 27)), 20, None, 26)
    refine = smp.diffk_refine if keep == "after" else smp.diffk_before_refine
    out, chosen = refine(frames, plan, 2)
    assert chosen.numbers == [20 + i for i in expected]
    np.testing.assert_array_equal(out, frames[expected])
    assert chosen.note == f"onset not kept: frame 0 is {20 + expected[0]}"
    assert chosen.positions == [float(20 + i) for i in expected]
    _, with_onset = smp.diffk_before_refine(_steps([0, 40, 40, 41, 90]), smp.all_frames(
        range(5), 0, None, 4), 2)  # fmt: skip
    assert with_onset.numbers == [0, 3] and with_onset.note == ""
    # equal changes: the earlier pair wins
    _, tie = smp.diffk_refine(_steps([0, 5, 5, 10, 10]), smp.all_frames(range(5), 0, None, 4), 1)
    assert tie.numbers == [1]


def test_diffk_ties_go_to_the_earlier_pair_in_long_clips_too():
    """40 equal changes (numpy's default sort is not stable past 16 elements)."""
    levels = [0]
    for i in range(1, 41):
        levels.append(levels[-1] + (5 if i % 2 else 0))
    plan = smp.all_frames(list(range(41)), 0, None, 40)
    _, chosen = smp.diffk_refine(_steps(levels), plan, 6)
    assert chosen.numbers == [1, 3, 5, 7, 9, 11]
    _, before = smp.diffk_before_refine(_steps(levels), plan, 6)
    assert before.numbers == [0, 2, 4, 6, 8, 10]


def test_diffk_keeps_a_short_clip_whole():
    frames = _steps([1, 2, 3])
    plan = smp.all_frames([7, 8, 9], 7, None, 9)
    out, chosen = smp.diffk_refine(frames, plan, 3)  # 2 differences < 3 requested
    assert chosen.numbers == [7, 8, 9] and chosen.note == "clip has 3 frames <= 3: all kept"
    out, chosen = smp.diffk_refine(frames, plan, 5)
    assert chosen.numbers == [7, 7, 8, 9, 9]
    assert chosen.note == "clip has 3 frames <= 5: all kept, frames repeat"
    _, two = smp.diffk_refine(frames, plan, 2)  # exactly enough differences: chosen by size
    assert two.numbers == [8, 9] and "onset not kept: frame 0 is 8" in two.note


# --------------------------------------------------------------------------------------------
# TIM
# --------------------------------------------------------------------------------------------


def test_tim_reproduces_the_input_frames_at_their_own_curve_points():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (6, 5, 5, 1), dtype=np.uint8)
    out, s = smp.tim_interpolate(frames, 6)
    assert s == pytest.approx(range(6))
    np.testing.assert_array_equal(out, frames)  # exact (rounded) at s = 0..5
    out, s = smp.tim_interpolate(frames, 11)  # every other output point is an input frame
    assert s == pytest.approx(np.linspace(0, 5, 11))
    np.testing.assert_array_equal(out[::2], frames)
    assert out.dtype == np.uint8 and out.shape == (11, 5, 5, 1)


def test_tim_of_two_frames_and_of_repeated_frames_reproduces_them():
    a, b = np.full((3, 3, 1), 10, np.uint8), np.full((3, 3, 1), 200, np.uint8)
    out, _ = smp.tim_interpolate(np.stack([a, b]), 3)
    np.testing.assert_array_equal(out[[0, 2]], np.stack([a, b]))
    assert 10 < out[1].mean() < 200
    rng = np.random.default_rng(8)
    c, d = (rng.integers(0, 256, (4, 4, 1), dtype=np.uint8) for _ in range(2))
    repeated = np.stack([c, c, d, d, c])  # rank-deficient: TIM must not amplify noise
    out, _ = smp.tim_interpolate(repeated, 5)
    np.testing.assert_array_equal(out, repeated)


def test_tim_output_is_the_interpolation_rounded_and_clipped():
    """A sharp step overshoots between frames; the result is the linear map of tim_weights
    applied to the centred frames, rounded and clipped to 0..255, and a ramp stays a ramp."""
    step = np.array([0, 0, 0, 255, 255, 255], np.uint8)[:, None, None, None] * np.ones(
        (1, 2, 2, 1), np.uint8
    )
    out, s = smp.tim_interpolate(step, 11)
    flat = step.reshape(6, -1).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    weights, s_ref = smp.tim_weights(6, 11, centred @ centred.T)
    raw = flat.mean(axis=0) + weights @ centred
    assert raw.min() < -0.5 and raw.max() > 255.5  # it does overshoot
    expected = np.clip(np.rint(raw), 0, 255)  # (float64 here, float32 inside: +-1)
    assert np.abs(out.reshape(11, -1).astype(int) - expected).max() <= 1
    assert out.min() == 0 and out.max() == 255  # clipped, not wrapped around
    np.testing.assert_allclose(s, s_ref)
    ramp = (np.arange(5, dtype=np.uint8) * 40)[:, None, None, None] * np.ones(
        (1, 2, 2, 1), np.uint8
    )
    out, _ = smp.tim_interpolate(ramp, 9)
    assert np.abs(out[:, 0, 0, 0].astype(int) - np.arange(9) * 20).max() <= 2


def test_tim_of_identical_frames_and_of_one_frame():
    flat = np.full((4, 3, 3, 3), 77, np.uint8)
    out, _ = smp.tim_interpolate(flat, 7)
    assert (out == 77).all() and out.shape == (7, 3, 3, 3)
    weights, s = smp.tim_weights(1, 3, np.zeros((1, 1)))
    assert weights.shape == (3, 1) and not weights.any() and list(s) == [0.0, 0.0, 0.0]


def test_tim_refine_positions_follow_the_source_positions():
    plan = smp.every_position([10, 11, 13, 14], 10, None, 14)  # frame 12 dropped
    assert plan.numbers == [10, 11, 11, 13, 14]  # 12 -> nearest, earlier on the tie
    frames = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    out, refined = smp.tim_refine(frames, plan, 9)
    assert refined.positions == pytest.approx(np.linspace(10, 14, 9))
    assert refined.numbers == [plan.numbers[round(x)] for x in np.linspace(0, 4, 9)]
    assert refined.note == "1 dropped frame(s) stood in for by their nearest; TIM 5 -> 9 frames"
    assert out.shape == (9, 2, 2, 1)


# --------------------------------------------------------------------------------------------
# the onset, and the registry
# --------------------------------------------------------------------------------------------


def test_stored_onset_index_and_the_refusal_naming_clips_and_modes():
    assert smp.stored_onset_index({"onset": 5, "frame_numbers": [5, 9]}) == 0
    assert smp.stored_onset_index({"onset": 5, "frame_numbers": [5.0, 6.5]}) == 0
    assert smp.stored_onset_index({"onset": 5, "frame_numbers": [6, 9]}) is None
    assert smp.stored_onset_index({"onset": 5, "frame_numbers": []}) is None
    good = {"clip_id": "d/s/ok", "onset": 1, "frame_numbers": [1, 2], "sampling": "uniform"}
    smp.require_stored_onset([good], "merprep flow")  # nothing to refuse
    bad = [
        {"clip_id": f"d/s/c{i}", "onset": 1, "frame_numbers": [2], "sampling": mode}
        for i, mode in enumerate(["diffk", "diffk-before (30)", "diffk", "ext-deception"])
    ]
    with pytest.raises(MerprepError) as err:
        smp.require_stored_onset([good, *bad], "merprep flow", store="s.h5", alternative="; or X")
    text = str(err.value)
    assert "merprep flow needs each clip's onset as its first stored frame, but 4 clip(s)" in text
    assert "(d/s/c0, d/s/c1, d/s/c2, ...)" in text and "d/s/ok" not in text
    assert "sampling diffk, diffk-before, ext-deception keeps" in text
    assert text.endswith("(uniform, first, key, all, tim); or X") and "s.h5" in text
    with pytest.raises(MerprepError) as err:
        smp.require_stored_onset(bad[:3], "the onset-diff input")
    assert str(err.value) == (
        "the onset-diff input needs each clip's onset as its first stored frame, but 3 clip(s) "
        "do not have it (d/s/c0, d/s/c1, d/s/c2): sampling diffk, diffk-before keeps the frames "
        "that change most (or skips the first ones), which need not include the onset; "
        "re-extract with a --sampling that keeps it (uniform, first, key, all, tim)"
    )
    unknown = {"clip_id": "d/s/x", "onset": 1, "frame_numbers": [2]}  # no sampling recorded
    with pytest.raises(MerprepError, match=r"\(d/s/x\): sampling \? keeps"):
        smp.require_stored_onset([unknown], "merprep flow")


def test_the_modes_of_sampling():
    modes = {name: smp.get_sampling(name) for name in smp.SAMPLING_MODES}
    assert set(modes) == {
        "uniform", "key", "all", "tim", "diffk", "diffk-before", "first", "ext-casme2",
        "ext-casme3", "ext-samm", "ext-smic", "ext-deception",
    }  # fmt: skip
    assert {n for n, m in modes.items() if m.needs_pixels} == {
        "tim", "diffk", "diffk-before", "ext-casme2", "ext-casme3"
    }  # fmt: skip
    assert {n for n, m in modes.items() if m.fractional} == {"tim"}
    assert {n: m.fixed_frames for n, m in modes.items() if m.fixed_frames} == {
        "key": 9, "ext-casme2": 30, "ext-casme3": 30, "ext-samm": 30, "ext-smic": 10,
        "ext-deception": 16,
    }  # fmt: skip
    assert modes["tim"].refine is smp.tim_refine and modes["diffk"].refine is smp.diffk_refine
    assert modes["uniform"].choose is smp.uniform and modes["all"].choose is smp.all_frames
    with pytest.raises(ValueError, match="sampling"):
        smp.get_sampling("random")
