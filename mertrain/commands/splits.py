"""``mertrain splits``: print the folds a protocol gives on some stores (no training)."""

from __future__ import annotations

from pathlib import Path

import click

from mertrain.data import StoreCollection
from mertrain.protocols import PROTOCOLS, TASKS, build_splits


@click.command()
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--protocol", default="loso", show_default=True, type=click.Choice(list(PROTOCOLS)))
@click.option("--task", default="3class", show_default=True, type=click.Choice(list(TASKS)))
@click.option(
    "--test-subjects", multiple=True, help="holdout: test subjects (repeat or comma-separate)."
)
@click.option("--k", type=int, default=None, help="kfold: number of folds.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="The canonical JSON a run saves as splits.json (byte-identical).",
)
def splits(stores, protocol, task, test_subjects, k, as_json):
    """Print the train/test folds of PROTOCOL on STORE(s): a pure function of the stores' clip
    records, the protocol and the task (every model gets the same folds).

    Example: mertrain splits smic.h5 casme2.h5 samm.h5 --protocol megc2019 --json
    """
    subjects = [v.strip() for item in test_subjects for v in item.split(",") if v.strip()]
    if subjects and protocol != "holdout":
        raise click.UsageError("--test-subjects is for --protocol holdout")
    if k is not None and protocol != "kfold":
        raise click.UsageError("--k is for --protocol kfold")
    with StoreCollection(stores) as collection:
        _, result = build_splits(collection.records(), protocol, task, test_subjects=subjects, k=k)
    click.echo(result.to_json() if as_json else result.summary())
