"""The learned spotter (``mertrain spot-train``) under leave-one-subject-out against the
classical one (``merprep spot``) on generated long videos (docs/benchmarks.md, "Learned
spotter").

    python benchmarks/bench_learned_spot.py --seed 1 --work /tmp/bench_spot_dev   # dev videos
    python benchmarks/bench_learned_spot.py --seed 2 --work /tmp/bench_spot       # test videos

Honesty: the learned spotter's parameters (mertrain.spotting.config.LearnedSpotConfig defaults)
were chosen on seed-1 videos (the same sizes as below) and then fixed; seed 2 generates the
videos the classical spotter's figures are on (bench_spot.py accuracy: same sizes, same seed,
same folders), which neither spotter's parameters saw. Every seed-2 video is spotted by a model
that never saw its subject. Sample videos are easier than real ones (frontal faces, programmed
motions, rigid head motion without rotation, no lighting changes).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import LONG_SETS, load_average, machine, sample_long_store


def table(evaluation: dict, dataset: str) -> dict:
    t = evaluation["datasets"][dataset]
    return {
        k: {m: t[k][m] for m in ("tp", "fp", "fn", "precision", "recall", "f1")}
        for k in ("me", "mae", "overall")
    }


def main(work: Path, seed: int, classical: bool) -> dict:
    """Per dataset: the classical spotter and the learned one under leave-one-subject-out
    within the dataset; then the learned one under one leave-one-subject-out over the subjects
    of both samples (each held-out subject's networks trained on every other subject)."""
    import shutil

    from merprep.spotting.classical import SpotConfig
    from merprep.spotting.run import format_table, run_spot
    from mertrain.spotting.config import LearnedSpotConfig
    from mertrain.spotting.run import features_cache, run_spot_train

    config = LearnedSpotConfig()
    out: dict = {"seed": seed, "params": config.to_dict()}
    stores = []
    for dataset, subjects, videos, frames, stride in LONG_SETS:
        store = sample_long_store(work, dataset, subjects, videos, frames, stride, seed)
        stores.append(store)
        row: dict = {}
        if classical:
            t = time.perf_counter()
            result = run_spot(
                store,
                work / f"classical-{dataset}-seed{seed}",
                SpotConfig(),
                workers=2,
                progress=False,
            )
            print(
                f"classical, {dataset}, seed {seed}:\n{format_table(result.evaluation)}", flush=True
            )
            row["classical"] = {
                "table": table(result.evaluation, dataset),
                "seconds": time.perf_counter() - t,
            }
        t = time.perf_counter()
        learned = run_spot_train(
            store, work / f"learned-{dataset}-seed{seed}", config, workers=2, progress=False
        )
        print(
            f"learned, LOSO within {dataset}, seed {seed}:\n{format_table(learned.evaluation)}",
            flush=True,
        )
        row["learned_within"] = {
            "table": table(learned.evaluation, dataset),
            "seconds": time.perf_counter() - t,
        }
        out[dataset] = row
    both = work / f"learned-both-seed{seed}"
    both.mkdir(parents=True, exist_ok=True)
    for store, (dataset, *_) in zip(stores, LONG_SETS):  # the features computed above
        shutil.copy(
            features_cache(work / f"learned-{dataset}-seed{seed}", store),
            features_cache(both, store),
        )
    t = time.perf_counter()
    learned = run_spot_train(stores, both, config, workers=2, progress=False)
    print(
        f"learned, LOSO over both samples, seed {seed}:\n{format_table(learned.evaluation)}",
        flush=True,
    )
    out["both"] = {
        "tables": {d: table(learned.evaluation, d) for d, *_ in LONG_SETS},
        "combined": {k: learned.evaluation["combined"][k] for k in ("me", "mae", "overall")},
        "seconds": time.perf_counter() - t,
    }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2, help="1: dev videos, 2: test videos")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_spot"))
    parser.add_argument("--no-classical", action="store_true", help="Only the learned spotter.")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{machine()}; load {load_average()}")
    result = main(args.work, args.seed, not args.no_classical)
    print(json.dumps(result, indent=1, default=str))
    print(f"load after: {load_average()}")
