"""The README's command blocks, run verbatim on sample data (they are written at small sizes).

A block that stops working fails here, so the README cannot drift from the software. Each line is
split like a shell would (``shlex``, comments dropped) and given to the ``merprep`` or
``mertrain`` click group in a fresh working directory.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"


def section_blocks(heading: str) -> list[list[str]]:
    """The ``sh`` blocks under a ``## heading`` of the README, as lists of command lines."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else None]
    return [
        [ln for ln in block.splitlines() if ln.strip()]
        for block in re.findall(r"```sh\n(.*?)```", body, flags=re.S)
    ]


def run_lines(lines: list[str], cli_runner) -> dict[str, str]:
    """Run each README line through its CLI; returns the output of each, by line."""
    from merprep.cli import cli as merprep_cli
    from mertrain.cli import cli as mertrain_cli

    groups = {"merprep": merprep_cli, "mertrain": mertrain_cli}
    outputs = {}
    for line in lines:
        argv = shlex.split(line, comments=True)
        assert argv[0] in groups, f"README line is not a merprep/mertrain command: {line}"
        res = cli_runner.invoke(groups[argv[0]], [*argv[1:], *_quiet(argv)])
        assert res.exit_code == 0, f"README: {line}\n{res.output}"
        outputs[line] = res.output
    return outputs


def _quiet(argv: list[str]) -> list[str]:
    """``--no-progress`` where the command has it (progress bars on a pipe only add noise)."""
    has_progress = {"sample", "extract", "crop-au", "flow", "run"}
    return ["--no-progress"] if len(argv) > 1 and argv[1] in has_progress else []


@pytest.mark.slow
def test_readme_typical_session_runs_as_written(tmp_path, monkeypatch, cli_runner):
    (block,) = section_blocks("Typical session")[:1]
    monkeypatch.chdir(tmp_path)
    outputs = run_lines(block, cli_runner)
    for picture in ("clip.png", "flow.png"):
        assert (tmp_path / picture).stat().st_size > 1000
    results = json.loads((tmp_path / "runs/a/results.json").read_text())
    assert results["n"] == 24 and len(results["per_subject"]) == 4
    # sample motions are learnable: well above the 1/3 of chance even after 10 epochs
    assert results["uar"] > 0.5, results["uar"]
    report = next(out for line, out in outputs.items() if line.startswith("mertrain report"))
    assert "pooled" in report


def test_readme_gpu_commands_name_real_options():
    """The GPU block cannot run here; every option it uses must still exist on its command."""
    from merprep.cli import COMMANDS as MERPREP
    from mertrain.cli import COMMANDS as MERTRAIN

    (block,) = section_blocks("On a GPU")
    for line in block:
        argv = shlex.split(line, comments=True)
        if argv[0] not in ("merprep", "mertrain"):
            continue
        command = (MERPREP if argv[0] == "merprep" else MERTRAIN).get(argv[1])
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        used = {a for a in argv[2:] if a.startswith("--")}
        assert used <= known, (line, used - known)
