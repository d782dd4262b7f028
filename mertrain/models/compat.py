"""Fields added to a model's configuration after runs were recorded without them.

A run's identity (``--resume``, ``mertrain report --merge``) includes its architecture as
recorded; a field added later, at the default that reproduces the earlier graph, must not
change the identity of the runs recorded before it existed. Such fields are listed with that
default and left out of the record while they hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def without_added_defaults(record: dict[str, Any], added: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without the later-added fields that hold their earlier-behaviour default."""
    return {k: v for k, v in record.items() if not (k in added and v == added[k])}
