"""``mertrain report``: tables for run directories, a comparison, and shard merging."""

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
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def report(run_dirs, merge, out, as_json):
    """Print each run's per-subject, per-dataset and pooled table (recomputed from its fold
    records) and, for several runs, a side-by-side comparison.

    Example: mertrain report runs/a runs/b
    """
    from mertrain.report import (
        compute_results,
        format_comparison,
        format_table,
        load_run,
        merge_runs,
        write_outputs,
    )

    if out is not None and not merge and len(run_dirs) != 1:
        raise click.UsageError("--out writes one run: give one RUN_DIR, or shards with --merge")
    runs = [load_run(p) for p in run_dirs]
    if merge or out is not None:
        merged = merge_runs(runs)
        results = write_outputs(out, merged) if out else compute_results(merged)
        named = [(merged.name, results)]
    else:
        named = [(str(r.paths[0]), compute_results(r)) for r in runs]
    if as_json:
        payload = named[0][1] if len(named) == 1 else dict(named)
        click.echo(json.dumps(payload, indent=2))
        return
    for name, results in named:
        click.echo(f"== {name}")
        click.echo(format_table(results))
        click.echo("")
    if len(named) > 1:
        click.echo(format_comparison(named))
    if out:
        click.echo(f"run directory written: {out}")
