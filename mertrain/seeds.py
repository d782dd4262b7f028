"""``mertrain run --seeds N``: the same run with N seeds, and what the seeds change.

Layout: one ordinary run directory per seed under ``--out`` (``OUT/seed-S`` for seeds S = the
run's seed, +1, ..., each with ``execution.seeds`` 1, so each resumes, reruns and reports on its
own) and ``OUT/seeds.json``, the summary: every seed's pooled UF1/UAR/ACC with its interval
over subjects, their mean and sample sd, the t interval of the mean over seeds (seed variation
only, on these subjects), and the bootstrap interval over subjects of the seed-averaged score
(subject sampling; every seed's predictions on the same resampled subjects). The seeds share
the split, so their predictions are paired clip by clip.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mertrain.config import RunConfig
from mertrain.results import compute_results, prediction_rows
from mertrain.rundir import RunDirError, load_run, read_json, write_text
from mertrain.runner import RunResult, run
from mertrain.uncertainty import bootstrap_seed_mean, seed_spread

log = logging.getLogger(__name__)

SUMMARY = "seeds.json"
FORMAT = "mertrain-seeds"


def seed_dir(out: Path | str, seed: int) -> Path:
    return Path(out) / f"seed-{seed}"


def seed_configs(config: RunConfig) -> list[RunConfig]:
    """One configuration per seed: recipe.seed + i, out/seed-S, seeds 1."""
    n, base = config.execution.seeds, config.recipe.seed
    return [
        config.replace(
            recipe=dataclasses.replace(config.recipe, seed=base + i),
            execution=dataclasses.replace(
                config.execution, out=str(seed_dir(config.out, base + i)), seeds=1
            ),
        )
        for i in range(n)
    ]


def run_seeds(
    config: RunConfig,
    *,
    progress: bool | None = None,
    command: str | None = None,
    on_seed: Callable[[int, RunResult], None] | None = None,
) -> dict[str, Any]:
    """Train every seed (each an ordinary :func:`mertrain.runner.run`), then write and return
    the summary (``OUT/seeds.json``)."""
    configs = seed_configs(config)
    Path(config.out).mkdir(parents=True, exist_ok=True)
    for cfg in configs:
        log.info("seed %d of %d: %s", cfg.recipe.seed, len(configs), cfg.out)
        result = run(cfg, progress=progress, command=command)
        if on_seed is not None:
            on_seed(cfg.recipe.seed, result)
    return write_summary(config, command)


def write_summary(config: RunConfig, command: str | None = None) -> dict[str, Any]:
    """Summarise the seed directories of ``config`` and write ``OUT/seeds.json``."""
    seeds = [c.recipe.seed for c in seed_configs(config)]
    summary = summarise(config.out, seeds, command)
    write_text(Path(config.out) / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return summary


def summarise(out: Path | str, seeds: list[int], command: str | None = None) -> dict[str, Any]:
    """The summary of the seed directories under ``out`` (from their fold records)."""
    runs = [load_run(seed_dir(out, s)) for s in seeds]
    shas = {r.splits.sha256 for r in runs}
    if len(shas) != 1:
        raise RunDirError("the seed runs were evaluated on different splits", file=out)
    results = [compute_results(r) for r in runs]
    per_seed = [
        {
            "seed": s,
            "run": seed_dir(out, s).name,
            **{k: r[k] for k in ("uf1", "uar", "acc", "n", "complete")},
            "ci": {k: r["ci"][k] for k in ("uf1", "uar")},
            "failed_folds": r["failed_folds"],
        }
        for s, r in zip(seeds, results)
    ]
    rows = [{x["clip_id"]: x for x in prediction_rows(r)} for r in runs]
    common = sorted(set.intersection(*(set(r) for r in rows)))
    first = rows[0]
    spread = bootstrap_seed_mean(
        [first[c]["y_true"] for c in common],
        [[r[c]["y_pred"] for c in common] for r in rows],
        [first[c]["subject"] for c in common],
        len(runs[0].splits.classes),
    )
    head = results[0]
    return {
        "format": FORMAT,
        "version": 1,
        "seeds": seeds,
        "model": head["model"],
        "protocol": head["protocol"],
        "task": head["task"],
        "select": head["select"],
        "splits_sha256": head["splits_sha256"],
        "per_seed": per_seed,
        **{k: seed_spread([p[k] for p in per_seed]) for k in ("uf1", "uar", "acc")},
        "subject_bootstrap_of_the_mean": {**spread, "clips": len(common)},
        "complete": all(p["complete"] for p in per_seed),
        "failed": any(p["failed_folds"] for p in per_seed),
        "command": command,
    }


def load_summary(out: Path | str) -> dict[str, Any]:
    data = read_json(Path(out) / SUMMARY)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RunDirError("not a seeds summary", file=Path(out) / SUMMARY)
    return data


def _f(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def _range(r: list[float] | None) -> str:
    return "n/a" if r is None else f"[{r[0]:.3f}, {r[1]:.3f}]"


def format_seeds(summary: dict[str, Any]) -> str:
    """The summary as text: one line per seed, then mean, sd and the two intervals."""
    lines = [
        f"model {summary['model']}  protocol {summary['protocol']}  task {summary['task']}  "
        f"select {summary['select']}  seeds {', '.join(str(s) for s in summary['seeds'])}",
        f"{'seed':<8} {'UF1':>6} {'UF1 95% CI (subjects)':>22} {'UAR':>6} {'ACC':>6}",
    ]
    for p in summary["per_seed"]:
        flag = "" if p["complete"] else "  INCOMPLETE"
        lines.append(
            f"{p['seed']:<8} {_f(p['uf1']):>6} {_range(p['ci']['uf1']):>22} {_f(p['uar']):>6} "
            f"{_f(p['acc']):>6}{flag}"
        )
    lines.append("-" * 52)
    for key in ("uf1", "uar"):
        s = summary[key]
        lines.append(
            f"{key.upper()} over {s['n']} seeds: mean {_f(s['mean'])}  sd {_f(s['sd'])}  "
            f"95% t interval of the mean (seed variation) {_range(s['ci'])}"
        )
    b = summary["subject_bootstrap_of_the_mean"]
    lines.append(
        f"seed-averaged UF1 {_range(b['uf1'])}  UAR {_range(b['uar'])}  (95% {b['method']}, "
        f"{b['n_subjects']} subjects, {b['clips']} clips every seed tested)"
    )
    return "\n".join(lines)
