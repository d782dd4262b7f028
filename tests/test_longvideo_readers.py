"""The long-video readers on the REAL annotation workbooks (tests/data/longvideo/).

Counts are the ones docs/references.md#long-video-formats gives (measured there with
pandas/openpyxl); the normalised ground truth is compared with the MEGC2020 baseline's own tables
(derived/), which were made from these workbooks by the baseline's code.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from merprep.longvideo import get_long_adapter

#: copies of shared/reference/annotations/ (and its derived/) byte for byte: see its README
REF = Path(__file__).parent / "data" / "longvideo"

CASME2 = REF / "MTSN__CASME_sq_gt.xlsx"
CASME2_DANNY = REF / "dannyFan__CAS_ME_2.xlsx"
SAMM = REF / "MTSN__SAMMLV_gt.xlsx"
SAMM_V2 = REF / "MouathAb__SAMM_Micro_FACS_Codes_v2.xlsx"
CASME3 = REF / "SFAMNet__CAS_ME_3_part_A_v2.xls"
CASME3_LABELS = REF / "SFAMNet__cas_me_3_part_A_ME_label_JpgIndex_v2.xlsx"
TYPES = {"macro-expression": "mae", "micro-expression": "me"}


def read(name: str, path: Path, **options):
    return get_long_adapter(name)(path.parent, path, **options).read_annotations()


def baseline_table(name: str) -> Counter:
    rows = Counter()
    for line in (REF / name).read_text().splitlines():
        subject, video, kind, onset, apex, offset = line.split()
        rows[(subject, video, TYPES[kind], *(int(float(x)) for x in (onset, apex, offset)))] += 1
    return rows


def quirk_rows(ann, text: str) -> list[int]:
    return sorted(q.row for q in ann.quirks if text in q.message)


@pytest.mark.parametrize("workbook", [CASME2, CASME2_DANNY], ids=["MTSN", "dannyFan"])
def test_casme2_counts_and_quirks(workbook):
    ann = read("casme2-long", workbook)
    assert ann.problems == []
    assert ann.counts() == {"videos": 95, "subjects": 22, "me": 57, "mae": 300}
    assert len(quirk_rows(ann, "offset 0 (not annotated)")) == 44
    assert quirk_rows(ann, "apex 0") == [309]
    assert quirk_rows(ann, "before apex") == [170, 242, 262]
    assert quirk_rows(ann, "happyiness") == [203]
    # every quirk names the file, the row and the video
    q = next(q for q in ann.quirks if q.row == 309)
    assert q.file == str(workbook) and q.clip_id == "casme2-long/s34/0401"
    # subjects with at least one ME / MaE: SOFTNet's 14 and 20 LOSO folds
    me_subjects = {v.subject for v in ann.videos if v.counts()["me"]}
    mae_subjects = {v.subject for v in ann.videos if v.counts()["mae"]}
    assert (len(me_subjects), len(mae_subjects)) == (14, 20)


def test_casme2_ground_truth_equals_the_megc2020_baseline():
    """offset 0 -> apex, apex 0 -> middle: the baseline's all_Info.txt, row for row."""
    ann = read("casme2-long", CASME2)
    mine = Counter(
        (v.subject, v.video, i.type, i.onset, i.apex, i.offset)
        for v in ann.videos
        for i in v.intervals
    )
    assert mine == baseline_table("MEGC2020baseline__CASME2_all_Info.txt")
    row = next(i for i in ann.intervals() if i.annotation_row == 3)
    assert (row.verbatim["offset"], row.offset, row.apex) == (0, 2163, 2163)
    assert row.verbatim["video"] == "anger2_1" and row.emotion == "negative"


def test_casme2_videos_match_the_baseline_folder_walk():
    """95 annotated videos, all among the 98 rawpic folders the baseline lists."""
    ann = read("casme2-long", CASME2)
    listed = {
        tuple(line.split())
        for line in (REF / "MEGC2020baseline__ME2_all.txt").read_text().splitlines()
    }
    annotated = {(v.subject, v.video) for v in ann.videos}
    assert len(listed) == 98 and annotated <= listed
    assert listed - annotated == {("s15", "0508"), ("s19", "0502"), ("s23", "0503")}


def test_samm_counts_quirks_and_emotions():
    ann = read("samm-long", SAMM, emotion_labels=str(SAMM_V2))
    assert ann.problems == []
    assert ann.counts() == {"videos": 147, "subjects": 30, "me": 159, "mae": 343}
    assert len(quirk_rows(ann, "apex -1")) == 6
    assert len(quirk_rows(ann, "onset 0")) == 10
    # docs/references.md#lv-2: the notes say 143 rows; the file has 177 rows with a fractional
    # frame (all Macro) and one more whose 115 is stored as 114.99999999999999
    fractional = quirk_rows(ann, "fractional frames")
    assert len(fractional) == 177
    assert all(i.type == "mae" for i in ann.intervals() if i.annotation_row in fractional)
    assert quirk_rows(ann, "floating-point noise") == [252]
    assert len(quirk_rows(ann, "037_4_1 also on row")) == 1
    first = next(i for i in ann.intervals() if i.annotation_row == 11)
    assert (first.onset, first.apex, first.offset) == (566, 648, 743)
    assert first.verbatim["onset"] == pytest.approx(566.4)
    emotions = Counter(i.emotion for i in ann.intervals() if i.type == "me")
    assert emotions == {
        "Anger": 57,
        "Other": 26,
        "Happiness": 26,
        "Surprise": 15,
        "Contempt": 12,
        "Disgust": 9,
        "Fear": 8,
        "Sadness": 6,
    }
    # 29 subjects with a micro and 29 with a macro: SOFTNet's folds
    assert len({v.subject for v in ann.videos if v.counts()["me"]}) == 29
    assert len({v.subject for v in ann.videos if v.counts()["mae"]}) == 29


def test_samm_ground_truth_equals_the_baseline_but_for_the_revised_apexes():
    """The baseline's table was made from the V1 workbook: 496 of 502 rows are equal after
    rounding; the 6 that differ are the rows whose apex this revision sets to -1."""
    ann = read("samm-long", SAMM)
    mine = Counter(
        (v.subject, v.video.split("_")[1], i.type, i.onset, i.apex, i.offset)
        for v in ann.videos
        for i in v.intervals
    )
    ref = baseline_table("MEGC2020baseline__SAMM_all_Info.txt")
    assert sum((mine & ref).values()) == 496
    assert all(key[4] is None for key in mine - ref)


def test_casme3_part_a_counts_quirks_and_emotions():
    ann = read("casme3-long", CASME3, emotion_labels=str(CASME3_LABELS))
    assert ann.problems == []
    assert ann.counts() == {"videos": 956, "subjects": 98, "me": 860, "mae": 3346}
    assert len(quirk_rows(ann, "Filename 'J'")) == 5
    long_me = [q for q in ann.quirks if "micro-expression of" in q.message]
    assert any(
        q.clip_id == "casme3-long/spNO.214/c" and "3456 frames" in q.message for q in long_me
    )
    emotions = Counter(i.emotion for i in ann.intervals() if i.type == "me")
    assert emotions == {
        "disgust": 250,
        "surprise": 187,
        "others": 158,
        "fear": 86,
        "anger": 64,
        "sad": 57,
        "happy": 55,
        "Others": 3,
    }
    assert all(i.emotion == "" for i in ann.intervals() if i.type == "mae")
    onset0 = sorted(
        (i.onset, i.apex, i.offset) for v in ann.videos for i in v.intervals if i.onset == 0
    )
    assert onset0 == [(0, 0, 25), (0, 357, 750)]
    assert sum(len(v.extra.get("eye_blinks", [])) for v in ann.videos) > 0


def test_a_bad_cell_is_reported_by_file_and_row(tmp_path):
    """A copy of the real workbook with one onset typed as text: that row is a problem naming
    the file and the row, the other 356 are read."""
    import openpyxl

    broken = tmp_path / "CAS(ME)^2code_final.xlsx"
    shutil.copy(CASME2, broken)
    wb = openpyxl.load_workbook(broken)
    wb.worksheets[0]["C5"] = "about 300"
    wb.save(broken)
    ann = read("casme2-long", broken)
    assert [(p.file, p.row) for p in ann.problems] == [(str(broken), 5)]
    assert "column C is not a number: 'about 300'" in ann.problems[0].message
    assert sum(ann.counts()[t] for t in ("me", "mae")) == 356
