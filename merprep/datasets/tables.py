"""Reading annotation spreadsheets and CSVs robustly, with problems that name file and row.

Adapters use these helpers so that every dataset reports bad cells the same way: a
:class:`~merprep.errors.Problem` with the file, the 1-based row number as a spreadsheet program
shows it, the column and the offending value. A file that cannot be read at all raises
:class:`~merprep.errors.AnnotationError`.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from merprep.errors import AnnotationError, Problem
from merprep.ids import is_safe_name

if TYPE_CHECKING:  # pandas is imported when a table is read: listing --dataset choices is fast
    import pandas as pd

MISSING_TOKENS = {"", "/", "-", "nan", "none", "n/a", "na", "?"}
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


class FormulaCell(str):
    """A spreadsheet cell holding a formula whose value was never computed and saved.

    Files written by programs (not saved by a spreadsheet application) carry the formula but no
    cached value; a reader without a spreadsheet engine cannot know the value, so such a cell is
    a problem for its row (see :func:`cell_problems`), never a silent blank.
    """


def strict_int(text: Any) -> int:
    """A whole number written as digits with an optional '+' (no sign, '_', spaces or
    fractions); raises ValueError otherwise. Python's ``int()`` alone accepts ``1_0``."""
    s = str(text).strip()
    if not re.fullmatch(r"\+?\d+", s):
        raise ValueError(f"not a whole number: {s!r}")
    return int(s)


def strict_float(text: Any) -> float:
    """A decimal number such as ``200``, ``29.97`` or ``2.5e1``; raises ValueError otherwise
    (``float()`` alone accepts ``1_0``, ``inf`` and ``nan``)."""
    s = str(text).strip()
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise ValueError(f"not a number: {s!r}")
    return float(s)


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


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return str(value).strip().lower() in MISSING_TOKENS


def text_cell(value: Any) -> str:
    """A cell as stripped text ('' when missing); integral floats lose their '.0'."""
    if is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_INT_TEXT = re.compile(r"^[+-]?\d+(\.0+)?$")


def int_cell(
    value: Any,
    *,
    column: str,
    file: Path,
    row: int,
    problems: list[Problem],
    allow_missing: bool = False,
    missing_values: Iterable[int] = (),
    minimum: int | None = 0,
    maximum: int = 10**8,
) -> int | None:
    """Parse an integer cell; record a Problem (and return None) when it is not one.

    ``missing_values`` (e.g. SAMM's -1 apex) count as missing. Huge numbers, negatives (below
    ``minimum``), fractions and text are problems, never silently coerced.
    """
    if is_missing(value):
        if not allow_missing:
            problems.append(Problem(f"{column} is empty", file=str(file), row=row))
        return None
    if isinstance(value, bool):
        problems.append(Problem(f"{column} is not a number: {value!r}", file=str(file), row=row))
        return None
    if isinstance(value, FormulaCell):
        return None  # reported once for the row by cell_problems
    if isinstance(value, (int,)) or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    else:
        text = str(value).strip()
        if not _INT_TEXT.match(text):
            problems.append(
                Problem(f"{column} is not a whole number: {text[:40]!r}", file=str(file), row=row)
            )
            return None
        number = int(float(text))
    if number in set(missing_values):
        if allow_missing:
            return None
        problems.append(Problem(f"{column} is missing ({number})", file=str(file), row=row))
        return None
    if (minimum is not None and number < minimum) or number > maximum:
        problems.append(Problem(f"{column} out of range: {number}", file=str(file), row=row))
        return None
    return number


def check_frame_order(
    onset: int | None,
    apex: int | None,
    offset: int | None,
    *,
    file: Path,
    row: int,
    problems: list[Problem],
) -> bool:
    """onset <= apex <= offset; records a problem and returns False otherwise."""
    if onset is None or offset is None:
        return False
    if onset > offset:
        problems.append(Problem(f"onset {onset} is after offset {offset}", file=str(file), row=row))
        return False
    if apex is not None and not onset <= apex <= offset:
        problems.append(
            Problem(
                f"apex {apex} is outside onset..offset {onset}..{offset}", file=str(file), row=row
            )
        )
        return False
    return True


def find_file(roots: Iterable[Path], patterns: Iterable[str], depth: int = 2) -> Path | None:
    """First file matching one of ``patterns`` (glob, case-insensitive on the name) in ``roots``
    or their subfolders up to ``depth``; patterns earlier in the list win, newest name last."""
    roots = [r for r in roots if r.is_dir()]
    for pattern in patterns:
        rx = re.compile(_glob_to_regex(pattern), re.IGNORECASE)
        for root in roots:
            hits = []
            for d in _walk(root, depth):
                hits += [p for p in d.iterdir() if p.is_file() and rx.match(p.name)]
            if hits:
                return sorted(hits)[-1]  # e.g. the newest dated coding file
    return None


def _walk(root: Path, depth: int):
    yield root
    if depth <= 0:
        return
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for d in subdirs:
        yield from _walk(d, depth - 1)


def _glob_to_regex(pattern: str) -> str:
    return "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
