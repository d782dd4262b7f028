"""JSON Schema checks of a run directory's records (``schemas/rundir-v1.json``, shipped in the
package as ``mertrain/schemas/rundir-v1.json``): config.json, fold records, results.json."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import jsonschema

RECORD_KINDS = ("config", "fold", "results")


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    text = resources.files("mertrain").joinpath("schemas/rundir-v1.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown run-directory record kind {kind!r}; one of {RECORD_KINDS}")
    schema = load_schema()
    return jsonschema.Draft202012Validator(
        {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"}
    )


def record_errors(kind: str, data: Any) -> list[str]:
    """Schema violations of one record (empty when valid)."""
    out = []
    for err in _validator(kind).iter_errors(data):
        path = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{path or '(root)'}: {err.message}")
    return out
