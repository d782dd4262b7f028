"""The official MEGC2019 composite list, as data for ``merprep sample --megc``.

``megc2019_combined_3class_gt.csv`` beside this module is a byte-for-byte copy of the
challenge's ground truth that mertrain ships (``mertrain/protocols/data/``; a test keeps the two
equal; merprep never imports mertrain). Its rows are ``dataset, subject, filename, label`` with
labels 0 negative, 1 positive, 2 surprise; SAMM subjects are integers (``6``), SMIC's ``s01``.
With ``--megc`` the CASME II, SAMM and SMIC writers take their subjects, clip names and 3-class
groups from it, so the composite protocol finds the sample clips.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

from merprep.errors import MerprepError

LIST_FILE = "megc2019_combined_3class_gt.csv"
DATASETS = ("casme2", "samm", "smic")
GROUPS = ("negative", "positive", "surprise")  # label 0, 1, 2


@lru_cache(maxsize=1)
def _rows() -> tuple[tuple[str, str, str, int], ...]:
    text = resources.files(__package__).joinpath(LIST_FILE).read_text("utf-8")
    return tuple(
        (r[0].strip(), r[1].strip(), r[2].strip(), int(r[3]))
        for r in csv.reader(io.StringIO(text))
        if r
    )


def listed(
    dataset: str, subjects: int, clips_per_subject: int
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The first ``subjects`` subjects of ``dataset`` in list order, each with up to
    ``clips_per_subject`` of its listed clips: [(subject as listed, [(clip, 3-class group)])]."""
    if dataset not in DATASETS:
        raise MerprepError(f"--megc applies to {', '.join(DATASETS)} (the composite's datasets)")
    by_subject: dict[str, list[tuple[str, str]]] = {}
    for ds, subject, clip, label in _rows():
        if ds == dataset:
            by_subject.setdefault(subject, []).append((clip, GROUPS[label]))
    if subjects > len(by_subject):
        raise MerprepError(
            f"the MEGC2019 list has {len(by_subject)} {dataset} subjects; ask for at most that "
            f"many with --megc (got {subjects})"
        )
    return [(s, clips[:clips_per_subject]) for s, clips in list(by_subject.items())[:subjects]]


def count(dataset: str, subjects: int, clips_per_subject: int) -> int:
    return sum(len(clips) for _, clips in listed(dataset, subjects, clips_per_subject))
