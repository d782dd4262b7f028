"""Finding a dataset's annotation file under its root (case-insensitive globs, bounded depth)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path


def find_file(roots: Iterable[Path], patterns: Iterable[str], depth: int = 2) -> Path | None:
    """First file matching one of ``patterns`` (glob, case-insensitive on the name) in ``roots``
    or their subfolders up to ``depth``; patterns earlier in the list win, newest name last."""
    roots = [r for r in roots if r.is_dir()]
    for pattern in patterns:
        rx = re.compile(_glob_to_regex(pattern), re.IGNORECASE)
        for root in roots:
            hits = []
            for d in _walk(root, depth):
                hits += [p for p in d.iterdir() if p.is_file() and rx.match(p.name)]
            if hits:
                return sorted(hits)[-1]  # e.g. the newest dated coding file
    return None


def _walk(root: Path, depth: int):
    yield root
    if depth <= 0:
        return
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for d in subdirs:
        yield from _walk(d, depth - 1)


def _glob_to_regex(pattern: str) -> str:
    return "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
