"""Reading the long-video workbooks cell by cell, as they are (no header guessing, no pandas).

The CAS(ME)^2 workbook has no header row, SAMM Long Videos has nine preamble rows, CAS(ME)^3
part A is a legacy BIFF ``.xls``: each adapter says where its rows are and reads positional
cells through :class:`Row`, which records a :class:`~merprep.errors.Problem` (file, row as a
spreadsheet shows it) for a bad cell and a *quirk* for a cell that is kept but normalised.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xlrd

from merprep.errors import AnnotationError, Problem

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def sheet_names(path: Path) -> list[str]:
    path = Path(path)
    if path.suffix.lower() == ".xls":
        return list(_xls_book(path).sheet_names())
    return list(_xlsx_book(path).sheetnames)


def read_rows(path: Path, sheet: str | int = 0) -> list[tuple[int, list[Any]]]:
    """Every row of one sheet as ``(row number as a spreadsheet shows it, cell values)``.

    Cells keep their stored type (int, float, str, None); ``.xlsx`` formula cells give their
    saved value. Raises :class:`AnnotationError` naming the file for a missing or unreadable
    file or an unknown sheet.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError("annotation file not found", file=path)
    try:
        if path.suffix.lower() == ".xls":
            book = _xls_book(path)
            names = book.sheet_names()
            ws = book.sheet_by_index(_index(names, sheet, path))
            return [(i + 1, [_xls_value(c) for c in ws.row(i)]) for i in range(ws.nrows)]
        if path.suffix.lower() in (".csv", ".txt"):
            with path.open(newline="", encoding="utf-8-sig") as fh:
                return [(i + 1, list(r)) for i, r in enumerate(csv.reader(fh))]
        wb = _xlsx_book(path)
        try:
            ws = wb[wb.sheetnames[_index(wb.sheetnames, sheet, path)]]
            return [(i + 1, list(r)) for i, r in enumerate(ws.iter_rows(values_only=True))]
        finally:
            wb.close()
    except AnnotationError:
        raise
    except Exception as exc:  # openpyxl/xlrd raise many types for damaged files
        raise AnnotationError(
            f"cannot read annotation file ({exc.__class__.__name__}: {str(exc)[:160]})", file=path
        ) from None


def _index(names: Sequence[str], sheet: str | int, path: Path) -> int:
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise AnnotationError(f"the workbook has no sheet {sheet + 1}", file=path)
        return sheet
    if sheet not in names:
        raise AnnotationError(f"sheet {sheet!r} not found (sheets: {', '.join(names)})", file=path)
    return list(names).index(sheet)


def _xlsx_book(path: Path) -> Any:
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about unknown extensions
        return openpyxl.load_workbook(path, read_only=True, data_only=True)


def _xls_book(path: Path) -> Any:
    return xlrd.open_workbook(str(path), on_demand=True)


def _xls_value(cell: Any) -> Any:
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    return cell.value


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def find_row(rows: list[tuple[int, list[Any]]], wanted: Sequence[str]) -> int | None:
    """Index in ``rows`` of the first row holding every name of ``wanted`` (a header)."""
    need = {w.strip().lower() for w in wanted}
    for i, (_, cells) in enumerate(rows):
        have = {str(c).strip().lower() for c in cells if not is_blank(c)}
        if need <= have:
            return i
    return None


class Row:
    """One data row read by position or by header name; problems and quirks by file and row."""

    def __init__(
        self, file: Path, number: int, cells: Sequence[Any], header: Sequence[Any] | None = None
    ):
        self.file = Path(file)
        self.number = number
        self.cells = list(cells)
        self.columns = (
            {str(h).strip(): j for j, h in enumerate(header) if not is_blank(h)} if header else {}
        )
        self.problems: list[Problem] = []
        self.quirks: list[Problem] = []

    def _at(self, col: int | str) -> Any:
        j = self.columns.get(col) if isinstance(col, str) else col
        if j is None or j >= len(self.cells):
            return None
        return self.cells[j]

    def name(self, col: int | str) -> str:
        return str(col) if isinstance(col, str) else f"column {chr(ord('A') + col)}"

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, message: str) -> None:
        self.problems.append(Problem(message, file=str(self.file), row=self.number))

    def quirk(self, message: str) -> None:
        self.quirks.append(Problem(message, file=str(self.file), row=self.number))

    def blank(self) -> bool:
        return all(is_blank(c) for c in self.cells)

    def verbatim(self, col: int | str) -> Any:
        """The cell as stored (numbers as numbers, text as text, None when blank)."""
        value = self._at(col)
        return None if is_blank(value) else value

    def text(self, col: int | str) -> str:
        value = self._at(col)
        if is_blank(value):
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip()

    def numeric(self, col: int | str, *, optional: bool = False) -> float | None:
        """A numeric cell (a number, or text that is one); a problem otherwise."""
        value = self._at(col)
        if is_blank(value):
            if not optional:
                self.problem(f"{self.name(col)} is empty")
            return None
        if isinstance(value, bool):
            self.problem(f"{self.name(col)} is not a number: {value!r}")
            return None
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip()
        if not _NUMBER.match(text):
            self.problem(f"{self.name(col)} is not a number: {text[:40]!r}")
            return None
        return float(text)

    def frame(self, col: int | str, *, optional: bool = False) -> int | None:
        """A whole frame number; a fractional one is a problem (see :meth:`numeric`)."""
        value = self.numeric(col, optional=optional)
        if value is None:
            return None
        if not value.is_integer():
            self.problem(f"{self.name(col)} is not a whole frame number: {value:g}")
            return None
        if value < 0:
            self.problem(f"{self.name(col)} is negative: {value:g}")
            return None
        return int(value)
