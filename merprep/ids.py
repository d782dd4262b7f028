"""Clip and subject ids: ``dataset/subject/clip`` and ``dataset/subject``, built and read here only.

A clip id is a path inside the store (``/clips/<clip_id>``) and the key every protocol, fold
record and prediction row uses, so its three parts must be safe path components.
"""

from __future__ import annotations

import re
from typing import NamedTuple

SEPARATOR = "/"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class ClipKey(NamedTuple):
    dataset: str
    subject: str
    clip: str


def is_safe_name(name: str) -> bool:
    """A name usable as one path component of a clip id (no '/', no '..', no leading dot)."""
    return bool(_SAFE_NAME.match(name)) and ".." not in name


def clip_id(dataset: str, subject: str, clip: str) -> str:
    """``casme2/sub01/EP02_01``: unique across datasets."""
    return SEPARATOR.join((dataset, subject, clip))


def subject_id(dataset: str, subject: str) -> str:
    """``casme2/sub01``: what protocols group by (unique across datasets)."""
    return SEPARATOR.join((dataset, subject))


def parse_clip_id(text: str) -> ClipKey:
    """The (dataset, subject, clip) of a clip id; ValueError unless it has exactly three parts."""
    parts = str(text).split(SEPARATOR)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"clip id {text!r}: expected dataset/subject/clip")
    return ClipKey(*parts)


def subject_of(clip: str) -> str:
    """The subject id of a clip id (``casme2/sub01/EP02_01`` -> ``casme2/sub01``)."""
    key = parse_clip_id(clip)
    return subject_id(key.dataset, key.subject)


def local_name(subject_or_clip_id: str) -> str:
    """The last part of an id (``casme2/sub01`` -> ``sub01``), as users type subjects."""
    return str(subject_or_clip_id).rsplit(SEPARATOR, 1)[-1]
