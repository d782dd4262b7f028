"""Every adapter on the REAL annotation workbooks (tests/data, provenance in its README): counts
per subject and emotion and every quirk, by row; and the shipped errata
(``--corrections known``) on the real files, changing exactly the listed cells.

The workbooks are the datasets' own; only the frames are missing. Adapters need their frames
folder to exist, so each test builds an empty release tree; SMIC has no clip table at all, so
its clip folders come from an independent real source, the official MEGC2019 list (all 164
SMIC-HS clips), each folder holding one empty file named like a frame.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from merprep.datasets import get_adapter
from merprep.datasets.errata import KnownCorrections, release_files
from merprep.datasets.tables import read_table, text_cell
from merprep.errors import AnnotationError, MerprepError

DATA = Path(__file__).parent / "data"
MEGC_LIST = (
    Path(__file__).resolve().parents[1] / "mertrain/protocols/data/megc2019_combined_3class_gt.csv"
)
CASME2_2019 = DATA / "MouathAb__CASME2-coding-20190701.xlsx"
CASME2_2014 = DATA / "davidnvq__CASME2-coding-20140508.xlsx"
SAMM_V2 = DATA / "MouathAb__SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_FIXED = DATA / "davidnvq__SAMM_Micro_FACS_Codes_v2.xlsx"
SMIC_E_ORIG = DATA / "davidnvq__SMIC-HS-E_annotation_orig.xlsx"
SMIC_E_EDIT = DATA / "davidnvq__SMIC-HS-E_annotation.xlsx"
CASME3_A = DATA / "casme3_partA_ME_label_JpgIndex_v2.xlsx"

SHA256 = {  # tests/data/README.md
    CASME2_2019: "6004a3ea87055ef9e6319d59b7940b337dc08e18ac785429c9b851587aa5e090",
    CASME2_2014: "cc45b6cb428c97f3ce2902a79f90a623c38563ea676c7ae4dcabdff889939f27",
    SAMM_V2: "50caea8961cbb8d005669971b87396ac4759bdf45c96637a382c5d9d0894a4a4",
    SAMM_FIXED: "c0d5d145ba01bd732c4acecf87a798d2c2895ce38cc77f3076ad08e4b5a515b0",
    SMIC_E_ORIG: "00fb8eb3a43aedee0010ee0fb9b3f257d24217149b82a238aabaa0721d7eaa45",
    SMIC_E_EDIT: "60ecea8082556b7323bec56ea7a6fb6ade539e2c63fce68f25f92255bb8715df",
}


def test_the_real_files_are_the_documented_ones():
    for path, digest in SHA256.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path.name


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Empty CASME II and SAMM frames folders (the adapters look for them)."""
    root = tmp_path_factory.mktemp("real")
    (root / "CASME2_RAW_selected" / "sub01").mkdir(parents=True)
    (root / "SAMM" / "006").mkdir(parents=True)
    return root


def read(dataset, root, annotations, **kw):
    return get_adapter(dataset)(root, annotations, **kw).read_records()


# --------------------------------------------------------------------------------------------
# CASME II, two releases
# --------------------------------------------------------------------------------------------

CASME2_SUBJECTS = {
    "sub01": 9, "sub02": 13, "sub03": 7, "sub04": 5, "sub05": 19, "sub06": 5, "sub07": 9,
    "sub08": 3, "sub09": 14, "sub10": 14, "sub11": 10, "sub12": 12, "sub13": 8, "sub14": 4,
    "sub15": 3, "sub16": 4, "sub17": 36, "sub18": 3, "sub19": 16, "sub20": 11, "sub21": 2,
    "sub22": 2, "sub23": 12, "sub24": 10, "sub25": 7, "sub26": 17,
}  # fmt: skip


@pytest.mark.parametrize(
    "path,emotions",
    [
        (
            CASME2_2019,
            {"others": 99, "disgust": 63, "happiness": 32, "surprise": 28, "repression": 27,
             "sadness": 4, "fear": 2},
        ),
        (
            CASME2_2014,
            {"others": 99, "disgust": 63, "happiness": 32, "surprise": 25, "repression": 27,
             "sadness": 7, "fear": 2},
        ),
    ],
)  # fmt: skip
def test_real_casme2_coding_sheets(tree, path, emotions):
    records, problems = read("casme2", tree, path)
    assert problems == [] and len(records) == 255
    assert Counter(r.subject for r in records) == CASME2_SUBJECTS
    assert Counter(r.emotion for r in records) == emotions
    # the one apex written '/': recorded as missing, on its row
    assert [(r.annotation_row, r.clip_id) for r in records if r.apex is None] == [
        (31, "casme2/sub04/EP12_01f")
    ]
    first = records[0]
    assert (first.clip_id, first.onset, first.apex, first.offset, first.annotation_row) == (
        "casme2/sub01/EP02_01f",
        46,
        59,
        86,
        2,
    )
    assert all(r.source == f"CASME2_RAW_selected/{r.subject}/{r.clip}" for r in records)
    # every AU cell parses; file names repeat across subjects, ids never do
    assert all(not r.to_dict()["au_unparsed"] for r in records)
    assert sum(n > 1 for n in Counter(r.clip for r in records).values()) == 53
    assert len({r.clip_id for r in records}) == 255


def test_the_two_casme2_releases_differ_in_three_emotions_and_57_au_cells(tree):
    new, _ = read("casme2", tree, CASME2_2019)
    old, _ = read("casme2", tree, CASME2_2014)
    assert [r.clip_id for r in new] == [r.clip_id for r in old]
    assert [(n.onset, n.apex, n.offset) for n in new] == [(o.onset, o.apex, o.offset) for o in old]
    changed = [
        (n.annotation_row, o.emotion, n.emotion) for n, o in zip(new, old) if n.emotion != o.emotion
    ]
    assert changed == [(225, "sadness", "surprise"), (226, "sadness", "surprise"),
                       (230, "sadness", "surprise")]  # fmt: skip
    assert sum(n.aus != o.aus for n, o in zip(new, old)) == 57
    # both write Subject as text ('01'), read as sub01 (the folder and MEGC2019 form)
    assert read_table(CASME2_2019)["Subject"][0] == read_table(CASME2_2014)["Subject"][0] == "01"


# --------------------------------------------------------------------------------------------
# SAMM, the unedited copy and a hand-edited one
# --------------------------------------------------------------------------------------------

SAMM_EMOTIONS = {"Anger": 57, "Other": 26, "Happiness": 26, "Surprise": 15, "Contempt": 12,
                 "Disgust": 9, "Fear": 8, "Sadness": 6}  # fmt: skip
SAMM_UNPARSED = [
    (40, "ref(7B)+43"), (42, "ref(7B)+43C"), (43, "7B+ ref(43)"), (58, "10A/B"),
    (59, "ref(L10)+A12B"), (65, "ref(5)+20C+25+26"), (77, "12A+ref(24)"), (82, "A/L12"),
    (87, "7D+ref(43)"), (99, "A9E+ref(10)"), (123, "T18+39"), (125, "4+13+T18+39"),
    (126, "13+T18+39"), (130, "4D+ref(6)+7C+43E"), (135, "R14+17+soft focus"), (143, "4A/B"),
    (172, "T23"),
]  # fmt: skip


def test_real_samm_unedited_copy(tree, caplog):
    from merprep.datasets.base import unparsed_au_rows

    records, problems = read("samm", tree, SAMM_V2)
    assert len(records) == 157 and [(p.row, p.clip_id) for p in problems] == [
        (140, "samm/028/028_4_1"),
        (147, "samm/032/032_3_1"),
    ]
    assert "apex 1143 is outside onset..offset 1071..1134" in problems[0].message
    assert "apex 1930 is outside onset..offset 4896..4970" in problems[1].message
    assert len({r.subject for r in records}) == 29 and records[0].annotation_row == 15
    assert Counter(r.emotion for r in records) == {**SAMM_EMOTIONS, "Anger": 56, "Contempt": 11}
    assert all(r.apex is not None for r in records)
    # AU cells that are not action units, reported by row and kept verbatim
    assert [(row, text) for row, text, _ in unparsed_au_rows(records)] == SAMM_UNPARSED


def test_real_samm_hand_edited_copy(tree):
    records, problems = read("samm", tree, SAMM_FIXED)
    assert problems == [] and len(records) == 159
    assert Counter(r.emotion for r in records) == SAMM_EMOTIONS
    subjects = Counter(r.subject for r in records)
    assert len(subjects) == 29 and subjects["011"] == 20 and subjects["023"] == 1
    by_row = {r.annotation_row: r for r in records}
    assert (by_row[140].apex, by_row[147].apex) == (1113, 4930)  # the hand fixes
    assert by_row[15].clip_id == "samm/006/006_1_2" and by_row[15].extra["inducement_code"] == "1"


@pytest.mark.parametrize(
    "row,codes",
    [  # "or" cells: every alternative kept, flagged uncertain, sides and intensities parsed
        (30, [(6, "R", None, True), (12, "R", None, True), (15, "R", None, False)]),
        (56, [(12, "L", None, True), (14, "L", None, True)]),
        (169, [(14, "R", "A", True), (17, None, "A", True), (24, None, "A", True)]),
        (140, [(14, "A", "C", False)]),  # SAMM's 'A' prefix
        (40, [(43, None, None, False)]),  # 'ref(7B)' is not an AU: unparsed, not guessed
    ],
)
def test_real_samm_au_cells_parse_as_written(tree, row, codes):
    records, _ = read("samm", tree, SAMM_FIXED)
    record = next(r for r in records if r.annotation_row == row)
    assert [(c.code, c.side, c.intensity, c.uncertain) for c in record.au_codes] == codes


# --------------------------------------------------------------------------------------------
# SMIC-E workbooks on SMIC's clip folders, as listed by MEGC2019
# --------------------------------------------------------------------------------------------

LABELS = {"0": "negative", "1": "positive", "2": "surprise"}


@pytest.fixture(scope="module")
def smic_tree(tmp_path_factory) -> Path:
    """SMIC_all_raw/HS/s<N>/micro/<emotion>/s<N>_<ne|po|sur>_<NN>/ for the 164 listed clips."""
    root = tmp_path_factory.mktemp("smic_real")
    rows = [r for r in csv.reader(MEGC_LIST.open()) if r[0] == "smic"]
    assert len(rows) == 164
    for _, subject, clip, label in rows:
        number = int(subject[1:])
        folder_clip = re.sub(r"^s0*(\d+)_", r"s\1_", clip)  # the folders do not pad
        folder = root / "SMIC_all_raw/HS" / f"s{number}" / "micro" / LABELS[label] / folder_clip
        folder.mkdir(parents=True)
        (folder / "image0000001.bmp").write_bytes(b"")  # named like a frame, never decoded
    return root


@pytest.mark.parametrize(
    "path,annotated,unlisted",
    [(SMIC_E_ORIG, 161, 2), (SMIC_E_EDIT, 156, 7)],
)
def test_real_smic_e_workbooks(smic_tree, path, annotated, unlisted, caplog):
    with caplog.at_level(logging.WARNING):
        records, problems = read("smic", smic_tree, path)
    rows = len(read_table(path))
    assert rows == annotated + 1  # every row applied but the one reported
    # row 38 writes 'negative' for s18_sur_03, a surprise clip on the official list
    assert [(p.row, p.clip_id) for p in problems] == [(38, "smic/s18/s18_sur_03")]
    assert "Emotion 'negative' disagrees with the clip's folder 'surprise'" in problems[0].message
    bounds = Counter(r.extra["bounds"] for r in records)
    assert bounds == {"annotation": annotated, "folder": unlisted}
    assert f"{unlisted + 1} of 164 SMIC HS clips have no row" in caplog.text
    assert len(records) == 163 and len({r.subject for r in records}) == 16
    assert Counter(r.emotion for r in records) == {"negative": 70, "positive": 51, "surprise": 42}
    one = next(r for r in records if r.clip_id == "smic/s20/s20_ne_01")
    assert (one.onset, one.apex, one.offset, one.annotation_row) == (17581039, None, 17581055, 2)


def test_real_smic_e_vis_sheet_is_read_for_vis(smic_tree, tmp_path):
    """The workbook's VIS sheet, not its first (HS) one, gives the VIS clips' frames."""
    vis = read_table(SMIC_E_ORIG, sheet="VIS")
    assert len(vis) == 71
    emotion = {"ne": "negative", "po": "positive", "sur": "surprise"}
    for _, row in vis.iterrows():  # VIS folders for the clips the VIS sheet lists
        number = int(text_cell(row["Subject"]))
        clip = text_cell(row["Filename"])
        under = emotion[clip.split("_")[1]]  # SMIC files a clip by its name's emotion
        folder = tmp_path / "SMIC_all_raw/VIS" / f"s{number}/micro" / under / clip
        folder.mkdir(parents=True)
        (folder / "image0000001.bmp").write_bytes(b"")
    records, problems = read("smic", tmp_path, SMIC_E_ORIG, modality="VIS")
    # the VIS sheet repeats the HS sheet's quirk on its row 38
    assert [(p.row, p.clip_id) for p in problems] == [(38, "smic-vis/s18/s18_sur_03")]
    assert len(records) == 70
    assert len({r.subject for r in records}) == 8 and {r.dataset for r in records} == {"smic-vis"}
    one = next(r for r in records if r.clip == "s20_ne_01")
    assert (one.onset, one.offset, one.fps) == (7750, 7754, 25.0)  # VIS frames, not HS ones


# --------------------------------------------------------------------------------------------
# the shipped errata (--corrections known)
# --------------------------------------------------------------------------------------------


def _cells(table) -> dict[tuple[int, str], str]:
    return {
        (int(row["__row__"]), column): text_cell(row[column])
        for _, row in table.iterrows()
        for column in table.columns
        if column != "__row__"
    }


def _changed(path: Path, dataset: str, options: dict, **read_kw) -> dict:
    """{(row, column): (before, after)} for every cell --corrections known changes."""
    known = KnownCorrections(dataset, options)
    adapter = get_adapter(dataset)(".", path, corrections=known, **options)
    after = _cells(adapter.read_annotation_table(path, **read_kw))
    before = _cells(read_table(path, **read_kw))
    assert after.keys() == before.keys()
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def _listed(dataset: str, release: int = 0) -> dict:
    with release_files(dataset)[release].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(r["reason"] and r["source"] for r in rows)  # each row says why and from where
    return {(int(r["row"]), r["column"]): (r["was"], r["value"]) for r in rows}


def test_known_errata_change_exactly_the_listed_cells_of_the_real_casme3_file():
    changed = _changed(CASME3_A, "casme3", {}, sheet="label")
    assert changed == _listed("casme3") and len(changed) == 7
    assert changed[(798, "Offset")] == ("0", "1845") and changed[(130, "Apex")] == ("83", "123")


def test_known_errata_let_the_four_bad_casme3_rows_through(tmp_path):
    (tmp_path / "part_A/data/part_A_split/part_A/spNO.1").mkdir(parents=True)
    adapter = get_adapter("casme3")(tmp_path, CASME3_A, corrections=KnownCorrections("casme3"))
    records, problems = adapter.read_records()
    assert problems == [] and len(records) == 860
    fixed = next(r for r in records if r.annotation_row == 798)
    assert (fixed.clip_id, fixed.offset) == ("casme3/spNO.40/e_1812", 1845)
    assert adapter.applied_corrections[798][0]["source"].startswith("MEB meb/datasets/")


def test_known_errata_of_samm_pick_the_copy_they_were_written_for():
    unedited = _changed(SAMM_V2, "samm", {}, header_row=14)
    assert unedited == _listed("samm", 0) and len(unedited) == 7
    edited = _changed(SAMM_FIXED, "samm", {}, header_row=14)  # its apexes are fixed already
    assert edited == _listed("samm", 1) and len(edited) == 5
    assert set(edited) < set(unedited)


@pytest.mark.parametrize("path", [CASME2_2019, CASME2_2014])
def test_known_errata_of_casme2_apply_to_both_releases(tree, path):
    assert _changed(path, "casme2", {}) == {(31, "ApexFrame"): ("", "279")}
    records, problems = get_adapter("casme2")(
        tree, path, corrections=KnownCorrections("casme2")
    ).read_records()
    assert problems == [] and [r.apex for r in records if r.annotation_row == 31] == [279]


def test_known_errata_refuse_a_file_they_do_not_match(samples_samm):
    """A sample's sheet is no release of SAMM: nothing is changed, every mismatch named."""
    root, annotation = samples_samm
    adapter = get_adapter("samm")(root, corrections=KnownCorrections("samm"))
    with pytest.raises(AnnotationError) as err:
        adapter.read_records()
    message = str(err.value)
    assert "no shipped release of the errata matches" in message and str(annotation) in message
    assert "[samm_micro_v2.csv]" in message and "[samm_micro_v2_apexes_fixed.csv]" in message


def test_known_errata_exist_only_where_shipped():
    for dataset, options in (("smic", {}), ("deception", {}), ("casme3", {"part": "C"})):
        with pytest.raises(MerprepError, match="no known errata are shipped"):
            KnownCorrections(dataset, options)


@pytest.fixture(scope="module")
def samples_samm(tmp_path_factory):
    from merprep.sample import generate

    summary = generate("samm", tmp_path_factory.mktemp("samm") / "out", subjects=2,
                       clips_per_subject=2, clip_length=4)  # fmt: skip
    return summary.root, summary.annotation_file
