"""The codec of a store's root attributes, shared by the writer, the reader and validation.

HDF5 attributes hold scalars and strings; the nested ones (``layout.JSON_ATTRS``: datasets,
params, stages) are stored as canonical JSON text, so they hash and compare byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from merprep.jsonutil import canonical_json
from merprep.store import layout


def encode_root_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Root attributes as HDF5 can hold them: JSON text for nested values."""
    out = {}
    for k, v in attrs.items():
        out[k] = canonical_json(v) if k in layout.JSON_ATTRS else v
    return out


def decode_root_attrs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Root attributes as Python values (bytes and numpy scalars unwrapped, JSON decoded)."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        if isinstance(v, np.generic):
            v = v.item()
        if k in layout.JSON_ATTRS and isinstance(v, str):
            v = json.loads(v)
        out[k] = v
    return out
