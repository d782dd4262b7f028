"""``merprep info`` and ``merprep validate``."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from merprep.clitools import example


@click.command(epilog=example("merprep info casme2.h5 --json"))
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(store: Path, as_json: bool) -> None:
    """Counts per dataset, subject and emotion, array shapes, version and provenance."""
    from merprep.store import ClipStore  # h5py: not imported to list the commands

    with ClipStore(store) as s:
        summary = s.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    click.echo(
        f"{summary['path']}  (clip store schema {summary['schema_version']}, "
        f"merprep {summary['merprep_version']}, created {summary['created']})"
    )
    click.echo(f"  fingerprint  {summary['fingerprint']}")
    click.echo(
        f"  clips        {summary['n_clips']} ({summary['n_skipped']} skipped at extraction)"
    )
    click.echo("  datasets     " + ", ".join(f"{k}: {v}" for k, v in summary["datasets"].items()))
    click.echo(
        f"  subjects     {len(summary['subjects'])}: "
        + ", ".join(f"{k} ({v})" for k, v in summary["clips_per_subject"].items())
    )
    click.echo("  emotions     " + ", ".join(f"{k}: {v}" for k, v in summary["emotions"].items()))
    if summary["corrected"]:
        click.echo(
            f"  corrected    {len(summary['corrected'])} clip(s) by --corrections: "
            + ", ".join(summary["corrected"])
        )
    click.echo(
        "  frames       "
        + ", ".join(f"{k} x{v}" for k, v in summary["frame_shapes"].items())
        + f" uint8 {summary['color']}"
    )
    click.echo(
        f"  landmarks    {summary['landmark_backend']} ({summary['landmark_backend_version']})"
    )
    for name, st in summary["stages"].items():
        click.echo(f"  stage        {name}: {', '.join(st.get('arrays', []))}")
    click.echo(f"  command      {summary['command']}")


@click.command(epilog=example("merprep validate casme2.h5 --json"))
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--quick", is_flag=True, help="Metadata only; do not read every chunk.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the problems as a JSON list of {file, row, clip_id, message} "
    "(empty when valid); the exit status is the same.",
)
def validate(store: Path, quick: bool, as_json: bool) -> None:
    """Check schema, checksums and cross-references; exit 1 listing every problem."""
    from merprep.store import validate_store  # h5py: not imported to list the commands

    problems = validate_store(store, check_data=not quick)
    if as_json:
        click.echo(json.dumps([asdict(p) for p in problems], indent=2, ensure_ascii=False))
        if problems:
            sys.exit(1)
        return
    if problems:
        click.echo(f"{store}: {len(problems)} problem(s)", err=True)
        for p in problems:
            click.echo(f"  - {p}", err=True)
        sys.exit(1)
    click.echo(f"{store}: valid")
