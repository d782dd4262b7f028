"""The MEGC2019 composite protocol: SMIC-HS + CASME II + SAMM, 3 classes, LOSO over 68 subjects.

The official ground truth (``data/megc2019_combined_3class_gt.csv``, 442 rows, no header:
dataset, subject, filename, label with 0 negative, 1 positive, 2 surprise) decides which clips
take part and their labels; the stores only have to hold them. Store clips not in the list are
excluded (counted); listed clips the stores lack are counted per dataset and make the run
*partial*. The list writes SAMM subjects as integers (``6``) and SMIC ones as ``s01``; SMIC's own
folders say ``s1``/``s1_ne_01``: both sides go through :func:`match_key` before matching.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from merprep.ids import clip_id, local_name, subject_id
from mertrain.protocols.tasks import Task
from mertrain.protocols.types import ProtocolError, Sample

log = logging.getLogger(__name__)

#: dataset order of the composite, and the official counts per dataset (docs/references.md#megc2019)
DATASETS = ("smic", "casme2", "samm")
OFFICIAL_COUNTS = {"smic": 164, "casme2": 145, "samm": 133}
CLASSES = ("negative", "positive", "surprise")
TASK = "3class"


@dataclass(frozen=True)
class OfficialSample:
    dataset: str
    subject: str  # canonical store spelling: sub01, 006, s01
    clip: str
    label: int

    @property
    def clip_id(self) -> str:
        return clip_id(self.dataset, self.subject, self.clip)

    @property
    def subject_id(self) -> str:
        return subject_id(self.dataset, self.subject)


def _dataset(name: str) -> str | None:
    """Store/list dataset name -> composite dataset; only SMIC's high-speed camera counts."""
    n = str(name).strip().lower()
    if n in ("smic", "smic-hs", "smic_hs"):
        return "smic"
    if n in ("casme2", "casmeii", "casme_ii"):
        return "casme2"
    if n == "samm":
        return "samm"
    return None


def _subject(dataset: str, subject: str) -> str:
    s = str(subject).strip().lower()
    digits = re.sub(r"^(sub|s)", "", s)
    if not digits.isdigit():
        return s
    n = int(digits)
    return {"casme2": f"sub{n:02d}", "samm": f"{n:03d}", "smic": f"s{n:02d}"}[dataset]


def _clip(dataset: str, clip: str) -> str:
    c = str(clip).strip()
    if dataset == "smic":  # s1_ne_01 -> s01_ne_01
        c = re.sub(r"^s0*(\d+)_", lambda m: f"s{int(m.group(1)):02d}_", c, flags=re.I)
    return c.lower()


def match_key(dataset: str, subject: str, clip: str) -> tuple[str, str, str] | None:
    """The spelling-independent key a listed sample and a store record are matched on."""
    ds = _dataset(dataset)
    if ds is None:
        return None
    return ds, _subject(ds, subject), _clip(ds, clip)


@lru_cache(maxsize=1)
def official_list() -> tuple[OfficialSample, ...]:
    """The 442 official samples, in file order."""
    text = (
        resources.files("mertrain.protocols")
        .joinpath("data/megc2019_combined_3class_gt.csv")
        .read_text("utf-8")
    )
    out = []
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        ds = _dataset(row[0])
        if ds is None:
            raise ProtocolError(f"official MEGC2019 list: unknown dataset {row[0]!r}")
        out.append(OfficialSample(ds, _subject(ds, row[1]), row[2].strip(), int(row[3])))
    return tuple(out)


def official_samples(
    records: Iterable[Mapping[str, Any]], task: Task
) -> tuple[list[Sample], dict[str, Any]]:
    """(samples present in the stores with their official labels, coverage info).

    Fold subjects use the list's spelling (``samm/006``), so every store version produces the
    same fold names. Raises when the task is not 3class or a whole dataset is absent.
    """
    if task.name != TASK or tuple(task.classes) != CLASSES:
        raise ProtocolError(
            f"protocol 'megc2019' is the 3-class composite ({', '.join(CLASSES)}); "
            f"use --task {TASK} (got {task.name!r})"
        )
    listed = {match_key(o.dataset, o.subject, o.clip): o for o in official_list()}
    found: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    excluded = 0
    for r in records:
        key = match_key(r["dataset"], r["subject"], r.get("clip") or local_name(r["clip_id"]))
        if key is not None and key in listed:
            if key in found:
                raise ProtocolError(
                    f"MEGC2019 sample {listed[key].clip_id} is in the stores "
                    f"twice ({found[key]['clip_id']}, {r['clip_id']})"
                )
            found[key] = r
        else:
            excluded += 1
    present = dict.fromkeys(DATASETS, 0)
    missing = dict.fromkeys(DATASETS, 0)
    disagree = 0
    samples = []
    for listed_key, o in listed.items():
        rec = found.get(listed_key) if listed_key is not None else None
        if rec is None:
            missing[o.dataset] += 1
            continue
        present[o.dataset] += 1
        own = task.label(rec)
        disagree += own is not None and own != o.label
        samples.append(Sample(rec["clip_id"], o.dataset, o.subject_id, o.label))
    absent = [ds for ds in DATASETS if present[ds] == 0]
    if absent:
        raise ProtocolError(
            "protocol 'megc2019' needs SMIC(-HS), CASME II and SAMM stores together; none of "
            + "; ".join(
                f"the {OFFICIAL_COUNTS[ds]} listed {ds} clips (e.g. "
                f"{next(o.clip_id for o in official_list() if o.dataset == ds)})"
                for ds in absent
            )
            + " are in the given stores: extract each dataset as released (its clip names are "
            "the official ones) or, to try the protocol on samples, generate trees named after "
            "the list with `merprep sample --dataset " + "|".join(absent) + " --megc`"
        )
    listed_subjects = sorted({o.subject_id for o in official_list()})
    have_subjects = {s.subject_id for s in samples}
    if disagree:
        log.warning(
            "%d MEGC2019 sample(s) carry a store emotion whose 3-class mapping differs "
            "from the official label; the official label is used",
            disagree,
        )
    info = {
        "partial": any(missing.values()),
        "official": dict(OFFICIAL_COUNTS),
        "present": present,
        "missing": missing,
        "missing_subjects": [s for s in listed_subjects if s not in have_subjects],
        "excluded": excluded,
        "label_disagreements": disagree,
    }
    return sorted(samples, key=lambda s: s.clip_id), info
