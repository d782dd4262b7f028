"""The one canonical JSON of the project: every stored record and every hash uses it.

Sorted keys, no whitespace, UTF-8 kept as is: the same object always gives the same text, so
its sha256 identifies the content (store records and fingerprints, splits, run identities).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace, non-ASCII kept)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(obj: Any) -> str:
    """sha256 (hex) of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values (tuples as lists; anything else JSON lacks as ``str``), so a
    value hashed now and the same value read back from a JSON file hash alike."""
    return json.loads(json.dumps(obj, default=str))
