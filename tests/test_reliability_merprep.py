"""Reliability of merprep, tested on purpose: hostile annotations and media, interrupted runs,
damaged stores, concurrent writers, odd paths, and sources that must stay untouched.

The guarantees and the tests that check them are listed in docs/reliability.md. Datasets are
small generated samples (1-2 subjects, a few 8-frame clips), made once per module; every kind of
damage is done to a copy. Tests that start the CLI in subprocesses are marked ``slow``.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import cv2
import h5py
import numpy as np
import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from merprep.cli import cli
from merprep.datasets import get_adapter
from merprep.errors import AnnotationError
from merprep.pipeline import ExtractConfig, extract
from merprep.sample import generate
from merprep.store import ClipStore, validate_store

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# ==============================================================================================
# Hostile annotations: an independent oracle says what each row means; the parser must agree
# (a record equal to the row) or report a problem naming the file and row; never a traceback.
# ==============================================================================================

CASME2_HEADER = (
    "Subject",
    "Filename",
    None,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,
    "Action Units",
    "Estimated Emotion",
)
CASME2_EMOTIONS = {"happiness", "surprise", "disgust", "repression", "fear", "sadness", "others"}
MANIFEST_HEADER = (
    "dataset",
    "subject",
    "clip",
    "source",
    "onset",
    "apex",
    "offset",
    "emotion",
    "aus",
    "fps",
)
#: what a blank cell may be written as (the documented placeholders); pandas also reads its own
#: NA spellings in spreadsheets as blank
BLANKS = {"", "/", "-", "nan", "none", "n/a", "na", "?"}
PANDAS_NA = {
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
MAX_FRAME = 10**8

ERROR = "error"  # the row must be reported


class Either:
    """The row may be reported, or parsed to ``value`` (inputs a reader could fairly take either
    way, e.g. digits of another script)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Either({self.value!r})"


class Formula(str):
    """A cell holding a formula (written as such into .xlsx; plain text in a CSV)."""


def _is_blank(v, spreadsheet: bool) -> bool:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return True
    if spreadsheet and isinstance(v, float) and not math.isfinite(v):
        return True  # openpyxl writes infinities as empty cells: the file holds a blank
    if isinstance(v, str) and not isinstance(v, Formula):
        s = v.strip().lower()
        return s in BLANKS or (spreadsheet and v in PANDAS_NA)
    return False


def _as_text(v) -> str | Either:
    """The text a cell says (the oracle's reading of numbers written in text columns)."""
    if isinstance(v, bool):
        return Either(str(v))  # TRUE in a name column: reject or keep the word, never a number
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v).strip()


_ASCII_INT = re.compile(r"[+-]?[0-9]+(\.0+)?")
_ANY_INT = re.compile(r"[+-]?\d+(\.0+)?")


def oracle_int(v, *, optional: bool, spreadsheet: bool):
    """A frame-number cell: a whole number 0..1e8, written as a number or as text."""
    if isinstance(v, Formula) and spreadsheet:
        return ERROR  # its value is unknown to a reader without a spreadsheet engine
    if _is_blank(v, spreadsheet):
        return None if optional else ERROR
    if isinstance(v, bool):
        return ERROR
    if isinstance(v, int):
        n = v
    elif isinstance(v, float):
        if not (math.isfinite(v) and v.is_integer()):
            return ERROR
        n = int(v)
    else:
        s = str(v).strip()
        if _ASCII_INT.fullmatch(s):
            n = int(s.split(".")[0])
        elif _ANY_INT.fullmatch(s):  # digits of another script (Arabic-Indic, full-width)
            n = _unicode_int(s.split(".")[0])
            return Either(n) if 0 <= n <= MAX_FRAME else ERROR
        else:
            return ERROR
    return n if 0 <= n <= MAX_FRAME else ERROR


def _unicode_int(s: str) -> int:
    sign = -1 if s.startswith("-") else 1
    return sign * int("".join(str(unicodedata.decimal(c)) for c in s.lstrip("+-")))


_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def oracle_name(v, spreadsheet: bool):
    """A name used as one component of a clip id: ASCII letters, digits, ``_ . -``, no ``..``."""
    if isinstance(v, Formula) and spreadsheet:
        return ERROR
    if _is_blank(v, spreadsheet):
        return ERROR
    text = _as_text(v)
    if isinstance(text, Either):
        return Either(text.value) if oracle_name(text.value, spreadsheet) != ERROR else ERROR
    return text if _SAFE.fullmatch(text) and ".." not in text else ERROR


def oracle_subject(v):
    """CASME II subject: a number, optionally written ``subNN``."""
    if isinstance(v, Formula) or _is_blank(v, True) or isinstance(v, bool):
        return ERROR
    if isinstance(v, float) and not v.is_integer():
        return ERROR
    text = _as_text(v)
    m = re.fullmatch(r"(?i)(sub)?([0-9]+)", text)
    if m:
        return f"sub{int(m.group(2)):02d}"
    m = re.fullmatch(r"(?i)(sub)?\s*\+?(\d+)", text)
    if m:  # "+1", "sub 01", digits of another script: reading them as the number is fair too
        return Either(f"sub{_unicode_int(m.group(2)):02d}")
    return ERROR


def oracle_free_text(v, spreadsheet: bool):
    """A verbatim text column (emotion, AUs): blank -> ''; a formula's value is unknown."""
    if isinstance(v, Formula) and spreadsheet:
        return ERROR
    if _is_blank(v, spreadsheet):
        return ""
    return _as_text(v)


_ASCII_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def oracle_fps(v):
    if _is_blank(v, False):
        return None
    s = str(v).strip()
    if _ASCII_FLOAT.fullmatch(s):
        f = float(s)
        return f if 0 < f < 100000 else ERROR
    if re.fullmatch(r"\d+", s):  # digits of another script
        f = float(_unicode_int(s))
        return Either(f) if 0 < f < 100000 else ERROR
    return ERROR


def _merge(values: dict):
    """Combine per-cell expectations: any ERROR -> ERROR; any Either -> Either(the record)."""
    if any(v == ERROR for v in values.values() if not isinstance(v, Either)):
        return ERROR, False
    loose = any(isinstance(v, Either) for v in values.values())
    return {k: (v.value if isinstance(v, Either) else v) for k, v in values.items()}, loose


def _order_ok(onset, apex, offset) -> bool:
    return onset <= offset and (apex is None or onset <= apex <= offset)


def oracle_casme2_row(row: list):
    """What one CASME II coding-sheet row means: a dict of record fields, ERROR, None (a
    blank row, ignored), or Either(dict)."""
    subject, filename, _, onset, apex, offset, _, aus, emotion = row
    if all(_is_blank(c, True) and not isinstance(c, Formula) for c in row):
        return None
    fields, loose = _merge(
        {
            "subject": oracle_subject(subject),
            "clip": oracle_name(filename, True),
            "onset": oracle_int(onset, optional=False, spreadsheet=True),
            "apex": oracle_int(apex, optional=True, spreadsheet=True),
            "offset": oracle_int(offset, optional=False, spreadsheet=True),
            "aus": oracle_free_text(aus, True),
            "emotion": oracle_free_text(emotion, True),
        }
    )
    if fields == ERROR:
        return ERROR
    if isinstance(fields["emotion"], Either) or (
        isinstance(fields["emotion"], str) and fields["emotion"].lower() not in CASME2_EMOTIONS
    ):
        return ERROR
    if not _order_ok(fields["onset"], fields["apex"], fields["offset"]):
        return ERROR
    fields.update(dataset="casme2", fps=200.0)
    return Either(fields) if loose else fields


#: the manifest fuzz's frame folder and its frame numbers (onset/offset default to its ends)
MANIFEST_FRAMES = (10, 11, 12, 13, 14)
MANIFEST_FOLDER = "frames/p1"


def oracle_manifest_row(row: list, root: Path):
    values = dict(zip(MANIFEST_HEADER, row))
    if all(_is_blank(c, False) for c in row):
        return None
    source = oracle_free_text(values["source"], False)
    cells = {k: oracle_name(values[k], False) for k in ("dataset", "subject", "clip")}
    cells.update(
        onset=oracle_int(values["onset"], optional=True, spreadsheet=False),
        apex=oracle_int(values["apex"], optional=True, spreadsheet=False),
        offset=oracle_int(values["offset"], optional=True, spreadsheet=False),
        fps=oracle_fps(values["fps"]),
        emotion=oracle_free_text(values["emotion"], False),
        aus=oracle_free_text(values["aus"], False),
    )
    if source == "":
        return ERROR
    fields, loose = _merge(cells)
    if fields == ERROR:
        return ERROR
    is_video = Path(source).suffix.lower() in {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
    if fields["fps"] is None:
        return ERROR  # frame folders need it; our videos do not exist
    if fields["onset"] is None or fields["offset"] is None:
        if source.rstrip("/") != MANIFEST_FOLDER:
            return ERROR  # the frames needed to fill the blank are not there
        fields["onset"] = MANIFEST_FRAMES[0] if fields["onset"] is None else fields["onset"]
        fields["offset"] = MANIFEST_FRAMES[-1] if fields["offset"] is None else fields["offset"]
    if not _order_ok(fields["onset"], fields["apex"], fields["offset"]):
        return ERROR
    fields.update(source=source, extra={"video": is_video})
    return Either(fields) if loose else fields


def check_parse(
    adapter_name: str, root: Path, path: Path, rows: list[list], oracle, first_row: int = 2
) -> list[str]:
    """Parse ``path`` with the adapter; return every disagreement with ``oracle`` (empty: ok).

    The file itself is well formed (sheet-level damage is tested separately), so rejecting it
    as a whole is a disagreement too; any other exception propagates (a traceback fails)."""
    adapter = get_adapter(adapter_name)(root, path)
    try:
        records, problems = adapter.read_records()
    except AnnotationError as exc:
        return [f"the whole file was rejected: {exc}"]
    out = []
    for p in problems:
        if p.file != str(path) or p.row is None:
            out.append(f"problem without file and row: {p}")
    by_row: dict[int, list] = {}
    for rec in records:
        by_row.setdefault(rec.annotation_row, []).append(rec)
        if rec.annotation_file != path.name:
            out.append(f"record names annotation file {rec.annotation_file!r}")
    reported = {p.row for p in problems}
    for i, row in enumerate(rows):
        n = first_row + i
        want = oracle(row)
        got = by_row.get(n, [])
        if len(got) > 1:
            out.append(f"row {n}: {len(got)} records")
            continue
        if want is None:
            if got or n in reported:
                out.append(f"row {n} is blank but gave {got or 'a problem'}")
            continue
        loose = isinstance(want, Either)
        want = want.value if loose else want
        if want == ERROR:
            if got:
                out.append(f"row {n} {row!r}: expected a problem, parsed {_fields(got[0], want)}")
            elif n not in reported:
                out.append(f"row {n} {row!r}: expected a problem, row silently dropped")
            continue
        if not got:
            if not loose or n not in reported:
                why = [str(p) for p in problems if p.row == n] or ["dropped"]
                out.append(f"row {n} {row!r}: expected {want}, got {why}")
            continue
        have = _fields(got[0], want)
        if have != want:
            out.append(f"row {n} {row!r}: expected {want}, parsed {have}")
        elif n in reported:
            out.append(f"row {n} {row!r}: parsed and also reported as a problem")
    return out


def _fields(rec, want) -> dict:
    d = {
        "dataset": rec.dataset,
        "subject": rec.subject,
        "clip": rec.clip,
        "onset": rec.onset,
        "apex": rec.apex,
        "offset": rec.offset,
        "emotion": rec.emotion,
        "aus": rec.aus,
        "fps": rec.fps,
        "source": rec.source,
        "extra": rec.extra,
    }
    return {k: d[k] for k in (want if isinstance(want, dict) else d)}


# -- writing hostile files ---------------------------------------------------------------------


def write_casme2_xlsx(
    path: Path, rows: list[list], *, header=CASME2_HEADER, extra_sheet: str | None = None
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(list(header))
    for row in rows:
        sheet.append([str(c) if isinstance(c, Formula) else c for c in row])
    if extra_sheet == "after":
        book.create_sheet("notes").append(["Subject", "something else", "=1+1"])
    elif extra_sheet == "before":
        book.create_sheet("readme", 0).append(["this sheet describes the coding"])
    book.save(path)


def write_manifest_csv(path: Path, rows: list[list], *, header=MANIFEST_HEADER) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow(["" if c is None else str(c) for c in row])


@pytest.fixture(scope="module")
def fuzz_roots(tmp_path_factory):
    """A CASME II root (an empty frames folder: parsing never needs frames) and a manifest root
    with one frame folder (frames 10..14, for blank onset/offset)."""
    base = tmp_path_factory.mktemp("fuzz")
    casme2 = base / "CASME2"
    (casme2 / "CASME2_RAW_selected").mkdir(parents=True)
    manifest = base / "mine"
    folder = manifest / MANIFEST_FOLDER
    folder.mkdir(parents=True)
    for n in MANIFEST_FRAMES:
        (folder / f"frame_{n:06d}.jpg").write_bytes(b"\xff\xd8 not decoded while parsing \xff\xd9")
    return casme2, manifest


# -- cell strategies -----------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12).map(
    lambda s: Formula(s) if len(s) > 1 and s.startswith("=") else s
)  # as openpyxl writes it
HOSTILE = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "/", "-", "N/A", "nan", "?", "NULL", "#N/A"]),
    st.integers(-1000, 1000),
    st.integers(MAX_FRAME - 2, 2**53),
    st.sampled_from([-1, -0.0, 1.5, 12.0, 1e20, float("inf"), 2.5e-3, 1e300]),
    st.sampled_from(
        [
            " 12 ",
            "12.0",
            "12.5",
            "+3",
            "-3",
            "1e3",
            "1_0",
            "0x1f",
            "１２",
            "١٢",
            "12abc",
            "twelve",
            "1,000",
            "3 4",
        ]
    ),
    st.sampled_from([Formula("=1+1"), Formula("=A1"), Formula("=SUM(D2:D3)")]),
    st.sampled_from(
        [
            "../x",
            "../../etc/passwd",
            "a/b",
            "..",
            ".hidden",
            "EP01/..",
            "sub01\\x",
            "Ünïcødé",
            "惊讶",
            "😀",
            "EP 01",
            "-EP01",
        ]
    ),
    st.booleans(),
    _text,
)
EMOTION = st.sampled_from(sorted(CASME2_EMOTIONS) + ["Happiness", " surprise ", "bewilderment"])


@st.composite
def casme2_rows(draw):
    onset = draw(st.integers(0, 500))
    length = draw(st.integers(0, 60))
    valid_row = [
        draw(st.sampled_from([1, 2, 17, "1", "sub01", "SUB26", 3.0])),
        draw(st.sampled_from(["EP02_01f", "EP19_06f", "EP01_11f", "s3.v2"])),
        None,
        onset,
        draw(st.one_of(st.none(), st.just("/"), st.integers(onset, onset + length))),
        onset + length,
        None,
        draw(st.sampled_from(["4+7", "R12", "1+2", "", "4 or 7", 12])),
        draw(EMOTION),
    ]
    row = list(valid_row)
    for i in draw(st.sets(st.sampled_from([0, 1, 3, 4, 5, 7, 8]), max_size=3)):
        row[i] = draw(HOSTILE)
    if draw(st.integers(0, 9)) == 0:  # reversed frames
        row[3], row[5] = row[5], row[3]
    return row


@st.composite
def manifest_rows(draw):
    onset = draw(st.integers(0, 12))
    length = draw(st.integers(0, 40))
    row = [
        draw(st.sampled_from(["mylab", "lab.2", "x-1"])),
        draw(st.sampled_from(["p01", "P_2", "007"])),
        draw(st.sampled_from(["take01", "t.02", "clip-3"])),
        draw(
            st.sampled_from(
                [
                    MANIFEST_FOLDER,
                    MANIFEST_FOLDER + "/",
                    "frames/none",
                    "videos/none.mp4",
                    "../outside",
                    "",
                ]
            )
        ),
        str(onset),
        draw(st.sampled_from(["", str(onset)])),
        str(onset + length),
        draw(st.sampled_from(["happiness", "Surprise", "", "n/a", "=1+1", "😀"])),
        draw(st.sampled_from(["1+2", "R12", "", "4 or 7"])),
        draw(st.sampled_from(["200", "30", "29.97", "", "1e2"])),
    ]
    for i in draw(st.sets(st.integers(0, 9), max_size=3)):
        row[i] = draw(HOSTILE)
    if draw(st.integers(0, 9)) == 0:
        row[4], row[6] = row[6], row[4]
    return ["" if c is None else c for c in row]


def _csv_cell(v) -> str:
    return "" if v is None else str(v)


SHEETS = (
    "ok",
    "extra sheet after",
    "extra sheet before",
    "no OnsetFrame",
    "no Filename",
    "no Estimated Emotion",
)
GOOD = [1, "EP02_01f", None, 40, 46, 80, None, "4+7", "happiness"]


def _row(**changes):
    row = list(GOOD)
    for name, value in changes.items():
        row[
            {"subject": 0, "clip": 1, "onset": 3, "apex": 4, "offset": 5, "aus": 7, "emotion": 8}[
                name
            ]
        ] = value
    return row


@FUZZ
@given(
    rows=st.lists(casme2_rows(), min_size=1, max_size=6),
    duplicate=st.booleans(),
    sheet=st.sampled_from(SHEETS[:1] * 8 + SHEETS[1:]),
)
# every kind of hostile cell named in the issue, whatever the random search finds
@example(
    rows=[
        GOOD,
        _row(onset=None),
        _row(offset=""),
        _row(apex="/"),
        _row(onset="twelve"),
        _row(offset="80abc"),
        _row(onset=-5),
        _row(onset=90, offset=40),
        _row(apex=100),
        _row(subject="Ünïcødé"),
        _row(clip="惊讶"),
        _row(onset=12.5),
        _row(onset=40.0),
        _row(offset=10**12),
        _row(offset=1e300),
        _row(onset=float("inf")),
        _row(clip="../../etc"),
        _row(clip="EP01/.."),
        _row(emotion=" Happiness "),
        _row(aus=12.0),
    ],
    duplicate=True,
    sheet="ok",
)
@example(rows=[_row(apex=Formula("=1+1"))], duplicate=False, sheet="ok")
@example(rows=[_row(aus=Formula("=1+1"))], duplicate=False, sheet="ok")
@example(
    rows=[_row(onset=Formula("=SUM(D3:D4)")), _row(clip=Formula("=A1"))],
    duplicate=False,
    sheet="ok",
)
@example(rows=[_row(subject="-3")], duplicate=False, sheet="ok")
@example(rows=[_row(subject="1_0")], duplicate=False, sheet="ok")
@example(rows=[GOOD], duplicate=False, sheet="extra sheet after")
@example(rows=[GOOD], duplicate=False, sheet="extra sheet before")
@example(rows=[GOOD], duplicate=False, sheet="no OnsetFrame")
def test_fuzz_casme2_coding_sheet(fuzz_roots, tmp_path_factory, rows, duplicate, sheet):
    root, _ = fuzz_roots
    if duplicate:
        rows = rows + [list(rows[0])]
    header = list(CASME2_HEADER)
    if sheet.startswith("no "):
        header[header.index(sheet[3:])] = "Something"
    path = tmp_path_factory.mktemp("x") / "CASME2-coding-fuzz.xlsx"
    write_casme2_xlsx(
        path,
        rows,
        header=header,
        extra_sheet=sheet.split()[-1] if sheet.startswith("extra") else None,
    )
    if sheet.startswith("no ") or sheet == "extra sheet before":  # the coding sheet is not first
        with pytest.raises(AnnotationError, match="missing column") as info:
            get_adapter("casme2")(root, path).read_records()
        assert info.value.file == str(path)
        return
    problems = check_parse("casme2", root, path, rows, oracle_casme2_row)
    assert not problems, "\n".join(problems)


MGOOD = ["mylab", "p01", "take01", MANIFEST_FOLDER, "10", "12", "14", "happiness", "R12", "200"]


def _mrow(**changes):
    row = list(MGOOD)
    for name, value in changes.items():
        row[MANIFEST_HEADER.index(name)] = value
    return row


@FUZZ
@given(
    rows=st.lists(manifest_rows(), min_size=1, max_size=6),
    duplicate=st.booleans(),
    dropped=st.sampled_from([None] * 8 + ["onset", "clip", "fps"]),
)
@example(
    rows=[
        MGOOD,
        _mrow(onset="", offset=""),
        _mrow(source=""),
        _mrow(fps=""),
        _mrow(onset="-1"),
        _mrow(onset="14", offset="10"),
        _mrow(apex="99"),
        _mrow(clip="../../escape"),
        _mrow(subject=".."),
        _mrow(dataset="a/b"),
        _mrow(clip="Ünïcødé"),
        _mrow(emotion="=1+1"),
        _mrow(aus="=A1"),
        _mrow(onset="=1+1"),
        _mrow(offset="99999999999999999999"),
        _mrow(fps="1e300"),
        _mrow(fps="inf"),
        _mrow(onset="10.5"),
        _mrow(onset="10.0"),
        _mrow(source="frames/none", onset=""),
    ],
    duplicate=True,
    dropped=None,
)
@example(rows=[_mrow(fps="1_0")], duplicate=False, dropped=None)
@example(rows=[MGOOD], duplicate=False, dropped="clip")
def test_fuzz_manifest_csv(fuzz_roots, rows, duplicate, dropped):
    _, root = fuzz_roots
    if duplicate:
        rows = rows + [list(rows[0])]
    header = list(MANIFEST_HEADER)
    if dropped:
        header.remove(dropped)
        rows = [[c for h, c in zip(MANIFEST_HEADER, r) if h != dropped] for r in rows]
    path = root / "manifest.csv"
    write_manifest_csv(path, rows, header=header)
    if dropped:
        with pytest.raises(AnnotationError, match="missing column") as info:
            get_adapter("manifest")(root, path).read_records()
        assert info.value.file == str(path)
        return
    rows = [[_csv_cell(c) for c in r] for r in rows]
    problems = check_parse("manifest", root, path, rows, lambda r: oracle_manifest_row(r, root))
    assert not problems, "\n".join(problems)


def test_hostile_cells_one_by_one(fuzz_roots, tmp_path):
    """Every hostile cell of the issue in every column, one row each, all listed at once (the
    fuzz tests stop at their first failure; this one names every disagreement)."""
    casme2_root, manifest_root = fuzz_roots
    cells = [
        None,
        "",
        "/",
        "twelve",
        -5,
        "-3",
        12.5,
        1.5,
        40.0,
        10**12,
        1e300,
        float("inf"),
        "1_0",
        "+3",
        " 7 ",
        "١٢",
        "１２",
        Formula("=1+1"),
        Formula("=A1"),
        "../../etc",
        "EP01/..",
        "a/b",
        "Ünïcødé",
        "惊讶",
        "NULL",
        "#N/A",
    ]
    columns = ("subject", "clip", "onset", "apex", "offset", "aus", "emotion")
    rows = [_row(**{column: cell}) for column in columns for cell in cells]
    rows += [_row(onset=90, offset=40), _row(apex=100), GOOD, list(GOOD)]
    path = tmp_path / "CASME2-coding-hostile.xlsx"
    write_casme2_xlsx(path, rows)
    disagreements = check_parse("casme2", casme2_root, path, rows, oracle_casme2_row)
    # A TRUE/FALSE cell beside numbers 1/0 in the same column: one sheet per case, since
    # what a reader makes of one such cell may depend on the rest of its column.
    for column in columns:
        for value in (True, False):
            for sheet_rows in (
                [
                    _row(**{column: value}),
                    _row(subject=1 - value, apex=None),
                    _row(onset=int(value), apex=None),
                ],
                [_row(subject=int(value), onset=int(value), apex=None), _row(**{column: value})],
            ):
                path = tmp_path / f"CASME2-coding-{column}-{value}-{len(sheet_rows)}.xlsx"
                write_casme2_xlsx(path, sheet_rows)
                disagreements += [
                    f"{path.name}: {d}"
                    for d in check_parse("casme2", casme2_root, path, sheet_rows, oracle_casme2_row)
                ]

    mcells = [
        "",
        "-1",
        "10.5",
        "10.0",
        "1e3",
        "1_0",
        "٣٠",
        "inf",
        "nan",
        "=1+1",
        "../x",
        "a/b",
        "..",
        "Ünïcødé",
        " 12 ",
        "99999999999999999999",
    ]
    mrows = [_mrow(**{column: cell}) for column in MANIFEST_HEADER for cell in mcells]
    mrows += [_mrow(onset="14", offset="10"), _mrow(onset="", offset=""), MGOOD, list(MGOOD)]
    mpath = manifest_root / "manifest.csv"
    write_manifest_csv(mpath, mrows)
    disagreements += check_parse(
        "manifest", manifest_root, mpath, mrows, lambda r: oracle_manifest_row(r, manifest_root)
    )
    assert not disagreements, f"{len(disagreements)} rows parsed wrongly:\n" + "\n".join(
        disagreements
    )


# ==============================================================================================
# Shared samples and helpers for the pipeline tests
# ==============================================================================================

EXTRACT = ("--frames", "4", "--size", "48", "--workers", "1", "--no-progress")


#: later stages, as run by the kill, lock and damage tests ({store}: the store's path)
STAGES = {
    "crop-au": ["crop-au", "{store}", "--size", "24", "--mode", "all"],
    "flow": [
        "flow",
        "{store}",
        "--method",
        "tvl1",
        "--pair",
        "sequence",
        "--size",
        "12",
        "--workers",
        "1",
        "--no-progress",
    ],
    "magnify": ["magnify", "{store}", "--alpha", "8", "--band", "1", "30"],
}


def merprep_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "merprep.cli", *map(str, args)]


def invoke(cli_runner, *args):
    """Run the merprep CLI in-process; a traceback (any exception but SystemExit) fails."""
    result = cli_runner.invoke(cli, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"merprep {' '.join(map(str, args))} raised:\n{result.output}"
        ) from result.exception
    assert "Traceback" not in result.output
    return result


def extract_args(dataset: str, root: Path, out: Path, *extra) -> list:
    if dataset == "manifest":
        return [
            "extract",
            "--dataset",
            "manifest",
            "--manifest",
            root / "manifest.csv",
            "--out",
            out,
            *EXTRACT,
            *extra,
        ]
    return ["extract", "--dataset", dataset, "--root", root, "--out", out, *EXTRACT, *extra]


def tree_state(root: Path) -> dict[str, tuple]:
    """Every path under ``root``: kind, sha256 (files), mtime_ns (files and folders: a file
    created and removed again still changes its folder's mtime)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st_ = p.lstat()
            rel = p.relative_to(root).as_posix()
            if stat.S_ISLNK(st_.st_mode):
                state[rel] = ("link", os.readlink(p), st_.st_mtime_ns)
            elif stat.S_ISDIR(st_.st_mode):
                state[rel] = ("dir", None, st_.st_mtime_ns)
            else:
                state[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st_.st_mtime_ns)
    state["."] = ("dir", None, root.stat().st_mtime_ns)
    return state


def set_writable(root: Path, writable: bool) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            mode = p.stat().st_mode
            os.chmod(p, mode | stat.S_IWUSR if writable else mode & ~0o222)


def assert_same_store(a: Path, b: Path) -> None:
    """Identical content: fingerprint, index, records, every array, skipped list."""
    with ClipStore(a) as x, ClipStore(b) as y:
        assert x.fingerprint == y.fingerprint
        assert x.clip_ids == y.clip_ids
        assert x.skipped() == y.skipped()
        for cid in x.clip_ids:
            assert x.record(cid) == y.record(cid)
            assert np.array_equal(x.frames(cid), y.frames(cid))
            assert np.array_equal(x.landmarks(cid), y.landmarks(cid), equal_nan=True)


def temp_files(store: Path) -> list[Path]:
    """The hidden temporary files of writes to ``store`` (``.NAME.tmp-*``)."""
    return sorted(store.parent.glob(f".{store.name}.tmp-*")) + sorted(
        store.parent.glob(f"..{store.name}.tmp-*")
    )


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Small samples (8-frame clips): CASME II 1 subject x 6 clips; manifest 1 subject x 3 clips
    (clip02 is a video)."""
    base = tmp_path_factory.mktemp("samples")
    return {
        "casme2": generate(
            "casme2", base / "CASME2", subjects=1, clips_per_subject=6, clip_length=8, seed=3
        ).root,
        "manifest": generate(
            "manifest", base / "mine", subjects=1, clips_per_subject=3, clip_length=8, seed=3
        ).root,
    }


@pytest.fixture(scope="module")
def stores(samples, tmp_path_factory):
    """Each sample extracted once with EXTRACT's parameters (the uninterrupted reference)."""
    base = tmp_path_factory.mktemp("ref")
    out = {}
    for name, root in samples.items():
        out[name] = base / f"{name}.h5"
        extract(
            ExtractConfig(
                dataset=name,
                root=root,
                out=out[name],
                frames=4,
                size=48,
                workers=1,
                annotations=root / "manifest.csv" if name == "manifest" else None,
            ),
            progress=False,
        )
    return out


# ==============================================================================================
# Sources are read-only
# ==============================================================================================

_WATCHED: list[str] = []
_WRITES: list[str] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.rename",
    "os.replace",
    "os.remove",
    "os.unlink",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.utime",
    "os.truncate",
    "os.symlink",
    "os.link",
    "shutil.rmtree",
    "shutil.move",
    "shutil.copyfile",
    "shutil.copytree",
}


def _inside(path) -> bool:
    if path is None or isinstance(path, int):
        return False
    p = os.path.abspath(os.fsdecode(path))
    return any(p == w or p.startswith(w + os.sep) for w in _WATCHED)


def _audit(event: str, args: tuple) -> None:
    """Record every attempt of this process to open for writing, create, rename, remove or
    touch anything under the watched source trees."""
    if not _WATCHED:
        return
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writes and _inside(path):
            _WRITES.append(f"open({path!r}, {mode!r}, {flags!r})")
    elif event in _PATH_EVENTS:
        if event == "shutil.copyfile" or event == "shutil.copytree" or event == "shutil.move":
            targets = args[1:2]  # only the destination is written
        elif event in ("os.rename", "os.replace", "os.link", "os.symlink"):
            targets = args[:2]
        else:
            targets = args[:1]
        for t in targets:
            if _inside(t):
                _WRITES.append(f"{event}{args!r}")


sys.addaudithook(_audit)


@pytest.mark.parametrize("dataset", ["casme2", "manifest"])
def test_whole_pipeline_leaves_the_source_untouched(samples, dataset, tmp_path, cli_runner):
    """extract -> crop-au -> flow -> magnify -> validate -> show on a read-only copy: every
    source file keeps its sha256 and mtime, nothing appears in the tree, and this process never
    opened anything there for writing (the audit hook sees every Python-level open, which also
    covers running as root, where chmod does not stop writes)."""
    root = tmp_path / "source" / samples[dataset].name
    shutil.copytree(samples[dataset], root, symlinks=True)
    before = tree_state(root.parent)
    out, png = tmp_path / "out" / "store.h5", tmp_path / "out" / "clip.png"
    set_writable(root.parent, False)
    _WATCHED.append(str(root.parent.resolve()))
    _WRITES.clear()
    try:
        try:  # the watch itself works: an attempt to open a source file for writing is seen
            os.close(os.open(root / "merprep_sample_truth.json", os.O_RDWR))
        except PermissionError:
            pass
        assert len(_WRITES) == 1
        _WRITES.clear()
        steps = [
            extract_args(dataset, root, out),
            ["crop-au", out, "--size", "24"],
            [
                "flow",
                out,
                "--method",
                "farneback",
                "--size",
                "12",
                "--workers",
                "1",
                "--no-progress",
            ],
            # a band below the manifest clips' 6.4 Hz Nyquist (a higher edge is refused)
            ["magnify", out, "--alpha", "5", "--band", "1", "5"],
            ["validate", out],
            ["show", out, "--out", png, "--frames", "4"],
        ]
        for step in steps:
            result = invoke(cli_runner, *step)
            assert result.exit_code == 0, (step, result.output)
    finally:
        _WATCHED.clear()
        set_writable(root.parent, True)
    assert _WRITES == []
    assert tree_state(root.parent) == before
    with ClipStore(out) as store:
        assert set(store.stages) == {"crop-au", "flow", "magnify"} and len(store) >= 3
    assert png.stat().st_size > 0


# ==============================================================================================
# Damaged stores: `merprep validate` names the problem (and the clip), exit 1
# ==============================================================================================


def _first_frame_chunk(path: Path, clip_id: str) -> int:
    with h5py.File(path, "r") as f:
        return f[f"clips/{clip_id}/frames"].id.get_chunk_info(1).byte_offset


def _flip_byte(path: Path, clip_id: str) -> None:
    offset = _first_frame_chunk(path, clip_id) + 7
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0x5A]))


def _truncate(path: Path, clip_id: str) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size * 2 // 3)


def _delete_group(path: Path, clip_id: str) -> None:
    with h5py.File(path, "r+") as f:
        del f[f"clips/{clip_id}"]


def _future_version(path: Path, clip_id: str) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = "2.0.0"


def _not_hdf5(path: Path, clip_id: str) -> None:
    path.write_bytes(b"%PDF-1.4 not a clip store\n" * 40)


def _missing_root_attribute(path: Path, clip_id: str) -> None:
    with h5py.File(path, "r+") as f:
        del f.attrs["frame_height"]


DAMAGE = {
    "flipped byte in a frame chunk": (_flip_byte, ["frames", "damaged"], True),
    "truncated file": (_truncate, ["not a readable HDF5 file", "truncated"], False),
    "clip group deleted": (_delete_group, ["in the index but its group is missing"], True),
    "schema version from the future": (
        _future_version,
        ["2.0.0", "newer than this merprep"],
        False,
    ),
    "not HDF5": (_not_hdf5, ["not a readable HDF5 file"], False),
    "root attribute missing": (_missing_root_attribute, ["frame_height"], False),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_validate_names_each_kind_of_damage(stores, damage, tmp_path, cli_runner):
    path = tmp_path / "damaged.h5"
    shutil.copyfile(stores["casme2"], path)
    with ClipStore(path) as store:
        clip_id = store.clip_ids[2]
    assert invoke(cli_runner, "validate", path).exit_code == 0
    hurt, words, names_clip = DAMAGE[damage]
    hurt(path, clip_id)
    result = invoke(cli_runner, "validate", path)
    assert result.exit_code == 1, result.output
    problems = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert problems, result.output
    assert len(problems) == 1, result.output  # the damage, once, without follow-on noise
    text = "\n".join(problems)
    assert all(str(path) in p for p in problems)
    for w in words:
        assert w in text, (w, result.output)
    if names_clip:
        assert any(clip_id in p and all(w in p for w in words) for p in problems), result.output


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_later_stages_refuse_a_damaged_store_and_leave_it_as_is(
    stores, damage, tmp_path, cli_runner
):
    """crop-au, flow and magnify stop with the same one-line message instead of adding arrays
    to (and re-checksumming) a damaged store; show says what is wrong too."""
    path = tmp_path / "damaged.h5"
    shutil.copyfile(stores["casme2"], path)
    with ClipStore(path) as store:
        clip_id = store.clip_ids[0]  # the first clip read
    hurt, words, names_clip = DAMAGE[damage]
    hurt(path, clip_id)
    before = path.read_bytes()
    commands = [[a.format(store=path) for a in STAGES[stage]] for stage in STAGES]
    if damage != "root attribute missing":  # show needs only the frames of one clip
        commands.append(["show", path, "--out", tmp_path / "x.png"])
    for args in commands:
        result = invoke(cli_runner, *args)
        assert result.exit_code == 2, (args, result.output)
        line = result.output.strip().splitlines()[-1]
        assert line.startswith(f"error: {path}") and all(w in line for w in words), line
        if names_clip:
            assert clip_id in line, line
        assert path.read_bytes() == before and temp_files(path) == []


# ==============================================================================================
# Hostile media: per-clip errors naming clip and file; --skip-invalid keeps the rest
# ==============================================================================================


def _stored_frames(store: Path, clip_id: str) -> list[int]:
    with ClipStore(store) as s:
        return [int(n) for n in s.record(clip_id)["frame_numbers"]]


@pytest.fixture(scope="module")
def hostile_casme2(samples, stores, tmp_path_factory):
    """A copy of the CASME II sample with one kind of damaged media per clip; damage goes to
    frames the extraction really reads (the reference store's frame numbers)."""
    root = tmp_path_factory.mktemp("hostile") / "CASME2"
    shutil.copytree(samples["casme2"], root)
    with ClipStore(stores["casme2"]) as s:
        ids = s.clip_ids
        recs = {cid: s.record(cid) for cid in ids}

    def frame(i: int, k: int) -> Path:
        rec = recs[ids[i]]
        return root / rec["source"] / f"img{int(rec['frame_numbers'][k])}.jpg"

    frame(0, 2).write_bytes(b"")
    data = frame(1, 3).read_bytes()
    frame(1, 3).write_bytes(data[: len(data) // 2])
    small = cv2.imread(str(frame(2, 2)))
    cv2.imwrite(str(frame(2, 2)), cv2.resize(small, (320, 240)))
    gray = cv2.cvtColor(cv2.imread(str(frame(3, 2))), cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(frame(3, 2)), gray)  # a one-channel JPEG
    assert cv2.imread(str(frame(3, 2)), cv2.IMREAD_UNCHANGED).ndim == 2
    onset = root / recs[ids[4]]["source"] / f"img{recs[ids[4]]['onset']}.jpg"
    cv2.imwrite(str(onset), np.full((480, 640, 3), 128, np.uint8))
    expected = {
        ids[0]: [str(frame(0, 2)), "empty image file (0 bytes)"],
        ids[1]: [str(frame(1, 3)), "truncated JPEG"],
        ids[2]: ["mixed frame sizes"],
        ids[4]: ["no face"],
    }
    return root, expected, ids[3], ids[5], recs


@pytest.mark.slow
def test_hostile_casme2_media_are_named_per_clip(hostile_casme2, tmp_path, cli_runner):
    root, expected, gray_clip, intact, recs = hostile_casme2
    out = tmp_path / "store.h5"
    result = invoke(cli_runner, *extract_args("casme2", root, out))
    assert result.exit_code == 2 and f"{len(expected)} problem(s)" in result.output, result.output
    lines = result.output.splitlines()
    for clip_id, words in expected.items():
        line = next((l for l in lines if clip_id in l), "")
        assert all(w in line for w in words), (clip_id, words, result.output)
        assert f"row {recs[clip_id]['annotation']['row']}" in line
    assert not out.exists() and not temp_files(out)

    result = invoke(cli_runner, *extract_args("casme2", root, out, "--skip-invalid"))
    assert result.exit_code == 0, result.output
    assert validate_store(out) == []
    with ClipStore(out) as store:
        assert store.clip_ids == sorted([gray_clip, intact])
        skipped = {s["clip_id"]: s for s in store.skipped()}
        assert set(skipped) == set(expected)
        for clip_id, words in expected.items():
            assert all(w in skipped[clip_id]["reason"] for w in words), skipped[clip_id]
            assert skipped[clip_id]["row"] == recs[clip_id]["annotation"]["row"]
        # a grayscale frame in a colour dataset is converted (R = G = B) and the clip kept
        frames = store.frames(gray_clip)
        assert frames.shape == (4, 48, 48, 3)
        g = frames[2].astype(int)
        assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])
        assert not np.array_equal(frames[1][..., 0], frames[1][..., 2])  # the others: colour


@pytest.mark.slow
def test_hostile_manifest_media_are_named_per_clip(samples, stores, tmp_path, cli_runner):
    """Zero-byte and zero-frame videos, truncated and zero-byte BMP frames."""
    root = tmp_path / "mine"
    shutil.copytree(samples["manifest"], root)
    good = (root / "manifest.csv").read_text().splitlines()
    folder_row = next(l for l in good[1:] if ",frames/" in l).split(",")
    src = root / folder_row[3]
    for name in ("bmp_cut", "bmp_empty"):
        (root / "frames" / name).mkdir()
        for jpg in src.iterdir():
            cv2.imwrite(str(root / "frames" / name / (jpg.stem + ".bmp")), cv2.imread(str(jpg)))
    onset, offset = int(folder_row[4]), int(folder_row[6])
    cut = root / "frames" / "bmp_cut" / f"frame_{offset:06d}.bmp"
    cut.write_bytes(cut.read_bytes()[:5000])
    empty_bmp = root / "frames" / "bmp_empty" / f"frame_{offset:06d}.bmp"
    empty_bmp.write_bytes(b"")
    (root / "videos" / "empty.mp4").write_bytes(b"")
    writer = cv2.VideoWriter(
        str(root / "videos" / "noframes.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 64)
    )
    writer.release()  # a container without a single frame
    rows = [
        ("bmpcut", "frames/bmp_cut", onset, offset, 100),
        ("bmpempty", "frames/bmp_empty", onset, offset, 100),
        ("vidempty", "videos/empty.mp4", 0, 5, 30),
        ("vidnoframes", "videos/noframes.mp4", 0, 5, 30),
    ]
    with open(root / "manifest.csv", "a", newline="") as fh:
        for clip, source, a, b, fps in rows:
            fh.write(f"mydata,p01,{clip},{source},{a},,{b},happiness,12,{fps}\n")
    expected = {
        "mydata/p01/bmpcut": [str(cut), "truncated BMP"],
        "mydata/p01/bmpempty": [str(empty_bmp), "empty image file (0 bytes)"],
        "mydata/p01/vidempty": ["empty.mp4", "cannot open video"],
        "mydata/p01/vidnoframes": ["noframes.mp4", "cannot open video"],
    }
    out = tmp_path / "store.h5"
    result = invoke(cli_runner, *extract_args("manifest", root, out, "--skip-invalid"))
    assert result.exit_code == 0, result.output
    assert validate_store(out) == []
    with ClipStore(out) as store, ClipStore(stores["manifest"]) as ref:
        assert store.clip_ids == ref.clip_ids  # the intact clips, unchanged
        assert store.fingerprint == ref.fingerprint
        skipped = {s["clip_id"]: s for s in store.skipped()}
    assert set(skipped) == set(expected)
    for clip_id, words in expected.items():
        assert all(w in skipped[clip_id]["reason"] for w in words), skipped[clip_id]
        assert skipped[clip_id]["row"] is not None and skipped[clip_id]["file"] == "manifest.csv"


# ==============================================================================================
# Paths: spaces and non-ASCII names, symlinked clip folders, clip ids that try to escape
# ==============================================================================================


@pytest.mark.slow
def test_odd_paths_and_a_symlinked_clip_folder_give_the_same_store(samples, stores, tmp_path):
    """`données brutes/CASME 2` as root, one clip folder a symlink to a folder elsewhere, the
    store under `sortie é/`: the CLI (a real process, real argv encoding) writes a store with
    the same fingerprint as the plain sample's."""
    root = tmp_path / "données brutes" / "CASME 2"
    shutil.copytree(samples["casme2"], root)
    with ClipStore(stores["casme2"]) as s:
        moved = root / s.record(s.clip_ids[1])["source"]
    elsewhere = tmp_path / "ailleurs" / "clip dossier"
    shutil.move(moved, elsewhere)
    moved.symlink_to(elsewhere, target_is_directory=True)
    out = tmp_path / "sortie é" / "store 1.h5"
    proc = subprocess.run(
        merprep_cmd(*extract_args("casme2", root, out)),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert validate_store(out) == []
    assert_same_store(out, stores["casme2"])
    assert moved.is_symlink() and not temp_files(out)


@pytest.mark.slow
def test_manifest_clip_ids_that_escape_are_refused(samples, tmp_path, cli_runner):
    base = tmp_path / "sandbox"
    root = base / "mine"
    shutil.copytree(samples["manifest"], root)
    src = next(
        l for l in (root / "manifest.csv").read_text().splitlines()[1:] if ",frames/" in l
    ).split(",")
    hostile = [
        ("mydata", "p01", "../../../escaped"),
        ("mydata", "..", "c1"),
        ("..", "p01", "c2"),
        ("mydata", "p01", "a/../../b"),
        ("mydata", "p01/../..", "c3"),
        ("/tmp", "p01", "c4"),
        ("mydata", "p01", ".hidden"),
    ]
    n_good = len((root / "manifest.csv").read_text().splitlines()) - 1
    with open(root / "manifest.csv", "a", newline="") as fh:
        w = csv.writer(fh)
        for d, s, c in hostile:
            w.writerow([d, s, c, src[3], src[4], "", src[6], "happiness", "12", "100"])
    bad_rows = list(range(n_good + 2, n_good + 2 + len(hostile)))
    out = base / "out" / "store.h5"
    before = tree_state(tmp_path)
    result = invoke(cli_runner, *extract_args("manifest", root, out))
    assert result.exit_code == 2 and f"{len(hostile)} problem(s)" in result.output
    for row in bad_rows:
        line = next((l for l in result.output.splitlines() if f", row {row}" in l), "")
        assert "not allowed" in line, (row, result.output)
    assert not out.exists()

    result = invoke(cli_runner, *extract_args("manifest", root, out, "--skip-invalid"))
    assert result.exit_code == 0, result.output
    with ClipStore(out) as store:
        assert len(store) == n_good and all(".." not in c for c in store.clip_ids)
        assert sorted(s["row"] for s in store.skipped()) == bad_rows
    after = tree_state(tmp_path)
    new = sorted(set(after) - set(before))
    assert all(p.startswith("sandbox/out") for p in new), new  # nothing outside the output
    assert [p for p in new if p != "sandbox/out"] == ["sandbox/out/store.h5"]


# ==============================================================================================
# Interrupted writers (SIGKILL) and concurrent writers (lock)
# ==============================================================================================


def start(args: list, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        merprep_cmd(*args),
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_for(proc: subprocess.Popen, condition, timeout: float = 180) -> bool:
    """Poll ``condition`` every millisecond while ``proc`` runs; True when it held in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.001)
    return False


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    if proc.stderr:
        proc.stderr.close()


def _staged(out: Path) -> int:
    d = out.with_name(out.name + ".partial") / "clips"
    return sum(not p.name.startswith(".") for p in d.iterdir()) if d.is_dir() else 0


@pytest.mark.slow
def test_extract_killed_anywhere_leaves_the_old_store_and_resume_completes(
    samples, stores, tmp_path, cli_runner
):
    """SIGKILL extract at four points; each time the target still holds the previous store,
    byte for byte. `extract --resume` then writes the store an uninterrupted run writes."""
    out = tmp_path / "casme2.h5"
    shutil.copyfile(stores["manifest"], out)  # an older store at the target path
    old = out.read_bytes()
    lock = out.with_name(out.name + ".lock")
    points = [
        ("during start-up", [], lambda: False, 0.4),
        ("holding the lock, planning", [], lambda: lock.exists(), 0.0),
        ("clips staged", [], lambda: _staged(out) >= 2, 0.0),
        (
            "temporary store being written",
            ["--resume"],
            lambda: bool(temp_files(out)) and _staged(out) >= 4,
            0.0,
        ),
    ]
    # replacing the older store is asked for (--overwrite): a plain extract would refuse it
    args = extract_args("casme2", samples["casme2"], out, "--overwrite")
    mid_write = 0
    for name, extra, condition, delay in points:
        proc = start(args + extra)
        try:
            if delay:
                time.sleep(delay)
            else:
                assert wait_for(proc, condition), f"{name}: never reached"
            alive = proc.poll() is None
        finally:
            kill(proc)
        assert alive, f"{name}: the run ended before the kill"
        assert out.read_bytes() == old, f"killed {name}: the target changed"
        mid_write += bool(temp_files(out))
    assert mid_write >= 1  # at least one kill left a half-written temporary store behind
    assert _staged(out) >= 4

    result = invoke(cli_runner, *extract_args("casme2", samples["casme2"], out, "--resume"))
    assert result.exit_code == 0, result.output
    assert_same_store(out, stores["casme2"])
    assert validate_store(out) == []
    assert not out.with_name(out.name + ".partial").exists() and not lock.exists()
    assert temp_files(out) == []  # the killed runs' temporary files were removed


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_killed_leaves_the_old_store_or_the_new_one(stores, stage, tmp_path, cli_runner):
    """Kill a later stage the moment its temporary copy appears (stopped first, so the kill
    lands mid-write for sure) and at a few delays after that: the target is the old store byte
    for byte, or (when the run got to its rename) the complete new one; never a mix."""
    out = tmp_path / "store.h5"
    shutil.copyfile(stores["casme2"], out)
    old = out.read_bytes()
    args = [a.format(store=out) for a in STAGES[stage]]
    outcomes = []
    for delay in (None, 0.0, 0.05, 0.2):
        proc = start(args)
        try:
            assert wait_for(proc, lambda: bool(temp_files(out))), "no temporary copy appeared"
            if delay is None:
                os.kill(proc.pid, signal.SIGSTOP)  # frozen while the copy is being written
                assert temp_files(out) and out.read_bytes() == old
            else:
                time.sleep(delay)
        finally:
            kill(proc)
        if out.read_bytes() == old:
            outcomes.append("old")
        else:  # the run committed before the kill: the new store must be complete
            assert validate_store(out) == []
            with ClipStore(out) as s:
                assert stage in s.stages
            outcomes.append("new")
            shutil.copyfile(stores["casme2"], out)
    assert outcomes[0] == "old"
    result = invoke(cli_runner, *args)  # and the stage still runs to completion afterwards
    assert result.exit_code == 0, result.output
    assert validate_store(out) == [] and temp_files(out) == []
    with ClipStore(out) as s:
        assert list(s.stages) == [stage]


def _lock_held_by(lock: Path, pid: int) -> bool:
    try:
        return lock.read_text().strip() == str(pid)
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize(
    "first,second",
    [
        (["extract"], ["extract"]),
        (["flow"], ["crop-au"]),
    ],
)
def test_second_writer_is_refused_not_interleaved(samples, stores, first, second, tmp_path):
    """While one merprep process writes a store, a second writer exits non-zero with a message
    naming the holder's pid; the first completes as if alone."""
    out = tmp_path / "store.h5"
    lock = out.with_name(out.name + ".lock")

    def args(cmd):
        if cmd == ["extract"]:
            return extract_args("casme2", samples["casme2"], out)
        return [a.format(store=out) for a in STAGES[cmd[0]]]

    if first != ["extract"]:
        shutil.copyfile(stores["casme2"], out)
    holder = start(args(first))
    try:
        assert wait_for(holder, lambda: _lock_held_by(lock, holder.pid))
        os.kill(holder.pid, signal.SIGSTOP)  # hold the lock for as long as the test needs
        before = out.read_bytes() if out.exists() else None
        second_run = subprocess.run(
            merprep_cmd(*args(second)), env=ENV, capture_output=True, text=True, timeout=300
        )
        assert second_run.returncode != 0
        assert (
            f"another merprep process (pid {holder.pid}) is writing this store" in second_run.stderr
        ), second_run.stderr
        assert "Traceback" not in second_run.stderr
        assert (out.read_bytes() if out.exists() else None) == before
        assert _lock_held_by(lock, holder.pid)  # the refused writer left the lock alone
        os.kill(holder.pid, signal.SIGCONT)
        assert holder.wait(timeout=300) == 0, holder.stderr.read()
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
        kill(holder)
    assert validate_store(out) == []
    if first == ["extract"]:
        assert_same_store(out, stores["casme2"])
    else:
        with ClipStore(out) as s:
            assert list(s.stages) == [first[0]]


def test_library_calls_name_a_missing_root_or_store_and_create_nothing(tmp_path):
    """Library callers (notebooks) get the same clear errors as the CLI, which guards paths with
    click: a missing dataset root or annotation file, and a later stage on a missing store,
    raise a MerprepError naming the path, and nothing is created beside it."""
    from merprep.errors import MerprepError
    from merprep.flow import FlowConfig, run_flow
    from merprep.magnify import MagnifyConfig, run_magnify
    from merprep.regions import CropConfig, run_crop_au

    missing = tmp_path / "no such dataset"
    with pytest.raises(MerprepError, match="dataset root not found") as err:
        extract(ExtractConfig(dataset="casme2", root=missing, out=tmp_path / "s.h5"))
    assert str(missing) in str(err.value)
    sheet = tmp_path / "coding.xlsx"
    with pytest.raises(MerprepError, match="annotation file not found") as err:
        extract(
            ExtractConfig(dataset="casme2", root=tmp_path, annotations=sheet, out=tmp_path / "s.h5")
        )
    assert str(sheet) in str(err.value)

    store = tmp_path / "nested" / "store.h5"
    for run, config in (
        (run_flow, FlowConfig()),
        (run_crop_au, CropConfig()),
        (run_magnify, MagnifyConfig(alpha=10, low=0.5, high=3.0)),
    ):
        with pytest.raises(MerprepError, match="no such store") as err:
            run(store, config)
        assert str(store) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
