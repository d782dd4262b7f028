"""User-facing errors.

Everything a user can cause (a bad path, a bad spreadsheet cell, a damaged store) is raised as a
:class:`MerprepError` subclass carrying the file and, where there is one, the row. The CLI turns
these into a one-line message and a non-zero exit instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class MerprepError(Exception):
    """An error the user can fix; printed without a traceback by the CLI."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | Path | None = None, row: int | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.row is None else f"{self.file}, row {self.row}"
            where += ": "
        return f"{where}{self.message}"


class AnnotationError(MerprepError):
    """A dataset's annotation file could not be read or a row is wrong."""


class StoreError(MerprepError):
    """A clip store is missing, damaged, locked, or of an unsupported version."""


@dataclass
class Problem:
    """One problem found by a validation pass (several are reported together)."""

    message: str
    file: str | None = None
    row: int | None = None
    clip_id: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file if self.row is None else f"{self.file}, row {self.row}")
        if self.clip_id:
            parts.append(self.clip_id)
        prefix = " / ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


@dataclass
class ValidationFailed(MerprepError):
    """Several problems found before any heavy work; all are listed."""

    problems: list[Problem] = field(default_factory=list)
    what: str = "input"

    def __post_init__(self):
        lines = [f"{len(self.problems)} problem(s) in the {self.what}:"]
        lines += [f"  - {p}" for p in self.problems]
        MerprepError.__init__(self, "\n".join(lines))
