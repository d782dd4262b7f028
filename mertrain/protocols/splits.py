"""Train/test splits as a pure function of (clip records, protocol, task).

Every model run on the same stores with the same protocol gets byte-identical splits: folds and
clip ids are sorted, and the JSON form is canonical, so its sha256 identifies the split.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from mertrain.protocols.tasks import Task


@dataclass(frozen=True)
class Sample:
    """One labelled clip as the protocols see it."""

    clip_id: str
    dataset: str
    subject_id: str
    label: int


@dataclass
class Fold:
    name: str
    test: list[str]
    train: list[str]


@dataclass
class Splits:
    protocol: str
    task: str
    classes: list[str]
    folds: list[Fold]
    info: dict[str, Any] = field(default_factory=dict)  # e.g. partial coverage, exclusions

    def payload(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "task": self.task,
            "classes": list(self.classes),
            "folds": [{"name": f.name, "test": f.test, "train": f.train} for f in self.folds],
            "info": self.info,
        }

    @property
    def sha256(self) -> str:
        return hashlib.sha256(_canonical(self.payload()).encode("utf-8")).hexdigest()

    def to_json(self) -> str:
        """Canonical JSON (sorted keys) with the sha256 of everything else included."""
        return _canonical({**self.payload(), "sha256": self.sha256})

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, text: str) -> "Splits":
        d = json.loads(text)
        splits = cls(d["protocol"], d["task"], list(d["classes"]),
                     [Fold(f["name"], list(f["test"]), list(f["train"])) for f in d["folds"]],
                     dict(d.get("info") or {}))
        if "sha256" in d and d["sha256"] != splits.sha256:
            raise ValueError("splits file was edited: its sha256 does not match its content")
        return splits

    def test_clip_ids(self) -> list[str]:
        return [c for f in self.folds for c in f.test]


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def labelled_samples(records: Iterable[Mapping[str, Any]], task: Task) -> list[Sample]:
    """The records the task uses, as Samples sorted by clip id."""
    out = []
    for r in records:
        label = task.label(r)
        if label is not None:
            out.append(Sample(r["clip_id"], r["dataset"], r["subject_id"], label))
    return sorted(out, key=lambda s: s.clip_id)


def loso(samples: list[Sample], task: Task) -> Splits:
    """Leave one subject out: one fold per subject, trained on every other subject's clips."""
    subjects = sorted({s.subject_id for s in samples})
    folds = []
    for subject in subjects:
        test = [s.clip_id for s in samples if s.subject_id == subject]
        train = [s.clip_id for s in samples if s.subject_id != subject]
        folds.append(Fold(subject, test, train))
    return Splits("loso", task.name, list(task.classes), folds)


PROTOCOLS = {"loso": loso}


def make_splits(samples: list[Sample], protocol: str, task: Task, **options: Any) -> Splits:
    try:
        fn = PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of "
                         f"{', '.join(PROTOCOLS)}") from None
    return fn(samples, task, **options)
