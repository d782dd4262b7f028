"""One annotation cell at a time: strict numbers, blanks, text, and the frame-order check.

Spreadsheets write the same number as ``12``, ``12.0``, ``" 12"`` or a formula; these helpers
accept exactly the spellings that mean a number and report the rest by file and row (through
:mod:`merprep.datasets.tables`)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from merprep.errors import Problem

MISSING_TOKENS = {"", "/", "-", "nan", "none", "n/a", "na", "?"}


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
