"""The clip-store schema: version constants and JSON Schema checks of metadata."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import jsonschema

# re-exported for old imports: the one canonical JSON is merprep.jsonutil's
from merprep.jsonutil import canonical_json

__all__ = [
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "SUPPORTED_MAJOR",
    "canonical_json",
    "clip_errors",
    "load_schema",
    "parse_version",
    "root_errors",
]

FORMAT_NAME = "merprep-clipstore"
#: Bump the minor version for additions old readers can ignore, the major one for breaking changes.
SCHEMA_VERSION = "1.0.0"
SUPPORTED_MAJOR = 1


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package (a copy of the top-level schemas/clipstore-v1.json)."""
    text = resources.files("merprep").joinpath("schemas/clipstore-v1.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(definition: str) -> jsonschema.Draft202012Validator:
    schema = load_schema()
    sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(sub)


def root_errors(attrs: dict[str, Any]) -> list[str]:
    """Schema violations of the root attributes (an empty list when valid)."""
    return [_format(e) for e in _validator("root").iter_errors(attrs)]


def clip_errors(record: dict[str, Any]) -> list[str]:
    """Schema violations of one clip record (an empty list when valid)."""
    return [_format(e) for e in _validator("clip").iter_errors(record)]


def _format(err: jsonschema.ValidationError) -> str:
    path = "/".join(str(p) for p in err.absolute_path)
    return f"{path or '(root)'}: {err.message}"


def parse_version(text: str) -> tuple[int, int, int]:
    major, minor, patch = (int(x) for x in str(text).split("."))
    return major, minor, patch
