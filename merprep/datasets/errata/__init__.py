"""Known annotation errata, shipped as data (``merprep extract --corrections known``).

Public loaders fix some cells of the official annotation files in code (docs/references.md#audit-7);
here each fix is a row of a corrections file (:mod:`merprep.datasets.corrections` format plus a
``source`` column citing file and line), one file per release of a dataset's annotation file,
checked against the real files (``tests/test_datasets_real.py``):

- CAS(ME)^3 part A v2 (``casme3_partA_v2.csv``): the 7 cells MEB corrects.
- SAMM v2 (``samm_micro_v2.csv``): MEB's two apexes outside their clips and its choices for 5
  ``or`` AU cells; ``samm_micro_v2_apexes_fixed.csv`` for the circulating copy whose two apexes
  were already fixed by hand (the AU rows only).
- CASME II (``casme2_coding.csv``): the one apex written ``/`` in both public releases; MEB's
  other rows are for a copy of the file whose cells differ from both, so they are not shipped.

Nothing is applied unless asked for. With ``known``, the first release whose every ``was``
matches the file read is applied (each applied correction is recorded in its clip's record, as
with ``--corrections FILE``); when none matches, extraction stops naming every mismatch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from merprep.datasets.corrections import CorrectionTable
from merprep.errors import AnnotationError, MerprepError

log = logging.getLogger(__name__)

#: the value of ``--corrections`` that selects the shipped errata
KNOWN = "known"

#: dataset (CAS(ME)^3 with its part) -> the corrections files of its releases, tried in order
RELEASES: dict[str, tuple[str, ...]] = {
    "casme2": ("casme2_coding.csv",),
    "samm": ("samm_micro_v2.csv", "samm_micro_v2_apexes_fixed.csv"),
    "casme3": ("casme3_partA_v2.csv",),
}


def _key(dataset: str, options: Mapping[str, Any] | None) -> str:
    if dataset == "casme3" and str((options or {}).get("part") or "A").upper() != "A":
        return "casme3-C"
    return dataset


def release_files(dataset: str, options: Mapping[str, Any] | None = None) -> list[Path]:
    """The shipped corrections files for ``dataset`` (MerprepError when there are none)."""
    names = RELEASES.get(_key(dataset, options))
    if not names:
        shipped = "casme2, samm, casme3 (part A)"
        raise MerprepError(
            f"no known errata are shipped for {_key(dataset, options)} (they are for "
            f"{shipped}); pass --corrections FILE with your own corrections"
        )
    folder = resources.files(__name__)
    return [Path(str(folder.joinpath(name))) for name in names]


def errata_sha256(dataset: str, options: Mapping[str, Any] | None = None) -> str:
    """sha256 over the shipped files of ``dataset`` (recorded in the store's params)."""
    h = hashlib.sha256()
    for path in release_files(dataset, options):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


class KnownCorrections:
    """The shipped errata of one dataset, used like a :class:`CorrectionTable`."""

    def __init__(self, dataset: str, options: Mapping[str, Any] | None = None):
        self.tables = [CorrectionTable(p) for p in release_files(dataset, options)]
        self.sha256 = errata_sha256(dataset, options)
        self.applied_release: str | None = None

    def apply(self, table: pd.DataFrame, annotation_file: Path) -> dict[int, list[dict]]:
        """Apply the first release whose corrections all match ``table``."""
        mismatches = []
        for release in self.tables:
            try:
                applied = release.apply(table, Path(annotation_file))
            except AnnotationError as exc:
                mismatches.append(f"[{release.path.name}] {exc.message}")
                continue
            self.applied_release = release.path.name
            log.info(
                "known errata %s: %d cell(s) of %s corrected",
                release.path.name,
                sum(len(v) for v in applied.values()),
                Path(annotation_file).name,
            )
            return applied
        raise AnnotationError(
            "--corrections known: no shipped release of the errata matches this file (another "
            "release, or already corrected?); nothing was changed. "
            + " ".join(mismatches)
            + " Pass --corrections FILE with the rows that apply to your copy.",
            file=annotation_file,
        )


__all__ = ["KNOWN", "RELEASES", "KnownCorrections", "errata_sha256", "release_files"]
