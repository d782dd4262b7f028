"""Explicit, documented corrections to an annotation file's cells (``extract --corrections``).

Official annotation files carry known mistakes (CAS(ME)^3 part A has an offset written as 0 and
apexes outside their clips; CASME II has a wrong offset). Rather than fixing them in code, as
some loaders do, or editing a copy of a licensed file, the user writes what they correct, cell
by cell, in a small CSV that travels with their results:

    row,column,was,value,reason
    798,Offset,0,1830,"offset typed as 0; 1830 from the frames on disk"

``row`` is the 1-based row as the spreadsheet shows it (the number merprep's problem messages
print), ``column`` the header as written in the file, ``was`` the cell's current text (so a
correction never lands on another release of the file, where that row may be another clip),
``value`` the new text (empty = blank cell) and ``reason`` why (required). Corrections are
applied to the table as read, before any row is parsed or checked, so a corrected row passes
through exactly the same checks as every other row. Each applied correction is logged and
recorded in its clip's record (``extra.corrections``); the file's sha256 goes into the store's
parameters. An optional ``source`` column says where a correction comes from; the shipped
errata (:mod:`merprep.datasets.errata`, ``--corrections known``) cite file and line there.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from merprep.datasets.tables import read_table, text_cell
from merprep.errors import AnnotationError

log = logging.getLogger(__name__)

COLUMNS = ("row", "column", "was", "value", "reason")


@dataclass(frozen=True)
class Correction:
    """One cell correction; ``line`` is its own row in the corrections file."""

    row: int
    column: str
    was: str
    value: str
    reason: str
    line: int
    source: str = ""  # optional column: where the fix comes from (shipped errata cite file:line)

    def to_dict(self) -> dict[str, Any]:
        out = {"column": self.column, "was": self.was, "value": self.value, "reason": self.reason}
        if self.source:
            out["source"] = self.source
        return out


class CorrectionTable:
    """The corrections of one file, checked as a whole when loaded."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        table = read_table(self.path, required=COLUMNS)
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.items: list[Correction] = []
        errors: list[str] = []
        seen: dict[tuple[int, str], int] = {}
        for _, cells in table.iterrows():
            line = int(cells["__row__"])
            row_text = text_cell(cells["row"])
            column, reason = text_cell(cells["column"]), text_cell(cells["reason"])
            if not row_text.isdigit() or int(row_text) < 1:
                errors.append(
                    f"row {line}: 'row' must be a spreadsheet row number, got {row_text!r}"
                )
                continue
            if not column:
                errors.append(f"row {line}: 'column' is empty")
                continue
            if not reason:
                errors.append(f"row {line}: 'reason' is empty (say why the cell is corrected)")
                continue
            key = (int(row_text), column)
            if key in seen:
                errors.append(
                    f"row {line}: row {key[0]} column {column!r} is already corrected "
                    f"on row {seen[key]}"
                )
                continue
            seen[key] = line
            self.items.append(
                Correction(
                    int(row_text),
                    column,
                    text_cell(cells["was"]),
                    text_cell(cells["value"]),
                    reason,
                    line,
                    text_cell(cells["source"]) if "source" in cells.index else "",
                )
            )
        if errors:
            raise AnnotationError("bad corrections file: " + "; ".join(errors), file=self.path)

    def apply(self, table: pd.DataFrame, annotation_file: Path) -> dict[int, list[dict]]:
        """Correct ``table`` (as returned by ``read_table`` for ``annotation_file``) in place;
        returns {spreadsheet row: [applied corrections]}. Every correction must apply: a row
        that is not a data row, an unknown column or a cell that does not hold ``was`` is an
        error naming the correction's line, and nothing is changed."""
        positions = {int(r): i for i, r in enumerate(table["__row__"])}
        errors: list[str] = []
        todo: list[tuple[int, Correction]] = []
        for c in self.items:
            where = f"row {c.line} (corrects row {c.row}, column {c.column!r})"
            if c.column not in table.columns or c.column == "__row__":
                found = ", ".join(
                    x for x in table.columns if x != "__row__" and not x.startswith("Unnamed")
                )
                errors.append(
                    f"{where}: no such column in {annotation_file.name} (columns: {found})"
                )
            elif c.row not in positions:
                errors.append(f"{where}: not a data row of {annotation_file.name}")
            else:
                current = text_cell(table.at[positions[c.row], c.column])
                if current != c.was:
                    errors.append(
                        f"{where}: the cell holds {current!r}, the correction "
                        f"expects {c.was!r} (another release of the file?)"
                    )
                else:
                    todo.append((positions[c.row], c))
        if errors:
            raise AnnotationError(
                "corrections do not match " + str(annotation_file) + ": " + "; ".join(errors),
                file=self.path,
            )
        applied: dict[int, list[dict]] = {}
        for i, c in todo:
            table.at[i, c.column] = c.value if c.value else None
            applied.setdefault(c.row, []).append(c.to_dict())
            log.info(
                "%s row %d, %s: %r -> %r (%s)",
                annotation_file.name,
                c.row,
                c.column,
                c.was,
                c.value,
                c.reason,
            )
        return applied
