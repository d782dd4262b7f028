"""Uncertainty on every number (mertrain.uncertainty, mertrain.seeds, mertrain report A B).

- Coverage on simulated classifiers: subjects differ in how well the classifier does on them
  (a random effect); the 95% bootstrap interval over subjects holds the true UF1 in about 95%
  of seeded repetitions, the same bootstrap over clips in far fewer (it treats one subject's
  clips as independent).
- The vectorised UF1/UAR equal the MEGC2019 scores; intervals are seeded; paired differences
  of two runs on the same subjects; the t interval over seeds.
- ``mertrain report A B`` refuses runs on different splits, says when the stores differ, and
  prints the paired difference; ``mertrain run --seeds 2`` writes one run per seed and the
  summary, which ``mertrain report`` prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mertrain.metrics import scores
from mertrain.uncertainty import (
    bootstrap_ci,
    paired_difference,
    seed_spread,
    subject_confusions,
    uf1_uar,
)

K = 3
PRIOR = np.array([0.5, 0.3, 0.2])  # about the MEGC2019 composite's 250/109/83


def _true_uf1(mu: float, sigma: float) -> float:
    """The population UF1: the UF1 of the expected confusion matrix (accuracy on a subject is
    sigmoid(mu + sigma z), errors spread evenly over the other classes)."""
    z = np.random.default_rng(123).standard_normal(1_000_000)
    acc = float((1 / (1 + np.exp(-(mu + sigma * z)))).mean())
    cm = PRIOR[:, None] * np.where(np.eye(K, dtype=bool), acc, (1 - acc) / (K - 1))
    return float(uf1_uar(cm)[0])


def _simulate(rng: np.random.Generator, subjects: int, mu: float, sigma: float):
    n = 2 + rng.poisson(5, subjects)
    skill = 1 / (1 + np.exp(-(mu + sigma * rng.standard_normal(subjects))))
    groups = np.repeat(np.arange(subjects), n)
    y = rng.choice(K, len(groups), p=PRIOR)
    right = rng.random(len(groups)) < skill[groups]
    pred = np.where(right, y, (y + rng.integers(1, K, len(groups))) % K)
    return y, pred, [f"s{g:02d}" for g in groups]


def test_subject_bootstrap_covers_the_true_uf1_about_95_percent():
    mu, sigma, subjects, reps = 0.4, 1.0, 30, 300
    truth = _true_uf1(mu, sigma)
    rng = np.random.default_rng(0)
    by_subject = by_clip = 0
    for r in range(reps):
        y, p, g = _simulate(rng, subjects, mu, sigma)
        lo, hi = bootstrap_ci(y, p, g, K, n_boot=1000, seed=r)["uf1"]
        by_subject += lo <= truth <= hi
        lo, hi = bootstrap_ci(y, p, [str(i) for i in range(len(y))], K, n_boot=1000, seed=r)["uf1"]
        by_clip += lo <= truth <= hi
    # 300 repetitions: the binomial sd at 95% is 1.3 points
    assert 0.90 <= by_subject / reps <= 0.985, by_subject / reps
    # resampling clips ignores that a subject's clips succeed or fail together: too narrow
    assert by_clip / reps < 0.88, by_clip / reps


def test_vectorised_scores_are_the_megc2019_scores():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, k = int(rng.integers(1, 30)), int(rng.integers(2, 6))
        y, p = rng.integers(0, k, n), rng.integers(0, k, n)
        _, cms = subject_confusions(y, p, ["a"] * n, k)
        uf1, uar = uf1_uar(cms.sum(axis=0))
        s = scores(y, p, k)
        assert (float(uf1), float(uar)) == pytest.approx((s["uf1"], s["uar"]), abs=1e-12)


def test_interval_is_seeded_and_needs_two_subjects():
    rng = np.random.default_rng(2)
    y, p, g = _simulate(rng, 10, 0.5, 1.0)
    a = bootstrap_ci(y, p, g, K, seed=0)
    assert a == bootstrap_ci(y, p, g, K, seed=0) and a != bootstrap_ci(y, p, g, K, seed=1)
    point = scores(y, p, K)["uf1"]
    assert a["uf1"][0] <= point <= a["uf1"][1] and a["n_subjects"] == 10
    one = bootstrap_ci(y[:3], p[:3], ["s"] * 3, K)
    assert one["uf1"] is None and one["uar"] is None and one["n_subjects"] == 1


def test_paired_difference_cancels_what_the_subjects_share():
    rng = np.random.default_rng(3)
    y, a, g = _simulate(rng, 20, 0.0, 1.5)
    same = paired_difference(y, a, a, g, K)
    assert same["uf1"]["diff"] == 0 and same["uf1"]["ci"] == [0.0, 0.0]
    # B fixes one wrong clip of every subject: better everywhere, so the interval is above 0
    b = a.copy()
    for s in set(g):
        wrong = [i for i, x in enumerate(g) if x == s and a[i] != y[i]]
        if wrong:
            b[wrong[0]] = y[wrong[0]]
    d = paired_difference(y, a, b, g, K)
    assert d["uf1"]["diff"] > 0 and d["uf1"]["ci"][0] > 0
    # the separate intervals of A and B overlap although every subject improved
    ca, cb = bootstrap_ci(y, a, g, K)["uf1"], bootstrap_ci(y, b, g, K)["uf1"]
    assert cb[0] < ca[1]


def test_seed_spread_is_the_t_interval_of_the_mean():
    s = seed_spread([0.80, 0.82, 0.84])
    assert s["mean"] == pytest.approx(0.82) and s["sd"] == pytest.approx(0.02)
    half = 4.302652729911275 * 0.02 / np.sqrt(3)  # t(0.975, 2 df)
    assert s["ci"] == pytest.approx([0.82 - half, 0.82 + half])
    assert seed_spread([0.7])["sd"] is None


# --------------------------------------------------------------------------- report A B


def _run_dir(path: Path, proba_seed: int, fingerprint: str, folds=None, labels: int = 0) -> Path:
    """A run directory written from constructed fold records (no training)."""
    from mertrain.config import RunConfig
    from mertrain.folds import FoldOutcome
    from mertrain.protocols import Fold, Splits
    from mertrain.recipe import Recipe
    from mertrain.report import LoadedRun, write_outputs
    from mertrain.runrecord import RunRecord

    rng = np.random.default_rng(proba_seed)
    subjects = [f"casme2/sub{i:02d}" for i in range(1, 7)]
    folds = folds or [Fold(s, [f"{s}/c{j}" for j in range(5)], []) for s in subjects]
    truth = np.random.default_rng(labels)
    outcomes = {}
    for i, f in enumerate(folds):
        y = truth.integers(0, 3, len(f.test)).tolist()
        outcomes[i] = FoldOutcome(
            i, f.name, 0, list(f.test), ["casme2"] * len(f.test), [f.name] * len(f.test), y,
            rng.dirichlet(np.ones(3), len(f.test)), {}, 1.0,
        )  # fmt: skip
    splits = Splits("loso", "3class", ["negative", "positive", "surprise"], folds)
    config = RunConfig.from_options(stores=["s.h5"], out=str(path), model="stcnn-3dcnn")
    store = {"path": "s.h5", "fingerprint": fingerprint, "n_clips": 30}
    record = RunRecord(config, "stcnn-3dcnn", {}, Recipe(), [store])
    write_outputs(path, LoadedRun([Path("/nowhere")], record, splits, outcomes))
    return path


def test_report_compares_runs_on_one_split_only(tmp_path, cli_runner):
    from mertrain.cli import cli
    from mertrain.protocols import Fold

    a = _run_dir(tmp_path / "a", 1, "a" * 64)
    b = _run_dir(tmp_path / "b", 2, "a" * 64)
    c = _run_dir(tmp_path / "c", 3, "b" * 64)
    other = [Fold("casme2/sub01", ["casme2/sub01/c0"], [])]
    d = _run_dir(tmp_path / "d", 4, "a" * 64, folds=other)
    res = cli_runner.invoke(cli, ["report", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "95% CI, percentile bootstrap over subjects (6 subjects" in res.output
    assert f"{b} - {a}: UF1 " in res.output and "paired percentile bootstrap" in res.output
    assert "read other stores" not in res.output
    res = cli_runner.invoke(cli, ["report", str(a), str(c)])
    assert res.exit_code == 0 and f"note: {c} read other stores than {a}" in res.output
    res = cli_runner.invoke(cli, ["report", str(a), str(d)])
    assert res.exit_code == 2 and "different splits" in res.output
    assert "UF1 " not in res.output  # refused before any table
    e = _run_dir(tmp_path / "e", 5, "c" * 64, labels=1)  # same split, other labels
    res = cli_runner.invoke(cli, ["report", str(a), str(e)])
    assert res.exit_code == 2 and "carry other labels" in res.output
    res = cli_runner.invoke(cli, ["report", str(a), str(d), "--no-compare"])
    assert res.exit_code == 0 and res.output.count("== ") == 2 and "paired" not in res.output
    res = cli_runner.invoke(cli, ["report", str(a), str(b), "--json"])
    payload = json.loads(res.output)
    assert payload["paired_differences"][0]["n_subjects"] == 6


# --------------------------------------------------------------------------- --seeds


def test_run_with_seeds_writes_each_seed_and_the_summary(tmp_path, cli_runner):
    from test_run import write_store

    from mertrain.cli import cli

    store = write_store(tmp_path / "s.h5")
    out = tmp_path / "seeds"
    # the LBP-TOP SVM: a real run per seed in seconds (no Keras tracing)
    args = ["run", str(store), "--model", "lbptop-svm", "--frames", "8", "--size", "32"]
    args += ["--set", "grid=[2,2]", "--input", "raw"]
    res = cli_runner.invoke(cli, [*args, "--seed", "4", "--seeds", "2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["seed-4", "seed-5", "seeds.json"]
    summary = json.loads((out / "seeds.json").read_text())
    assert summary["seeds"] == [4, 5] and summary["uf1"]["n"] == 2
    per_seed = [json.loads((out / f"seed-{s}" / "results.json").read_text()) for s in (4, 5)]
    assert [p["uf1"] for p in summary["per_seed"]] == [r["uf1"] for r in per_seed]
    assert [r["seed"] for r in per_seed] == [4, 5]
    assert summary["uf1"]["mean"] == pytest.approx(np.mean([r["uf1"] for r in per_seed]))
    assert "seed-averaged UF1" in res.output and "over 2 seeds: mean" in res.output
    config = json.loads((out / "seed-5" / "config.json").read_text())["config"]
    assert config["recipe"]["seed"] == 5 and config["execution"]["seeds"] == 1
    shown = cli_runner.invoke(cli, ["report", str(out)])
    assert shown.exit_code == 0 and "seeds 4, 5" in shown.output
