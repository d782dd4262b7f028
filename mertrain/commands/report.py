"""``mertrain report``: tables for run directories, a comparison on one split with paired
differences, shard merging, and the summary of a ``--seeds`` directory."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--merge",
    is_flag=True,
    help="The RUN_DIRs are shards (--folds subsets) of ONE "
    "run: pool their folds (same splits sha256 and configuration required).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the (merged) run's outputs here: predictions.csv, results.json, "
    "pictures and fold records; may be the RUN_DIR itself to rebuild its outputs.",
)
@click.option(
    "--no-compare",
    is_flag=True,
    help="Several RUN_DIRs: print each table only (no comparison; runs on different "
    "splits are refused otherwise).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def report(run_dirs, merge, out, no_compare, as_json):
    """Print each run's per-subject, per-dataset and pooled table (recomputed from its fold
    records: pooled UF1/UAR with their 95% interval over subjects, and what the same predictions
    score under the published protocols) and, for several runs on ONE split, a side-by-side
    comparison with the paired difference of each run to the first. A directory written by
    `mertrain run --seeds N` prints its summary over seeds.

    Example: mertrain report runs/a runs/b
    """
    from mertrain.report import (
        check_comparable,
        compare_runs,
        compute_results,
        format_comparison,
        format_differences,
        format_table,
        load_run,
        merge_runs,
        write_outputs,
    )
    from mertrain.seeds import SUMMARY, format_seeds, load_summary

    seeded = [p for p in run_dirs if (p / SUMMARY).is_file() and not (p / "config.json").exists()]
    if seeded:
        if len(run_dirs) != 1 or merge or out is not None:
            raise click.UsageError(
                f"{seeded[0]} holds one run per seed: report it alone, or report (and "
                "compare) its seed-K run directories"
            )
        summary = load_summary(seeded[0])
        click.echo(json.dumps(summary, indent=2) if as_json else format_seeds(summary))
        return
    if out is not None and not merge and len(run_dirs) != 1:
        raise click.UsageError("--out writes one run: give one RUN_DIR, or shards with --merge")
    runs = [load_run(p) for p in run_dirs]
    notes: list[str] = []
    diffs: list[dict] = []
    if merge or out is not None:
        merged = merge_runs(runs)
        results = write_outputs(out, merged) if out else compute_results(merged)
        named = [(merged.name, results)]
    else:
        if len(runs) > 1 and not no_compare:
            notes = check_comparable(runs)
            diffs = compare_runs(runs)
        named = [(str(r.paths[0]), compute_results(r)) for r in runs]
    if as_json:
        payload = named[0][1] if len(named) == 1 else dict(named)
        if diffs:
            payload = {"runs": payload, "paired_differences": diffs}
        click.echo(json.dumps(payload, indent=2))
        return
    for name, results in named:
        click.echo(f"== {name}")
        click.echo(format_table(results))
        click.echo("")
    if len(named) > 1 and not no_compare:
        click.echo(format_comparison(named))
        click.echo(format_differences(diffs))
        for note in notes:
            click.echo(note)
    if out:
        click.echo(f"run directory written: {out}")
