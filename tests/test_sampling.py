"""Frame selection (``--sampling``): the onset where later stages need it, the references'
selections (first N, frame differences keeping the frame before or after each change, the
dual-branch extension's per-dataset choices), and the checks of ``--frames``.

Stores are tiny (2 subjects x 6 clips of 10 frames, 32 px, one worker).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from merprep.errors import MerprepError
from merprep.extract import ExtractConfig, extract
from merprep.frames.sampling import (
    SAMPLING_MODES,
    all_frames,
    diffk_refine,
    first_frames,
    get_sampling,
    stored_onset_index,
)
from merprep.sample import generate
from merprep.store import ClipStore


@pytest.fixture(scope="module")
def tiny_casme2(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "CASME2"
    generate("casme2", root, subjects=2, clips_per_subject=6, clip_length=10, amplitude=8.0)
    return root


def _extract(root: Path, out: Path, sampling: str, frames: int | None = 4) -> Path:
    extract(
        ExtractConfig(
            dataset="casme2",
            root=root,
            out=out,
            sampling=sampling,
            frames=frames,
            size=32,
            workers=1,
        ),
        progress=False,
    )
    return out


@pytest.fixture(scope="module")
def diffk_store(tiny_casme2, tmp_path_factory) -> Path:
    return _extract(tiny_casme2, tmp_path_factory.mktemp("diffk") / "diffk.h5", "diffk")


# --------------------------------------------------------------------------------------------
# the onset where it is needed (issue 14: diffk never keeps it)
# --------------------------------------------------------------------------------------------


def test_diffk_store_has_no_onset_frame(diffk_store):
    with ClipStore(diffk_store) as s:
        records = s.records()
    assert records and all(r["frame_numbers"][0] != r["onset"] for r in records)
    assert all(stored_onset_index(r) is None for r in records)
    assert all("onset not kept" in r["sampling"] for r in records)


def test_flow_refuses_a_store_whose_first_frame_is_not_the_onset(diffk_store, tmp_path):
    """Today's flow took stored frame 0 as the onset, silently."""
    from merprep.flow import FlowConfig, run_flow

    copy = tmp_path / "copy.h5"
    copy.write_bytes(diffk_store.read_bytes())
    with pytest.raises(MerprepError) as err:
        run_flow(copy, FlowConfig(method="farneback", workers=1), progress=False)
    message = str(err.value)
    assert "casme2/sub01/" in message and "diffk" in message and "onset" in message
    assert "--sampling" in message  # says what to do


def test_onset_diff_input_refuses_a_store_without_onsets(diffk_store, tmp_path):
    """Today's `mertrain run --input onset-diff` subtracted a non-onset frame, silently."""
    from mertrain.config import RunConfig
    from mertrain.prepare import prepare

    config = RunConfig.from_options(
        stores=[str(diffk_store)],
        out=str(tmp_path / "run"),
        model="lbptop-svm",
        model_options={"frames": 4, "size": 32, "grid": (2, 2)},
        input="onset-diff",
    )
    with pytest.raises(MerprepError, match=r"onset-diff.*onset.*diffk"):
        prepare(config, progress=False)
    prepare(config.with_options(input="raw"), progress=False)  # the references' input: fine


@pytest.mark.parametrize("sampling", ["uniform", "key", "all", "tim", "first"])
def test_every_other_mode_keeps_the_onset_as_frame_0(tiny_casme2, tmp_path, sampling):
    frames = None if sampling == "key" else 4
    out = _extract(tiny_casme2, tmp_path / f"{sampling}.h5", sampling, frames)
    with ClipStore(out) as s:
        for r in s.records():
            assert stored_onset_index(r) == 0 and r["frame_numbers"][0] == r["onset"]


# --------------------------------------------------------------------------------------------
# the references' selections
# --------------------------------------------------------------------------------------------


def _steps(n: int, jumps: dict[int, int], size: int = 8) -> np.ndarray:
    """n gray frames whose brightness jumps by jumps[i] between frame i-1 and frame i."""
    rng = np.random.default_rng(0)
    level = np.cumsum([jumps.get(i, 0) for i in range(n)]) + 60
    frames = level[:, None, None, None] + rng.integers(0, 2, (n, size, size, 1))
    return frames.astype(np.uint8)


def test_diffk_after_and_before_keep_the_two_sides_of_each_change():
    frames = _steps(20, {5: 30, 12: 50, 17: 20, 3: 4})
    numbers = list(range(200, 220))
    plan = all_frames(numbers, 200, 210, 219)
    _, after = diffk_refine(frames, plan, 3)
    assert after.numbers == [205, 212, 217]
    before_mode = get_sampling("diffk-before")
    out, before = before_mode.refine(frames, plan, 3)
    assert before.numbers == [204, 211, 216]  # the frame before each change, as EXT keeps
    assert np.array_equal(out, frames[[4, 11, 16]])
    # a change right after the onset keeps the onset itself
    _, early = before_mode.refine(_steps(10, {1: 40, 6: 30}), all_frames(range(10), 0, None, 9), 2)
    assert early.numbers == [0, 5] and "onset not kept" not in early.note


def test_first_n_frames_from_onset():
    plan = first_frames(list(range(40, 71)), 40, 50, 70, 10)
    assert plan.numbers == list(range(40, 50)) and plan.note == ""
    short = first_frames([1, 2, 3, 5], 1, None, 5, 6)  # frame 4 dropped, 4 frames < 6
    assert short.numbers[0] == 1 and len(short.numbers) == 6 and "repeat" in short.note


def test_extension_per_dataset_choices_are_named_modes():
    """The dual-branch extension's selections (docs/references.md#audit-1-1-4), each a mode."""
    expected = {
        "ext-casme2": ("diffk-before", 30),
        "ext-casme3": ("diffk-before", 30),
        "ext-samm": ("uniform", 30),
        "ext-smic": ("first", 10),
    }
    for name, (like, frames) in expected.items():
        mode = get_sampling(name)
        assert mode.fixed_frames == frames and name in SAMPLING_MODES
        assert mode.choose is get_sampling(like).choose
        assert mode.refine is get_sampling(like).refine
    assert get_sampling("ext-deception").fixed_frames == 16
    window = get_sampling("ext-deception").choose(list(range(60)), 0, None, 59, 16)
    assert window.numbers == list(range(5, 21))  # video positions 5..20, as the script reads


# --------------------------------------------------------------------------------------------
# --frames with a mode of fixed length (issue 17 item 5)
# --------------------------------------------------------------------------------------------


def test_frames_given_to_a_fixed_length_mode_is_an_error(tiny_casme2, tmp_path):
    with pytest.raises(ValueError, match="always keeps 9 frames"):
        ExtractConfig(
            dataset="casme2", root=tiny_casme2, out=tmp_path / "k.h5", sampling="key", frames=20
        )
    config = ExtractConfig(
        dataset="casme2", root=tiny_casme2, out=tmp_path / "k.h5", sampling="key"
    )
    assert config.frames == 9 and config.output_params()["frames"] == 9
    assert ExtractConfig(dataset="casme2", root=tiny_casme2, out=tmp_path / "u.h5").frames == 30


def test_cli_refuses_frames_with_key(tiny_casme2, tmp_path, cli_runner):
    from merprep.cli import cli

    result = cli_runner.invoke(
        cli,
        [
            "extract",
            "--dataset",
            "casme2",
            "--root",
            str(tiny_casme2),
            "-o",
            str(tmp_path / "k.h5"),
            "--sampling",
            "key",
            "--frames",
            "20",
            "--no-progress",
        ],
    )
    assert result.exit_code == 2 and "always keeps 9 frames" in result.output
    assert not (tmp_path / "k.h5").exists()
