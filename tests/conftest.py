"""Shared fixtures: sample datasets and stores built once per test session.

Everything here is real: `merprep sample` writes a dataset in the official layout from the
shipped photographs, and `merprep extract` (dlib) turns it into a clip store.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(scope="session")
def casme2_sample(tmp_path_factory) -> Path:
    """A small CASME II-format dataset: 3 subjects x 6 clips of 12 frames (2 per 3-class class)."""
    from merprep.sample import generate

    out = tmp_path_factory.mktemp("casme2_sample") / "CASME2"
    generate("casme2", out, subjects=3, clips_per_subject=6, clip_length=12, seed=0)
    return out


@pytest.fixture(scope="session")
def casme2_store(casme2_sample, tmp_path_factory) -> Path:
    """The sample above extracted with dlib: 8 frames of 64x64 RGB per clip."""
    from merprep.pipeline import ExtractConfig, extract

    out = tmp_path_factory.mktemp("stores") / "casme2.h5"
    extract(
        ExtractConfig(dataset="casme2", root=casme2_sample, out=out, frames=8, size=64, workers=2),
        command="pytest fixture",
        progress=False,
    )
    return out


@pytest.fixture
def cli_runner():
    """Invoke a click command in-process and return the result (exit code, output)."""
    from click.testing import CliRunner

    return CliRunner()
