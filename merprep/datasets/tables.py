"""Reading annotation spreadsheets and CSVs robustly, with problems that name file and row.

Adapters use these helpers so that every dataset reports bad cells the same way: a
:class:`~merprep.errors.Problem` with the file, the 1-based row number as a spreadsheet program
shows it, the column and the offending value. A file that cannot be read at all raises
:class:`~merprep.errors.AnnotationError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from merprep.datasets.cells import (
    MISSING_TOKENS,
    FormulaCell,
    check_frame_order,
    int_cell,
    is_missing,
    strict_float,
    strict_int,
    text_cell,
)
from merprep.datasets.files import find_file
from merprep.errors import AnnotationError, Problem
from merprep.ids import is_safe_name

if TYPE_CHECKING:  # pandas is imported when a table is read: listing --dataset choices is fast
    import pandas as pd

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
#: Spreadsheet cells holding these markers are blank (the set pandas' Excel reader uses), so
#: an apex written ``#N/A`` or ``NULL`` reads as "not annotated", the same as an empty cell.
SHEET_NA_MARKERS = frozenset(
    {
        "-1.#IND",
        "1.#QNAN",
        "1.#IND",
        "-1.#QNAN",
        "#N/A N/A",
        "#N/A",
        "N/A",
        "n/a",
        "NA",
        "<NA>",
        "#NA",
        "NULL",
        "null",
        "NaN",
        "-NaN",
        "nan",
        "-nan",
        "None",
        "",
    }
)


def read_table(
    path: Path, *, sheet: str | int | None = None, header_row: int = 1, required: Iterable[str] = ()
) -> pd.DataFrame:
    """Read an .xlsx/.xls/.csv annotation file as strings-or-numbers, header on ``header_row``.

    Adds a column ``__row__`` holding each data row's 1-based row number in the file.
    Raises AnnotationError naming the file if it is unreadable or lacks a required column.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise AnnotationError("annotation file not found", file=path)
    try:
        if path.suffix.lower() in EXCEL_SUFFIXES:
            df = _read_xlsx(path, sheet, header_row)
        elif path.suffix.lower() == ".xls":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns about unknown extensions
                book = pd.ExcelFile(path)
                if sheet is None:
                    sheet_name: str | int = 0
                elif isinstance(sheet, str) and sheet not in book.sheet_names:
                    raise AnnotationError(
                        f"sheet {sheet!r} not found (sheets: "
                        f"{', '.join(map(str, book.sheet_names))})",
                        file=path,
                    )
                else:
                    sheet_name = sheet
                df = book.parse(sheet_name, header=header_row - 1, dtype=object)
        else:
            df = pd.read_csv(
                path,
                header=header_row - 1,
                dtype=object,
                keep_default_na=False,
                skip_blank_lines=False,
                encoding="utf-8-sig",
            )
    except AnnotationError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many types for damaged files
        raise AnnotationError(
            f"cannot read annotation file ({exc.__class__.__name__}: {str(exc)[:160]})", file=path
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = ", ".join(c for c in df.columns if not c.startswith("Unnamed")) or "none"
        raise AnnotationError(
            f"missing column(s) {', '.join(map(repr, missing))} "
            f"(found: {found}; header expected on row {header_row})",
            file=path,
        )
    df["__row__"] = [header_row + 1 + i for i in range(len(df))]
    # Drop rows that are entirely blank (trailing rows of spreadsheets).
    data_cols = [c for c in df.columns if c != "__row__"]
    blank = df[data_cols].apply(lambda col: col.map(is_missing)).all(axis=1)
    return df[~blank].reset_index(drop=True)


def _read_xlsx(path: Path, sheet: str | int | None, header_row: int) -> pd.DataFrame:
    """Read one sheet with openpyxl, keeping every cell's Python value as it is.

    pandas' Excel reader coerces a column mixing booleans and 1/0 into one type (TRUE read as
    1, or 1 as True); reading the cells directly keeps them apart so bad cells are reported.
    Formula cells without a saved value become :class:`FormulaCell`; cells holding one of
    :data:`SHEET_NA_MARKERS` become blank.
    """
    import openpyxl
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about unknown extensions
        values_book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formula_book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        names = values_book.sheetnames
        if sheet is None:
            name = names[0]
        elif isinstance(sheet, int):
            name = names[sheet]
        elif sheet in names:
            name = sheet
        else:
            raise AnnotationError(
                f"sheet {sheet!r} not found (sheets: {', '.join(names)})", file=path
            )
        rows = [list(r) for r in values_book[name].iter_rows(values_only=True)]
        formulas = [list(r) for r in formula_book[name].iter_rows(values_only=True)]
    finally:
        values_book.close()
        formula_book.close()
    for vals, forms in zip(rows, formulas):
        for j, (v, f) in enumerate(zip(vals, forms)):
            if v is None and isinstance(f, str) and f.startswith("="):
                vals[j] = FormulaCell(f)
            elif isinstance(v, str) and v in SHEET_NA_MARKERS:
                vals[j] = None
    if len(rows) < header_row:
        raise AnnotationError(f"the sheet has no header row {header_row}", file=path)
    header = rows[header_row - 1]
    columns, seen = [], set()
    for j, h in enumerate(header):
        col = f"Unnamed: {j}" if h is None or str(h).strip() == "" else str(h).strip()
        while col in seen:  # duplicate headers: keep both, like pandas ("X.1")
            col += ".1"
        seen.add(col)
        columns.append(col)
    width = len(columns)
    data = [(r + [None] * width)[:width] for r in rows[header_row:]]
    return pd.DataFrame(data, columns=columns, dtype=object)


def sheet_names(path: Path) -> list[str]:
    """The sheet names of a workbook ([] for a CSV or a file that cannot be opened; reading it
    reports that with the full message)."""
    import pandas as pd

    if Path(path).suffix.lower() not in (*EXCEL_SUFFIXES, ".xls"):
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [str(name) for name in pd.ExcelFile(path).sheet_names]
    except Exception:  # read_table says why
        return []


def cell_problems(row: Any, file: Path) -> list[Problem]:
    """Problems every adapter reports for a row regardless of column: formula cells whose
    value was never saved (see :class:`FormulaCell`)."""
    out = []
    for column, value in row.items():
        if isinstance(value, FormulaCell):
            out.append(
                Problem(
                    f"{column} holds a formula with no saved value ({value[:40]}); "
                    "open and save the file in a spreadsheet program, or type the "
                    "value",
                    file=str(file),
                    row=int(row["__row__"]),
                )
            )
    return out


class AnnotationRow:
    """One data row of an annotation table, read column by column.

    Each reader parses one cell and records a :class:`Problem` (file, 1-based row) when the cell
    is bad, so an adapter's loop reads like the dataset's column list and every dataset reports
    bad cells the same way. Formula cells without a saved value are reported on creation.
    """

    def __init__(self, row: Any, file: Path):
        self.row = row
        self.file = Path(file)
        self.number = int(row["__row__"])
        self.problems: list[Problem] = cell_problems(row, self.file)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, message: str) -> None:
        self.problems.append(Problem(message, file=str(self.file), row=self.number))

    def has(self, column: str) -> bool:
        return column in self.row.index

    def text(self, column: str) -> str:
        """The cell as stripped text, kept verbatim ('' when blank)."""
        return text_cell(self.row[column])

    def frame(
        self,
        column: str,
        *,
        optional: bool = False,
        missing_values: Iterable[int] = (),
        minimum: int | None = 0,
        maximum: int = 10**8,
    ) -> int | None:
        """A whole-number cell (frame number, count); None when blank and ``optional``."""
        return int_cell(
            self.row[column],
            column=column,
            file=self.file,
            row=self.number,
            problems=self.problems,
            allow_missing=optional,
            missing_values=missing_values,
            minimum=minimum,
            maximum=maximum,
        )

    def name(self, column: str, *, what: str = "name") -> str | None:
        """A cell used as one component of a clip id (no '/', no '..'); None when bad."""
        value = self.text(column)
        if not value:
            self.problem(f"{column} is empty")
            return None
        if not is_safe_name(value):
            self.problem(f"{column} is not a valid {what}: {value!r}")
            return None
        return value

    def normalised(self, column: str, normalise: Any, *, what: str) -> str | None:
        """``normalise(text)`` of the cell (e.g. a subject number to ``sub01``); a ValueError
        from it becomes a problem naming ``what`` the cell should be."""
        value = self.text(column)
        try:
            return normalise(value)
        except ValueError:
            self.problem(f"{column} is not a {what}: {value!r}")
            return None

    def emotion(self, column: str, vocabulary: Iterable[str]) -> str:
        """The emotion as written; a problem unless its lower-case form is in ``vocabulary``."""
        value = self.text(column)
        if value.lower() not in vocabulary:
            self.problem(
                f"unknown emotion {value!r} (expected one of {', '.join(sorted(vocabulary))})"
            )
        return value

    def check_order(self, onset: int | None, apex: int | None, offset: int | None) -> None:
        """onset <= apex <= offset, checked once the frame cells themselves are sound."""
        if self.ok:
            check_frame_order(
                onset, apex, offset, file=self.file, row=self.number, problems=self.problems
            )

    def tag(self, clip_id: str | None) -> None:
        """Name the clip on this row's problems (so ``--skip-invalid`` can record it)."""
        tag_problems(self.problems, clip_id)

    def done(self, into: list[Problem], clip_id: str | None = None) -> bool:
        """Finish the row: name ``clip_id`` (when known) on its problems, add them to ``into``,
        and say whether the row gives a clip."""
        if clip_id:
            self.tag(clip_id)
        into.extend(self.problems)
        return self.ok


def find_header_row(
    path: Path, required: Iterable[str], *, sheet: str | int | None = None, search_rows: int = 40
) -> int | None:
    """1-based number of the first row (within ``search_rows``) holding every ``required``
    column name, or None. For sheets with a preamble whose length may vary between releases."""
    import pandas as pd

    path = Path(path)
    wanted = {str(c).strip() for c in required}
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                top = pd.read_excel(
                    path,
                    sheet_name=0 if sheet is None else sheet,
                    header=None,
                    nrows=search_rows,
                    dtype=object,
                )
        else:
            top = pd.read_csv(
                path,
                header=None,
                nrows=search_rows,
                dtype=object,
                keep_default_na=False,
                encoding="utf-8-sig",
            )
    except Exception:  # read_table reports unreadable files with the full message
        return None
    for i, values in enumerate(top.itertuples(index=False), start=1):
        if wanted <= {str(v).strip() for v in values if not is_missing(v)}:
            return i
    return None


def tag_problems(problems: Iterable[Problem], clip_id: str | None) -> None:
    """Attach ``clip_id`` to row problems that lack one, so ``--skip-invalid`` can name the clip."""
    if clip_id is None:
        return
    for p in problems:
        if p.clip_id is None:
            p.clip_id = clip_id


__all__ = [
    "EXCEL_SUFFIXES",
    "MISSING_TOKENS",
    "SHEET_NA_MARKERS",
    "AnnotationRow",
    "FormulaCell",
    "cell_problems",
    "check_frame_order",
    "find_file",
    "find_header_row",
    "int_cell",
    "is_missing",
    "read_table",
    "sheet_names",
    "strict_float",
    "strict_int",
    "tag_problems",
    "text_cell",
]
