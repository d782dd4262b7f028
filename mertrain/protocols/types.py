"""The types every protocol module shares: a labelled clip, a fold, a split, and the error."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from merprep.errors import MerprepError
from merprep.fsio import atomic_write
from merprep.jsonutil import canonical_json, sha256_json


class ProtocolError(MerprepError):
    """A protocol that cannot be applied to these stores (empty class, unknown subject, ...)."""


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
    """Folds of clip ids plus what produced them; ``info`` holds coverage notes (MEGC2019
    missing/excluded counts, protocol options) and is part of the hashed content."""

    protocol: str
    task: str
    classes: list[str]
    folds: list[Fold]
    info: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "task": self.task,
            "classes": list(self.classes),
            "folds": [
                {"name": f.name, "test": list(f.test), "train": list(f.train)} for f in self.folds
            ],
            "info": self.info,
        }

    @property
    def sha256(self) -> str:
        return sha256_json(self.payload())

    @property
    def partial(self) -> bool:
        return bool(self.info.get("partial", False))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, one line) with the sha256 of everything else included;
        ``mertrain splits --json`` prints exactly this and runs save it as ``splits.json``."""
        return canonical_json({**self.payload(), "sha256": self.sha256})

    def save(self, path: Path | str) -> None:
        atomic_write(path, self.to_json() + "\n", durable=True)

    @classmethod
    def from_json(cls, text: str, source: str | None = None) -> Splits:
        try:
            d = json.loads(text)
            splits = cls(
                str(d["protocol"]),
                str(d["task"]),
                [str(c) for c in d["classes"]],
                [
                    Fold(str(f["name"]), [str(c) for c in f["test"]], [str(c) for c in f["train"]])
                    for f in d["folds"]
                ],
                dict(d.get("info") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(
                f"not a splits file ({exc.__class__.__name__}: {exc})", file=source
            ) from None
        if "sha256" in d and d["sha256"] != splits.sha256:
            raise ProtocolError(
                "splits file was edited: its sha256 does not match its content", file=source
            )
        return splits

    @classmethod
    def load(cls, path: Path | str) -> Splits:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProtocolError(f"cannot read splits file ({exc.strerror})", file=path) from None
        return cls.from_json(text, source=str(path))

    def test_clip_ids(self) -> list[str]:
        return [c for f in self.folds for c in f.test]

    def summary(self) -> str:
        """A few human lines: folds, test/train sizes, coverage."""
        sizes = [len(f.test) for f in self.folds]
        lines = [
            f"protocol {self.protocol}  task {self.task}  classes {', '.join(self.classes)}",
            f"{len(self.folds)} folds, {sum(sizes)} test clips "
            f"(per fold {min(sizes, default=0)}-{max(sizes, default=0)})",
            f"sha256 {self.sha256}",
        ]
        if self.info.get("partial"):
            missing = self.info.get("missing", {})
            lines.append(
                "PARTIAL: listed samples missing from the stores: "
                + ", ".join(f"{ds} {n}" for ds, n in missing.items() if n)
            )
        if self.info.get("excluded"):
            lines.append(f"excluded {self.info['excluded']} store clip(s) not in the official list")
        for i, f in enumerate(self.folds):
            lines.append(f"  {i:>3} {f.name:<28} test {len(f.test):>4}  train {len(f.train):>5}")
        return "\n".join(lines)
