"""Options shared by the commands that use trained models (predict, evaluate, export,
explain); ``progress_option`` is merprep's, re-exported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from merprep.clitools import progress_option

model_argument = click.argument(
    "model", type=click.Path(exists=True, file_okay=False, path_type=Path)
)


def fold_option(f: Any) -> Any:
    return click.option(
        "--fold",
        default=None,
        metavar="K|NAME",
        help="With a run directory: use only this saved fold (its index, e.g. 0, or its "
        "name, e.g. casme2/sub01) instead of the mean of every saved fold.",
    )(f)


def workers_option(f: Any) -> Any:
    return click.option(
        "-j",
        "--workers",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="CPU threads TensorFlow may use (0 = its default: every core).",
    )(f)


def split_ids(values: tuple[str, ...]) -> list[str] | None:
    ids = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return ids or None


__all__ = ["fold_option", "model_argument", "progress_option", "split_ids", "workers_option"]
