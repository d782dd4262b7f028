"""merprep.parallel: worker counts from CPU affinity and cgroup quota; the bounded spawn pool."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from merprep import parallel
from merprep.extract import ExtractConfig
from merprep.flow import FlowConfig


@pytest.fixture
def one_cpu(monkeypatch):
    """This process may use CPU 0 only (as ``taskset -c 0`` or a SLURM allocation set it)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr(parallel, "_cgroup_cpu_quota", lambda path: None)


def test_worker_count_follows_the_affinity_not_the_cpu_count(one_cpu, monkeypatch, tmp_path):
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert parallel.available_cpus() == 1
    assert parallel.worker_count(0) == 1
    assert parallel.worker_count(3) == 3  # an explicit count is taken as given
    with pytest.raises(ValueError, match="workers must be >= 0"):
        parallel.worker_count(-1)
    config = ExtractConfig(dataset="casme2", root=tmp_path, out=tmp_path / "s.h5", workers=0)
    assert config.n_workers == 1
    assert FlowConfig(workers=0).n_workers == 1
    assert FlowConfig(workers=2).n_workers == 2


def test_the_cgroup_quota_caps_the_affinity(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(parallel, "_cgroup_cpu_quota", lambda path: 3)
    assert parallel.available_cpus() == parallel.worker_count(0) == 3
    monkeypatch.setattr(parallel, "_cgroup_cpu_quota", lambda path: 16)
    assert parallel.available_cpus() == 8  # a quota above the affinity changes nothing


@pytest.mark.parametrize(
    "text, cpus",
    [
        ("max 100000\n", None),  # no quota
        ("200000 100000\n", 2),
        ("150000 100000\n", 2),  # 1.5 CPUs of time: two workers keep it busy
        ("50000 100000\n", 1),  # under one CPU still gets one worker
        ("100000\n", None),  # malformed
        ("abc 100000\n", None),
        ("100000 0\n", None),
        ("", None),
    ],
)
def test_cgroup_cpu_max_parser(tmp_path, text, cpus):
    path = tmp_path / "cpu.max"
    path.write_text(text)
    assert parallel._cgroup_cpu_quota(path) == cpus


def test_cgroup_cpu_max_missing_file_means_no_quota(tmp_path):
    assert parallel._cgroup_cpu_quota(tmp_path / "absent") is None


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_worker_count_in_a_process_pinned_to_one_cpu():
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from merprep.parallel import worker_count; print(worker_count(0))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["1"]


def test_map_in_workers_returns_every_result_from_the_workers():
    items = [(float(x),) for x in range(12)]
    got = dict(parallel.map_in_workers(math.sqrt, items, workers=2))
    assert got == {(float(x),): math.sqrt(x) for x in range(12)}
    pids = {pid for _, pid in parallel.map_in_workers(os.getpid, [()] * 6, workers=2)}
    assert pids and os.getpid() not in pids  # the work ran in other processes


def test_map_in_workers_names_the_item_a_worker_failed_on():
    """A worker's exception stops the work as one WorkerFailed (a MerprepError: one line, exit 2)
    naming the item and the exception, chained to the worker's own exception."""
    items = [(4.0,), (9.0,), (-1.0,), (16.0,)]  # sqrt(-1): ValueError in a worker
    seen = []
    with pytest.raises(
        parallel.WorkerFailed, match=r"item \(-1.0,\).*ValueError: math domain"
    ) as e:
        for _, result in parallel.map_in_workers(math.sqrt, items, workers=2):
            seen.append(result)
    assert isinstance(e.value.__cause__, ValueError)
    assert set(seen) <= {2.0, 3.0, 4.0}


def test_map_clips_runs_inline_with_one_worker():
    results = list(
        parallel.map_clips(os.getpid, [()] * 3, workers=1, total=3, desc="t", progress=False)
    )
    assert [r for _, r in results] == [os.getpid()] * 3
