"""AU rule tables: which landmark points bound the face region an action unit moves.

A table is an ordered list of rules (first match wins) written in the iBUG 68-point scheme
(0-based), so every landmark backend can use it: the reference one (:data:`DEFAULT_RULES`), or
one read from a YAML/JSON file (``crop-au --rules``, format in docs/au-regions.md) whose every
entry is checked, with errors that name the file and the entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from merprep.errors import MerprepError

#: The name of the whole-face fallback region.
FACE = "face"
N_POINTS = 68


class RulesError(MerprepError):
    """An AU rules file is unreadable or an entry in it is wrong."""


@dataclass(frozen=True)
class Rule:
    """AU codes -> landmark points whose bounding box is the region. ``margin`` None means the
    command's ``--margin``."""

    name: str
    codes: tuple[int, ...]
    points: tuple[int, ...]
    margin: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "codes": list(self.codes),
            "points": list(self.points),
            "margin": self.margin,
        }


@dataclass(frozen=True)
class RuleTable:
    """Ordered rules (first match wins) and the region used when none matches."""

    rules: tuple[Rule, ...]
    fallback: str = FACE

    def to_dict(self) -> dict[str, Any]:
        return {"rules": [r.to_dict() for r in self.rules], "fallback": self.fallback}

    def get(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


#: The reference table (docs/references.md#model-b), dlib/iBUG 68-point indices, 0-based.
DEFAULT_RULES = RuleTable(
    (
        Rule("eyes", (4, 5, 7, 43), (19, 24, 15, 1)),
        Rule("mouth", (10, 12, 14, 15, 17), (3, 5, 11, 13)),
        Rule("eyebrows", (1, 2), (17, 19, 24, 26)),
        Rule("cheeks", (6, 9), (1, 29, 15, 3, 13)),
    )
)


def load_rules(path: Path | str) -> RuleTable:
    """Read and validate a YAML or JSON rules file (format: docs/au-regions.md)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read the rules file ({exc.strerror})", file=path) from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError: report, no traceback
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise RulesError(
            f"not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {first}", file=path
        ) from None
    return parse_rules(data, path)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_rules(data: Any, source: Path | str = "<rules>") -> RuleTable:
    """Validate the decoded rules document; errors name the file and the bad entry."""

    def fail(msg: str) -> RulesError:
        return RulesError(msg, file=source)

    if not isinstance(data, dict):
        raise fail("the top level must be a mapping with a 'rules' list")
    unknown = set(data) - {"rules", "fallback"}
    if unknown:
        raise fail(
            f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))} "
            "(allowed: rules, fallback)"
        )
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise fail("'rules' must be a non-empty list")
    rules: list[Rule] = []
    for i, entry in enumerate(raw_rules):
        where = f"rules[{i}]"
        if not isinstance(entry, dict):
            raise fail(f"{where} must be a mapping with name, codes, points")
        name = entry.get("name")
        if isinstance(name, str) and name:
            where += f" ({name!r})"
        extra = set(entry) - {"name", "codes", "points", "margin"}
        if extra:
            raise fail(
                f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))} "
                "(allowed: name, codes, points, margin)"
            )
        if not isinstance(name, str) or not name.strip():
            raise fail(f"{where}: 'name' must be a non-empty string")
        if name == FACE:
            raise fail(f"{where}: {FACE!r} is reserved for the whole-face fallback")
        if any(r.name == name for r in rules):
            raise fail(f"{where}: duplicate rule name")
        codes = entry.get("codes")
        if (
            not isinstance(codes, list)
            or not codes
            or not all(_is_int(c) and c >= 0 for c in codes)
        ):
            raise fail(f"{where}: 'codes' must be a non-empty list of AU numbers, got {codes!r}")
        points = entry.get("points")
        if not isinstance(points, list) or len(points) < 2 or not all(_is_int(p) for p in points):
            raise fail(
                f"{where}: 'points' must be a list of at least 2 landmark indices, got {points!r}"
            )
        bad = [p for p in points if not 0 <= p < N_POINTS]
        if bad:
            raise fail(f"{where}: point(s) {bad} are not 68-point indices (0-{N_POINTS - 1})")
        margin = entry.get("margin")
        if margin is not None and (
            isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 2
        ):
            raise fail(f"{where}: 'margin' must be a number between 0 and 2, got {margin!r}")
        rules.append(
            Rule(name, tuple(codes), tuple(points), None if margin is None else float(margin))
        )
    fallback = data.get("fallback", FACE)
    if fallback != FACE and not any(r.name == fallback for r in rules):
        raise fail(f"fallback {fallback!r} is neither {FACE!r} nor the name of a rule")
    return RuleTable(tuple(rules), fallback)
