"""The merprep command line: one meaning per option name, short forms, ranges, help, examples."""

from __future__ import annotations

import click
import numpy as np
import pytest

from merprep.cli import COMMANDS, cli

#: commands whose work takes more than a few seconds on a real dataset
LONG_RUNNING = ("extract", "flow", "crop-au", "magnify")


def commands() -> dict[str, click.Command]:
    return {name: COMMANDS.get(name) for name in COMMANDS.names()}


def visible_options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def test_every_option_has_help_and_every_command_ends_with_an_example(cli_runner):
    for name, command in commands().items():
        for opt in visible_options(command):
            assert opt.help, f"merprep {name} {opt.opts[0]} has no help text"
        res = cli_runner.invoke(cli, [name, "--help"])
        assert res.exit_code == 0, res.output
        last = [line for line in res.output.splitlines() if line.strip()][-1].strip()
        assert last.startswith(f"Example: merprep {name} "), (name, last)


def test_short_forms_and_progress_flags():
    for name, command in commands().items():
        for opt in visible_options(command):
            if "--out" in opt.opts:
                assert "-o" in opt.opts, name
            if "--workers" in opt.opts:
                assert "-j" in opt.opts, name
                assert isinstance(opt.type, click.IntRange) and opt.type.min == 0
        if name in LONG_RUNNING:
            progress = [o for o in command.params if "--progress" in o.opts]
            assert progress and progress[0].secondary_opts == ["--no-progress"], name


def test_an_option_name_means_one_thing_in_every_command():
    """The same long name has the same kind of value everywhere (and the same help for the
    worker count); ``show --frames`` (frames drawn, not frames per clip) became ``--max-frames``
    and survives only as a hidden, deprecated alias."""
    kinds: dict[str, set[str]] = {}
    helps: dict[str, set[str]] = {}
    for command in commands().values():
        for opt in visible_options(command):
            for flag in opt.opts:
                kinds.setdefault(flag, set()).add(type(opt.type).__name__)
                helps.setdefault(flag, set()).add(opt.help or "")
    assert all(len(k) == 1 for k in kinds.values()), kinds
    assert len(helps["--workers"]) == 1
    show = COMMANDS.get("show")
    old = next(p for p in show.params if "--frames" in p.opts)
    assert old.hidden and old.deprecated
    assert any("--max-frames" in p.opts for p in visible_options(show))


def _range(command: str, flag: str) -> tuple:
    opt = next(p for p in COMMANDS.get(command).params if flag in p.opts)
    return opt.type.min, opt.type.max


def test_cli_ranges_are_the_library_bounds():
    from merprep import flow as flow_lib
    from merprep import magnify, regions
    from merprep.extract import config

    assert _range("extract", "--size") == config.SIZE_RANGE
    assert _range("extract", "--margin") == config.MARGIN_RANGE
    assert _range("extract", "--frames") == (config.MIN_FRAMES, None)
    assert _range("flow", "--size") == flow_lib.SIZE_RANGE
    assert _range("crop-au", "--size") == regions.SIZE_RANGE
    assert _range("crop-au", "--margin") == regions.MARGIN_RANGE
    assert _range("magnify", "--levels") == magnify.LEVELS_RANGE
    import merprep.commands.extract as extract_cmd
    from merprep.store.codec import FRAME_COMPRESSIONS

    assert extract_cmd.FRAME_COMPRESSIONS == FRAME_COMPRESSIONS


def test_out_of_range_values_are_refused_by_the_cli_with_the_flag(cli_runner, tmp_path):
    res = cli_runner.invoke(
        cli,
        [
            "extract",
            "--dataset",
            "casme2",
            "--root",
            str(tmp_path),
            "-o",
            str(tmp_path / "s.h5"),
            "--size",
            "8",
        ],
    )
    assert res.exit_code == 2 and "--size" in res.output and "16<=x<=1024" in res.output
    res = cli_runner.invoke(
        cli,
        [
            "extract",
            "--dataset",
            "casme2",
            "--root",
            str(tmp_path),
            "-o",
            str(tmp_path / "s.h5"),
            "-j",
            "-1",
        ],
    )
    assert res.exit_code == 2 and "--workers" in res.output
    assert not (tmp_path / "s.h5").exists()


def test_library_messages_name_fields_not_flags(tmp_path):
    from merprep.errors import MerprepError
    from merprep.extract import ExtractConfig
    from merprep.flow import FlowConfig
    from merprep.magnify import MagnifyConfig
    from merprep.regions import CropConfig

    with pytest.raises(ValueError, match=r"^size must be between 16 and 1024, got 8$"):
        ExtractConfig(dataset="casme2", root=tmp_path, out=tmp_path / "s.h5", size=8)
    with pytest.raises(ValueError, match=r"^workers must be >= 0"):
        ExtractConfig(dataset="casme2", root=tmp_path, out=tmp_path / "s.h5", workers=-1)
    with pytest.raises(MerprepError, match=r"^size must be between 4 and 1024, got 2$"):
        FlowConfig(size=2)
    with pytest.raises(MerprepError, match=r"^mode must be one of"):
        CropConfig(mode="bogus")
    with pytest.raises(MerprepError, match=r"^levels must be between 1 and 8, got 9$"):
        MagnifyConfig(alpha=2, low=1, high=5, levels=9)


def test_show_max_frames_and_its_old_name(casme2_store, tmp_path, cli_runner):
    import cv2

    images = {}
    for flag in ("--max-frames", "--frames"):
        png = tmp_path / f"{flag.strip('-')}.png"
        res = cli_runner.invoke(cli, ["show", str(casme2_store), flag, "3", "-o", str(png)])
        assert res.exit_code == 0, res.output
        images[flag] = cv2.imread(str(png))
    assert np.array_equal(images["--max-frames"], images["--frames"])
    # the old name still works, and says so
    res = cli_runner.invoke(
        cli, ["show", str(casme2_store), "--frames", "3", "-o", str(tmp_path / "x.png")]
    )
    assert "deprecated" in res.output.lower() and "--max-frames" in res.output
