"""The README's MEGC2019 composite block, run verbatim on sample data (see test_readme.py).

A module of its own so that, on several test workers, it runs beside the typical session
instead of after it (each takes minutes).
"""

from __future__ import annotations

import json

import pytest
from test_readme import run_lines, section_blocks


@pytest.mark.slow
def test_readme_megc2019_composite_runs_as_written(tmp_path, monkeypatch, cli_runner):
    block = section_blocks("Typical session")[1]
    monkeypatch.chdir(tmp_path)
    run_lines(block, cli_runner)
    results = json.loads((tmp_path / "runs/megc/results.json").read_text())
    assert set(results["per_dataset"]) == {"smic", "casme2", "samm"}
    assert len(results["per_subject"]) == 6  # 2 subjects of each dataset, one fold each
