"""Content digests: one per clip, one per store, computed while writing and checked by validate."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from merprep.jsonutil import canonical_json


def array_digest_update(h: hashlib._Hash, name: str, arr: NDArray[Any]) -> None:
    """Feed one named array (dtype, shape and bytes) into a running hash."""
    arr = np.ascontiguousarray(arr)
    h.update(f"{name}|{arr.dtype.str}|{arr.shape}".encode())
    h.update(arr.tobytes())


def clip_digest(record: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> str:
    """sha256 over the clip's canonical JSON record and its arrays in name order."""
    h = hashlib.sha256()
    h.update(canonical_json(record).encode("utf-8"))
    for name in sorted(arrays):
        array_digest_update(h, name, arrays[name])
    return h.hexdigest()


def combined_digest(items: Iterable[tuple[str, str]]) -> str:
    """sha256 over ``(clip_id, digest)`` pairs in the order given (the store's index order)."""
    h = hashlib.sha256()
    for clip_id, digest in items:
        h.update(f"{clip_id}\t{digest}\n".encode())
    return h.hexdigest()
