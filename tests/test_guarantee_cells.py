"""Annotation cells and tables (merprep/datasets/cells.py, tables.py), function by function:
which spellings are numbers, which are blank, which are problems (and the message naming the
file and row), how a sheet's header row, blank rows, formulas, missing-value markers and
duplicate headers are read. The tables are written here with openpyxl / csv; the dataset
readers themselves are tested on the REAL workbooks (test_datasets_real.py, test_guarantee_
tasks.py). Also parse_aus (merprep/datasets/base.py) on every form the datasets write.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from merprep.datasets import cells, tables
from merprep.datasets.base import AUCode, parse_aus
from merprep.errors import AnnotationError, Problem

F = Path("coding.xlsx")


@pytest.mark.parametrize(
    "text, value",
    [("12", 12), (" 12 ", 12), ("+7", 7), ("007", 7), ("0", 0), ("1_0", None), ("-3", None),
     ("1.0", None), ("", None), ("1 2", None), ("12a", None), (12, 12)],
)  # fmt: skip
def test_strict_int(text, value):
    if value is None:
        with pytest.raises(ValueError, match="not a whole number"):
            cells.strict_int(text)
    else:
        assert cells.strict_int(text) == value


@pytest.mark.parametrize(
    "text, value",
    [("200", 200.0), ("29.97", 29.97), ("-1.5", -1.5), ("+2", 2.0), (".5", 0.5), ("5.", 5.0),
     ("2.5e1", 25.0), ("1E-2", 0.01), (" 30 ", 30.0), ("1_0", None), ("inf", None),
     ("nan", None), ("", None), ("1e", None), ("e5", None), ("1.2.3", None)],
)  # fmt: skip
def test_strict_float(text, value):
    if value is None:
        with pytest.raises(ValueError, match="not a number"):
            cells.strict_float(text)
    else:
        assert cells.strict_float(text) == pytest.approx(value)


def test_missing_and_text_cells():
    for blank in (None, float("nan"), "", " ", "/", "-", "NaN", "none", "N/A", "na", "?"):
        assert cells.is_missing(blank) and cells.text_cell(blank) == ""
    for value in (0, 0.0, "0", "x", "--", "n", False):
        assert not cells.is_missing(value)
    assert cells.text_cell(12.0) == "12" and cells.text_cell(12.5) == "12.5"
    assert cells.text_cell("  R12 ") == "R12" and cells.text_cell(7) == "7"


def _int(value, **kw):
    problems: list[Problem] = []
    got = cells.int_cell(value, column="OnsetFrame", file=F, row=9, problems=problems, **kw)
    return got, [p.message for p in problems], problems


@pytest.mark.parametrize(
    "value, kw, expected, message",
    [
        (12, {}, 12, None),
        (12.0, {}, 12, None),
        ("12", {}, 12, None),
        (" 12.000 ", {}, 12, None),
        ("-0", {}, 0, None),
        (0, {}, 0, None),
        (10**8, {}, 10**8, None),
        (10**8 + 1, {}, None, "OnsetFrame out of range: 100000001"),
        (-1, {}, None, "OnsetFrame out of range: -1"),
        (-1, {"minimum": -5}, -1, None),
        (-6, {"minimum": -5}, None, "OnsetFrame out of range: -6"),
        (-7, {"minimum": None}, -7, None),
        (12.5, {}, None, "OnsetFrame is not a whole number: '12.5'"),
        ("12.5", {}, None, "OnsetFrame is not a whole number: '12.5'"),
        ("x" * 50, {}, None, "OnsetFrame is not a whole number: '" + "x" * 40 + "'"),
        (True, {}, None, "OnsetFrame is not a number: True"),
        ("", {}, None, "OnsetFrame is empty"),
        (None, {"allow_missing": True}, None, None),
        ("/", {"allow_missing": True}, None, None),
        (-1, {"missing_values": (-1,), "minimum": None}, None, "OnsetFrame is missing (-1)"),
        (-1, {"missing_values": (-1,), "allow_missing": True}, None, None),
        (5, {"maximum": 4}, None, "OnsetFrame out of range: 5"),
        (4, {"maximum": 4}, 4, None),
    ],
)
def test_int_cell(value, kw, expected, message):
    got, messages, problems = _int(value, **kw)
    assert got == expected
    assert messages == ([] if message is None else [message])
    assert all((p.file, p.row) == (str(F), 9) for p in problems)


def test_a_formula_cell_is_reported_once_by_its_row_not_by_the_column():
    formula = cells.FormulaCell("=1+1")
    assert _int(formula) == (None, [], [])
    row = {"ApexFrame": formula, "__row__": 4}
    (problem,) = tables.cell_problems(_Row(row), F)
    assert problem.row == 4 and problem.file == str(F)
    assert problem.message.startswith("ApexFrame holds a formula with no saved value (=1+1)")


@pytest.mark.parametrize(
    "onset, apex, offset, ok, message",
    [
        (1, 2, 3, True, None),
        (1, None, 3, True, None),
        (1, 1, 1, True, None),
        (1, 3, 3, True, None),
        (None, 2, 3, False, None),
        (1, 2, None, False, None),
        (4, None, 3, False, "onset 4 is after offset 3"),
        (1, 5, 3, False, "apex 5 is outside onset..offset 1..3"),
        (2, 1, 3, False, "apex 1 is outside onset..offset 2..3"),
    ],
)
def test_frame_order(onset, apex, offset, ok, message):
    problems: list[Problem] = []
    assert cells.check_frame_order(onset, apex, offset, file=F, row=3, problems=problems) is ok
    assert [p.message for p in problems] == ([] if message is None else [message])


class _Row(dict):
    """A pandas-like row (``items`` and ``index``) for AnnotationRow and cell_problems."""

    @property
    def index(self):
        return list(self)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def _xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_read_xlsx_header_row_numbers_blank_rows_and_markers(tmp_path):
    path = _xlsx(tmp_path / "t.xlsx", {
        "Notes": [["a sheet before the data"]],
        "Data": [["preamble"], [None], ["Subject", "Filename", None, "Onset", "Onset"],
                 [1, "EP01", "x", 10, 11], [None, None, None, None, None],
                 ["2", "EP02", None, "#N/A", "=1+1"], ["NULL", "EP03", "", 5.0, True]],
    })  # fmt: skip
    df = tables.read_table(path, sheet="Data", header_row=3, required=["Subject", "Onset"])
    assert list(df.columns) == ["Subject", "Filename", "Unnamed: 2", "Onset", "Onset.1", "__row__"]
    assert df["__row__"].tolist() == [4, 6, 7]  # the blank row 5 dropped, numbers as shown
    assert df["Subject"].tolist()[:2] == [1, "2"] and df["Subject"].tolist()[2] is None
    assert df["Onset"].tolist()[0] == 10 and df["Onset"].tolist()[1] is None  # '#N/A' blank
    assert isinstance(df["Onset.1"].tolist()[1], cells.FormulaCell)
    assert df["Onset.1"].tolist()[2] is True  # booleans stay booleans
    assert df.equals(tables.read_table(path, sheet=1, header_row=3))


def test_read_table_errors_name_the_file(tmp_path):
    path = _xlsx(tmp_path / "t.xlsx", {"Sheet1": [["Subject", "Filename"], [1, "EP01"]]})
    with pytest.raises(AnnotationError, match=r"sheet 'label' not found \(sheets: Sheet1\)"):
        tables.read_table(path, sheet="label")
    with pytest.raises(AnnotationError) as err:
        tables.read_table(path, required=["Subject", "OnsetFrame", "ApexFrame"])
    assert str(err.value) == (
        f"{path}: missing column(s) 'OnsetFrame', 'ApexFrame' (found: Subject, Filename; "
        "header expected on row 1)"
    )
    with pytest.raises(AnnotationError, match="the sheet has no header row 5"):
        tables.read_table(path, header_row=5)
    with pytest.raises(AnnotationError, match="annotation file not found"):
        tables.read_table(tmp_path / "absent.xlsx")
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    with pytest.raises(AnnotationError, match=r"cannot read annotation file \(") as err:
        tables.read_table(junk)
    assert str(junk) in str(err.value)
    assert tables.sheet_names(path) == ["Sheet1"] and tables.sheet_names(junk) == []
    assert tables.sheet_names(tmp_path / "a.csv") == []


def test_read_csv_keeps_text_and_numbers_the_rows(tmp_path):
    path = tmp_path / "m.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh).writerows(
            [["dataset", " subject ", "onset"], ["mine", "p01", "007"], ["", "", ""],
             ["mine", "p02", "NA"]]
        )  # fmt: skip
    df = tables.read_table(path, required=["subject"])
    assert list(df.columns) == ["dataset", "subject", "onset", "__row__"]  # stripped, no BOM
    assert df["onset"].tolist() == ["007", "NA"]  # text as written (no NA guessing)
    assert df["__row__"].tolist() == [2, 4]


def test_find_header_row(tmp_path):
    path = _xlsx(tmp_path / "t.xlsx", {"S": [["x"], ["Subject", "y"], ["Subject", "Filename"]]})
    assert tables.find_header_row(path, ["Subject", "Filename"]) == 3
    assert tables.find_header_row(path, ["Subject"]) == 2
    assert tables.find_header_row(path, ["Onset"]) is None
    assert tables.find_header_row(path, ["Subject", "Filename"], search_rows=2) is None
    assert tables.find_header_row(tmp_path / "absent.xlsx", ["Subject"]) is None


def test_annotation_row_reads_each_kind_of_cell_and_names_its_problems():
    row = tables.AnnotationRow(
        _Row(Subject="01", Filename="../EP01", Onset="12", Apex="x", Emotion="Joy", Fps="",
             Formula=cells.FormulaCell("=A1"), __row__=5),
        F,
    )  # fmt: skip
    assert row.number == 5 and not row.ok  # the formula cell, reported on creation
    assert row.has("Apex") and not row.has("Offset")
    assert row.text("Subject") == "01" and row.text("Fps") == ""
    assert row.frame("Onset") == 12 and row.frame("Apex") is None
    assert row.frame("Fps", optional=True) is None
    assert row.name("Filename") is None and row.name("Fps") is None
    assert row.name("Subject", what="subject") == "01"
    assert row.normalised("Subject", lambda t: f"sub{int(t):02d}", what="subject") == "sub01"
    assert row.normalised("Apex", cells.strict_int, what="frame number") is None
    assert row.emotion("Emotion", {"joy", "fear"}) == "Joy"
    assert row.emotion("Emotion", {"fear", "anger"}) == "Joy"
    into: list[Problem] = []
    assert row.done(into, "casme2/sub01/EP01") is False
    assert [p.message for p in into] == [
        "Formula holds a formula with no saved value (=A1); open and save the file in a "
        "spreadsheet program, or type the value",
        "Apex is not a whole number: 'x'",
        "Filename is not a valid name: '../EP01'",
        "Fps is empty",
        "Apex is not a frame number: 'x'",
        "unknown emotion 'Joy' (expected one of anger, fear)",
    ]
    assert all((p.file, p.row, p.clip_id) == (str(F), 5, "casme2/sub01/EP01") for p in into)


def test_order_is_checked_only_once_the_cells_are_sound():
    good = tables.AnnotationRow(_Row(__row__=2), F)
    good.check_order(5, None, 3)
    assert [p.message for p in good.problems] == ["onset 5 is after offset 3"]
    bad = tables.AnnotationRow(_Row(__row__=2), F)
    bad.problem("OnsetFrame is empty")
    bad.check_order(5, None, 3)
    assert len(bad.problems) == 1
    assert bad.done([]) is False and good.problems[0].clip_id is None
    tables.tag_problems(good.problems, None)
    assert good.problems[0].clip_id is None
    tables.tag_problems(good.problems, "a/b/c")
    tables.tag_problems(good.problems, "x/y/z")  # the first name stays
    assert good.problems[0].clip_id == "a/b/c"


# --------------------------------------------------------------------------------------------
# action units
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, codes, unparsed",
    [
        ("4+7", [(4, None, None, False), (7, None, None, False)], []),
        ("4 or 7", [(4, None, None, True), (7, None, None, True)], []),
        ("R12 or L12+15", [(12, "R", None, True), (12, "L", None, True),
                           (15, None, None, False)], []),
        ("4/7", [(4, None, None, True), (7, None, None, True)], []),
        ("R12", [(12, "R", None, False)], []),
        ("L10+R12", [(10, "L", None, False), (12, "R", None, False)], []),
        ("1+2+R4", [(1, None, None, False), (2, None, None, False), (4, "R", None, False)], []),
        ("AU4", [(4, None, None, False)], []),
        ("12B", [(12, None, "B", False)], []),
        ("r14a", [(14, "R", "A", False)], []),
        ("A1+B2", [(1, "A", None, False), (2, "B", None, False)], []),
        ("R4,5", [(4, "R", None, False), (5, None, None, False)], []),
        ("4\uff0c7", [(4, None, None, False), (7, None, None, False)], []),
        ("(4)+ 7;9 & 10", [(4, None, None, False), (7, None, None, False),
                           (9, None, None, False), (10, None, None, False)], []),
        ("ref(7B)+43", [(43, None, None, False)], ["ref(7B"]),
        ("T18+soft focus", [], ["T18", "soft focus"]),
        ("1234", [], ["1234"]),
        ("", [], []), ("/", [], []), ("nan", [], []), ("?", [], []), (None, [], []),
        ("4 OR 7", [(4, None, None, True), (7, None, None, True)], []),
    ],
)  # fmt: skip
def test_parse_aus(text, codes, unparsed):
    got, rest = parse_aus(text)
    assert [(c.code, c.side, c.intensity, c.uncertain) for c in got] == codes
    assert rest == unparsed
    assert all(isinstance(c, AUCode) for c in got)


def test_au_codes_serialise_as_the_store_writes_them():
    (code,) = parse_aus("R12B")[0]
    assert code.to_dict() == {"code": 12, "side": "R", "intensity": "B", "uncertain": False}


def test_legacy_xls_and_csv_headers_are_found(tmp_path):
    """The REAL CAS(ME)^3 part A .xls (BIFF, read with xlrd) and a CSV with a preamble."""
    xls = Path(__file__).parent / "data" / "longvideo" / "SFAMNet__CAS_ME_3_part_A_v2.xls"
    assert tables.sheet_names(xls) == ["AU+Emotion", "eye blink"]
    assert tables.find_header_row(xls, ["Subject", "Filename", "Onset"]) == 1
    assert tables.find_header_row(xls, ["Subject", "Onset"], sheet="eye blink") == 1
    with pytest.raises(AnnotationError) as err:
        tables.read_table(xls, sheet="label")
    assert str(err.value) == (f"{xls}: sheet 'label' not found (sheets: AU+Emotion, eye blink)")
    blink = tables.read_table(xls, sheet="eye blink", required=["Subject", "Onset"])
    assert list(blink.columns) == ["Subject", "Filename", "Onset", "Offset", "__row__"]
    assert len(blink) == 841 and blink["__row__"].tolist()[:3] == [2, 3, 4]
    path = tmp_path / "m.csv"
    path.write_text(
        "exported by a tool,,\n,,\nsubject,clip,onset\np01,c1,3\n", encoding="utf-8-sig"
    )
    assert tables.find_header_row(path, ["subject", "clip"]) == 3
    assert tables.find_header_row(path, ["subject", "clip"], search_rows=2) is None
    assert tables.read_table(path, header_row=3)["onset"].tolist() == ["3"]
