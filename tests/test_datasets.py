"""Dataset adapters read each dataset as shipped: generated samples in the official layouts
(checked against the programmed truth), and the real CAS(ME)^3 annotation workbooks.

Samples are small (2 subjects, 3 clips, a few frames) and generated once per module.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from merprep.datasets import get_adapter
from merprep.errors import AnnotationError, MerprepError
from merprep.frames.decode import read_frames
from merprep.pipeline import ExtractConfig, plan_extraction
from merprep.sample import generate, load_truth
from merprep.sample.layouts.casme3 import generate_part_c

REFERENCE = Path(__file__).parent / "data"  # real files, see data/README.md
PART_A = REFERENCE / "casme3_partA_ME_label_JpgIndex_v2.xlsx"
PART_C = REFERENCE / "casme3_partC_ME.xlsx"
MEGC_LIST = (
    Path(__file__).resolve().parents[1] / "mertrain/protocols/data/megc2019_combined_3class_gt.csv"
)

SMALL = {
    "samm": dict(subjects=2, clips_per_subject=3, clip_length=6),
    "smic": dict(subjects=2, clips_per_subject=3, clip_length=6, modality="all"),
    "casme3": dict(subjects=2, clips_per_subject=3, clip_length=5),
    "deception": dict(subjects=2, clips_per_subject=3, clip_length=10),
}


@pytest.fixture(scope="module")
def samples(tmp_path_factory, casme2_sample):
    """dataset -> (root, truth document); each generated the first time a test asks."""
    return _Lazy(tmp_path_factory, casme2_sample)


class _Lazy(dict):
    def __init__(self, factory, casme2_sample):
        super().__init__()
        self.factory = factory
        self["casme2"] = (casme2_sample, load_truth(casme2_sample))

    def __missing__(self, dataset):
        if dataset == "casme3c":
            root = self.factory.mktemp("casme3c") / "out"
            generate_part_c(root, subjects=2, clips_per_subject=3, clip_length=5)
            value = (root, load_truth(root))
        else:
            summary = generate(dataset, self.factory.mktemp(dataset) / "out", **SMALL[dataset])
            value = (summary.root, load_truth(summary.truth_file))
        self[dataset] = value
        return value


def read(dataset: str, root: Path, annotations=None, **options):
    records, problems = get_adapter(dataset)(root, annotations, **options).read_records()
    return records, problems


def assert_matches_truth(records, truth_clips, *, apex_hidden=lambda c: False):
    assert len(records) == len(truth_clips)
    for rec, clip in zip(records, truth_clips):
        assert (rec.onset, rec.offset) == (clip["onset"], clip["offset"]), rec.clip_id
        assert rec.apex == (None if apex_hidden(clip) else clip["apex"]), rec.clip_id
        assert rec.emotion == clip["emotion"]
        assert rec.fps == clip["fps"]
        assert rec.source == clip["source"]


# --------------------------------------------------------------------------------------------
# each adapter on its sample
# --------------------------------------------------------------------------------------------


def test_casme2_round_trip(samples):
    root, truth = samples["casme2"]
    records, problems = read("casme2", root)
    assert problems == []
    assert Counter(r.subject for r in records) == {"sub01": 6, "sub02": 6, "sub03": 6}
    assert_matches_truth(records, truth["clips"], apex_hidden=lambda c: c["apex_annotated"] == "/")
    assert all(r.annotation_row == c["annotation_row"] for r, c in zip(records, truth["clips"]))
    assert all(r.aus == c["aus"] for r, c in zip(records, truth["clips"]))  # '4', never '4.0'
    assert [r.to_dict()["au_codes"] for r in records] == [c["au_codes"] for c in truth["clips"]]


def test_samm_round_trip(samples):
    root, truth = samples["samm"]
    records, problems = read("samm", root)
    assert problems == []
    assert Counter(r.subject for r in records) == {"006": 3, "007": 3}
    assert_matches_truth(records, truth["clips"], apex_hidden=lambda c: c["apex_annotated"] == -1)
    for rec, clip in zip(records, truth["clips"]):
        assert rec.clip == clip["clip"] and rec.clip.startswith(rec.subject + "_")
        assert rec.aus == clip["aus"]  # verbatim, a lone AU as '4'
        assert rec.to_dict()["au_codes"] == clip["au_codes"]  # parsed = programmed
        assert rec.annotation_row == clip["annotation_row"] >= 15
        assert rec.extra["inducement_code"] == str(clip["inducement_code"])
    assert {r.emotion for r in records} <= {
        "Anger",
        "Contempt",
        "Disgust",
        "Fear",
        "Happiness",
        "Sadness",
        "Surprise",
        "Other",
    }


@pytest.mark.parametrize(
    "modality,name,fps",
    [("HS", "smic", 100.0), ("VIS", "smic-vis", 25.0), ("NIR", "smic-nir", 25.0)],
)
def test_smic_round_trip(samples, modality, name, fps):
    root, truth = samples["smic"]
    records, problems = read("smic", root, modality=modality)
    assert problems == []
    clips = [c for c in truth["clips"] if c["modality"] == modality]
    expected = {(c["subject"], normalised_smic_clip(c["clip"])): c for c in clips}
    assert {(r.subject, r.clip) for r in records} == set(expected)
    for rec in records:
        clip = expected[(rec.subject, rec.clip)]
        assert rec.dataset == name and rec.clip_id == f"{name}/{rec.subject}/{rec.clip}"
        assert re.fullmatch(r"s\d{2}_(ne|po|sur)_\d{2}", rec.clip)
        assert rec.source == clip["source"]  # the folder as on disk: s1/.../s1_ne_01
        assert (rec.onset, rec.apex, rec.offset) == (clip["first_frame"], None, clip["last_frame"])
        assert rec.emotion == clip["emotion"] and rec.fps == fps and rec.aus == ""


def normalised_smic_clip(name: str) -> str:
    m = re.fullmatch(r"s(\d+)_(\w+)_(\d+)", name)
    return f"s{int(m.group(1)):02d}_{m.group(2)}_{m.group(3)}"


def test_smic_e_annotation_sets_onset_apex_offset(samples, tmp_path):
    root, truth = samples["smic"]
    hs = [c for c in truth["clips"] if c["modality"] == "HS"]
    first, second, third = hs[0], hs[1], hs[2]
    book = tmp_path / "SMIC-HS-E_annotation.xlsx"
    rows = [
        ("Subject", "Filename", "OnsetF", "ApexF", "OffsetF", "Emotion"),
        (
            int(first["subject"][1:]),
            first["clip"],
            first["onset"],
            first["apex"],
            first["offset"],
            first["emotion"],
        ),
        (
            second["subject"],
            normalised_smic_clip(second["clip"]),
            second["onset"] + 1,
            "",
            second["offset"] - 1,
            second["emotion"],
        ),
        (
            third["subject"],
            third["clip"],
            third["onset"],
            third["apex"],
            third["offset"],
            "positive" if third["emotion"] != "positive" else "negative",
        ),  # disagrees
        ("s09", "s9_ne_01", 1, 2, 3, "negative"),
    ]  # no such clip
    _write_xlsx(book, rows)
    records, problems = read("smic", root, book)
    by_clip = {r.clip: r for r in records}
    one = by_clip[normalised_smic_clip(first["clip"])]
    assert (one.onset, one.apex, one.offset) == (first["onset"], first["apex"], first["offset"])
    assert (one.annotation_file, one.annotation_row, one.extra["bounds"]) == (
        book.name,
        2,
        "annotation",
    )
    two = by_clip[normalised_smic_clip(second["clip"])]
    assert (two.onset, two.apex, two.offset) == (second["onset"] + 1, None, second["offset"] - 1)
    assert normalised_smic_clip(third["clip"]) not in by_clip  # a wrong row is never ignored
    assert [
        (p.row, "disagrees" in p.message or "no clip folder" in p.message) for p in problems
    ] == [(4, True), (5, True)]
    untouched = by_clip[normalised_smic_clip(hs[3]["clip"])]
    assert untouched.extra["bounds"] == "folder"


def test_casme3_part_a_round_trip(samples):
    root, truth = samples["casme3"]
    records, problems = read("casme3", root)
    assert problems == []
    assert Counter(r.subject for r in records) == {"spNO.1": 3, "spNO.2": 3}
    assert_matches_truth(records, truth["clips"])
    for rec, clip in zip(records, truth["clips"]):
        assert rec.clip == f"{clip['clip']}_{clip['onset']}"  # video + onset
        assert rec.annotation_row == clip["annotation_row"]
        assert rec.extra["depth_source"] == clip["depth_source"]
    # two micro-expressions of one video are two clips; dropped frames are no problem
    assert Counter((r.subject, r.extra["video"]) for r in records).most_common(1)[0][1] == 2
    tasks, problems = plan_extraction(ExtractConfig(dataset="casme3", root=root, out=root / "x.h5"))
    assert problems == [] and len(tasks) == 6
    assert any(c["dropped_frames"] for c in truth["clips"])


def test_casme3_part_c_round_trip(samples):
    root, truth = samples["casme3c"]
    adapter = get_adapter("casme3")(root, part="C")
    records, problems = adapter.read_records()
    assert problems == []
    assert [(r.dataset, r.subject, r.clip) for r in records] == [
        ("casme3c", c["subject"], c["clip"]) for c in truth["clips"]
    ]
    assert_matches_truth(records, truth["clips"], apex_hidden=lambda c: True)
    for rec, clip in zip(records, truth["clips"]):
        frames = adapter.frame_source(rec).frames  # positions -> files
        assert frames[rec.onset].name == f"{clip['onset_file']}.jpg"
        assert frames[rec.offset].name == f"{clip['offset_file']}.jpg"
        assert rec.onset != clip["onset_file"]  # positions are not file numbers here


def test_deception_round_trip_and_video_decodes(samples, caplog):
    root, truth = samples["deception"]
    adapter = get_adapter("deception")(root, subjects_map=root / "speakers.csv")
    records, problems = adapter.read_records()
    assert problems == []
    clips = truth["clips"]
    assert [(r.subject, r.clip) for r in records] == [(c["subject"], c["clip"]) for c in clips]
    assert Counter(r.subject for r in records) == {"speaker01": 3, "speaker02": 3}
    for rec, clip in zip(records, clips):
        assert (rec.onset, rec.apex, rec.offset) == (0, None, clip["n_frames"] - 1)
        assert rec.emotion == clip["emotion"] in ("deceptive", "truthful")
        assert rec.fps == pytest.approx(clip["fps"]) and rec.extra["gestures"] == clip["gestures"]
        assert len(rec.extra["gestures"]) == 39
    source = adapter.frame_source(records[0])
    first, last = read_frames(None, source.video, [0, records[0].offset])
    width, height = clips[0]["frame_size"]
    assert first.shape == last.shape == (height, width, 3) and first.std() > 10

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        alone, _ = read("deception", root)
    assert [r.subject for r in alone] == [r.clip for r in alone]  # one subject per clip
    assert "leaks speakers across folds" in caplog.text


def test_subjects_map_problems_name_file_and_row(samples, tmp_path):
    root, truth = samples["deception"]
    speakers = list(csv.reader((root / "speakers.csv").open()))
    bad = tmp_path / "speakers.csv"
    rows = speakers[:1] + speakers[2:] + [[speakers[3][0], "someone_else"]]  # drop one, clash
    with bad.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    records, problems = read("deception", root, subjects_map=bad)
    messages = [str(p) for p in problems]
    assert any(f"{bad}, row {len(rows)}" in m and "mapped twice" in m for m in messages)
    missing = Path(speakers[1][0]).stem
    assert any("not in the subjects map" in m and missing in m for m in messages)
    assert missing not in {r.clip for r in records}


def test_every_au_annotation_the_generator_writes_parses_to_what_it_programmed():
    """The generator writes AU text from structured AUs (merprep.sample.aus) and never parses
    it; the adapters' parse_aus must give back exactly the programmed AUs. A parse_aus that
    kept only the first of '4 or 7', dropped sides or split 'R4,5' wrongly fails here."""
    from merprep.datasets.base import parse_aus
    from merprep.sample.layouts import casme2, casme3, manifest, samm, smic

    vocabularies = [m.VOCABULARY for m in (casme2, samm, smic, casme3, manifest)]
    texts = [t for v in (*vocabularies, casme3.PART_C_VOCABULARY) for e in v.emotions
             for t in e.au_texts]  # fmt: skip
    for text in texts:
        codes, unparsed = parse_aus(str(text))
        assert unparsed == [] and [c.to_dict() for c in codes] == text.codes(), str(text)
    written = {str(t) for t in texts}
    assert {"4 or 7", "A1+A2", "R4,5", "L10+R12", "1+2+R4"} <= written  # the sheets' forms


def test_the_generator_shares_no_code_with_the_adapters():
    import ast

    package = Path(__file__).resolve().parents[1] / "merprep" / "sample"
    for path in package.rglob("*.py"):
        if "long" in path.name:  # the long-video layouts are another module's (not tested here)
            continue
        tree = ast.parse(path.read_text())
        imported = [
            n.module
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("merprep.")
        ]
        assert not [m for m in imported if m.startswith("merprep.datasets")], path.name


# --------------------------------------------------------------------------------------------
# where --root points, --annotations, options
# --------------------------------------------------------------------------------------------

FRAMES_FOLDERS = {
    "casme2": "CASME2_RAW_selected",
    "samm": "SAMM",
    "smic": "SMIC_all_raw/HS",
    "casme3": "part_A/data/part_A_split/part_A",
    "deception": "Clips",
}


@pytest.mark.parametrize("dataset", list(FRAMES_FOLDERS))
def test_root_may_be_top_folder_or_frames_folder(samples, dataset):
    """Every spelling of --root gives the same records, so the same store fingerprint: sources
    are relative to the dataset's top folder whichever folder --root names (issue 17 item 6;
    before, the frames folder gave sources without their first component)."""
    root, _ = samples[dataset]
    top, _ = read(dataset, root)
    frames_root = root / FRAMES_FOLDERS[dataset]
    spellings = [frames_root] + [root / p for p in frames_root.relative_to(root).parents][:-1]
    if dataset == "deception":  # also the folder holding the dataset folder
        spellings.append(root.parent)
    for folder in spellings:
        inner, problems = read(dataset, folder)  # the annotation file is found from there too
        assert problems == []
        assert [r.to_dict() for r in inner] == [r.to_dict() for r in top], folder
    assert all((root / r.source).exists() for r in top)


def test_annotations_option_overrides_the_found_file(samples, tmp_path):
    root, truth = samples["samm"]
    book = openpyxl.load_workbook(next(root.glob("SAMM_*.xlsx")))
    sheet = book.active
    sheet.delete_rows(16, sheet.max_row)  # keep the first clip only
    other = tmp_path / "my_codes.xlsx"
    book.save(other)
    records, _ = read("samm", root, other)
    assert [r.clip for r in records] == [truth["clips"][0]["clip"]]
    assert records[0].annotation_file == "my_codes.xlsx"


def test_missing_annotation_file_is_a_clear_error(samples, tmp_path):
    root, _ = samples["samm"]
    copy = tmp_path / "samm"
    shutil.copytree(root / "SAMM", copy / "SAMM")
    with pytest.raises(AnnotationError, match="pass --annotations FILE"):
        read("samm", copy)


def test_adapter_options_are_checked():
    with pytest.raises(MerprepError, match="no option"):
        get_adapter("casme2")(".", modality="HS")
    with pytest.raises(MerprepError, match="modality"):
        get_adapter("smic")(".", modality="UV")
    with pytest.raises(MerprepError, match="part"):
        get_adapter("casme3")(".", part="B")


# --------------------------------------------------------------------------------------------
# the real CAS(ME)^3 workbooks
# --------------------------------------------------------------------------------------------


def _frames_skeleton(tmp_path: Path) -> Path:
    """An empty release tree, so the adapters find their frames folders."""
    (tmp_path / "part_A/data/part_A_split/part_A/spNO.1").mkdir(parents=True)
    (tmp_path / "part_C/data/part_C_split/part_C/1/color").mkdir(parents=True)
    return tmp_path


def test_real_casme3_part_a_workbook(tmp_path):
    records, problems = read("casme3", _frames_skeleton(tmp_path), PART_A)
    assert len(records) + len(problems) == 860 and len(records) == 856
    assert [p.row for p in problems] == [130, 751, 798, 800]
    assert "apex 83 is outside onset..offset 112..358" in problems[0].message
    assert "onset 1812 is after offset 0" in problems[2].message
    assert problems[2].clip_id == "casme3/spNO.40/e_1812"
    ids = [r.clip_id for r in records]
    assert len(set(ids)) == len(ids) and "casme3/spNO.1/a_355" in ids
    assert len({r.subject for r in records}) == 94
    assert all(re.fullmatch(r"[a-m]_\d+", r.clip) for r in records)
    upper = [r for r in records if "filename_written" in r.extra]
    assert [r.extra["filename_written"] for r in upper] == ["J"]
    assert Counter(r.emotion for r in records)["Others"] == 3  # verbatim
    first = records[0]
    assert (
        first.onset,
        first.apex,
        first.offset,
        first.aus,
        first.emotion,
        first.extra["objective_class"],
    ) == (355, 359, 360, "5", "others", "II")


def _corrections(path: Path, *rows: str) -> Path:
    path.write_text(
        "row,column,was,value,reason\n" + "".join(r + "\n" for r in rows), encoding="utf-8"
    )
    return path


def test_corrections_fix_real_part_a_rows_before_they_are_checked(tmp_path):
    """An explicit correction repairs a real defect (offset written as 0, row 798) before the
    row is parsed: the clip passes the same checks as any other and records what was changed.
    (1830 is a value for the test, not a claim about the dataset.)"""
    from merprep.datasets.corrections import CorrectionTable

    before = hashlib.sha256(PART_A.read_bytes()).hexdigest()
    table = CorrectionTable(
        _corrections(
            tmp_path / "fix.csv",
            '798,Offset,0,1830,"offset typed as 0"',
            '130,Apex,83,200,"apex before onset"',
        )
    )
    adapter = get_adapter("casme3")(_frames_skeleton(tmp_path), PART_A, corrections=table)
    records, problems = adapter.read_records()
    assert [p.row for p in problems] == [751, 800] and len(records) == 858
    fixed = next(r for r in records if r.clip_id == "casme3/spNO.40/e_1812")
    assert (fixed.onset, fixed.offset, fixed.annotation_row) == (1812, 1830, 798)
    assert adapter.applied_corrections[798] == [
        {"column": "Offset", "was": "0", "value": "1830", "reason": "offset typed as 0"}
    ]
    assert next(r for r in records if r.annotation_row == 130).apex == 200
    assert hashlib.sha256(PART_A.read_bytes()).hexdigest() == before  # the file is only read


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            ['798,Offset,12,1830,"typo"'],
            "row 2 (corrects row 798, column 'Offset'): the cell holds "
            "'0', the correction expects '12'",
        ),
        (['798,Offfset,0,1830,"typo"'], "no such column in casme3_partA_ME_label_JpgIndex_v2.xlsx"),
        (
            ['5000,Offset,0,1830,"typo"'],
            "row 2 (corrects row 5000, column 'Offset'): not a data row",
        ),
        (['1,Offset,0,1830,"typo"'], "not a data row"),  # the header is not data
    ],
)
def test_corrections_that_do_not_match_the_file_are_refused(tmp_path, rows, message):
    from merprep.datasets.corrections import CorrectionTable

    fix = _corrections(tmp_path / "fix.csv", *rows)
    adapter = get_adapter("casme3")(
        _frames_skeleton(tmp_path), PART_A, corrections=CorrectionTable(fix)
    )
    with pytest.raises(AnnotationError) as err:
        adapter.read_records()
    assert message in str(err.value) and str(fix) in str(err.value)


@pytest.mark.parametrize(
    "rows, message",
    [
        (["798,Offset,0,1830,"], "row 2: 'reason' is empty"),
        (['x,Offset,0,1830,"r"'], "row 2: 'row' must be a spreadsheet row number, got 'x'"),
        (['798,,0,1830,"r"'], "row 2: 'column' is empty"),
        (
            ['798,Offset,0,1830,"r"', '798,Offset,0,1831,"r"'],
            "row 3: row 798 column 'Offset' is already corrected on row 2",
        ),
    ],
)
def test_a_bad_corrections_file_is_named_with_its_row(tmp_path, rows, message):
    from merprep.datasets.corrections import CorrectionTable

    fix = _corrections(tmp_path / "fix.csv", *rows)
    with pytest.raises(AnnotationError) as err:
        CorrectionTable(fix)
    assert message in str(err.value) and str(fix) in str(err.value)


def test_real_casme3_part_c_workbook(tmp_path):
    records, problems = read("casme3", _frames_skeleton(tmp_path), PART_C, part="C")
    assert problems == [] and len(records) == 165
    assert len({r.subject for r in records}) == 30
    first = records[0]
    assert (first.clip_id, first.onset, first.offset, first.aus, first.emotion) == (
        "casme3c/sub01/me01",
        373,
        385,
        "R4,5",
        "negative",
    )
    assert Counter(r.emotion for r in records) == {
        "negative": 99,
        "surprise": 30,
        "others": 20,
        "positive": 16,
    }
    lone = [r.aus for r in records if r.aus.isdigit()]
    assert len(lone) == 50 and "17" in lone  # numeric cells as text, never '17.0'
    full_width = next(r for r in records if "\uff0c" in r.aus)
    assert [c.code for c in full_width.au_codes] == [4, 11]


# --------------------------------------------------------------------------------------------
# MEGC2019 list forms
# --------------------------------------------------------------------------------------------


def test_normalisation_matches_the_megc2019_list():
    from merprep.datasets import casme2, samm, smic

    rows = list(csv.reader(MEGC_LIST.open()))
    assert len(rows) == 442
    for dataset, subject, clip, _ in rows:
        if dataset == "smic":
            assert smic.normalise_subject(subject) == subject
            assert smic.normalise_clip(clip) == clip
            folder_subject = f"s{int(subject[1:])}"  # SMIC's own folders: s1/.../s1_ne_01
            folder_clip = re.sub(r"^s0*(\d+)_", r"s\1_", clip)
            assert smic.normalise_subject(folder_subject) == subject
            assert smic.normalise_clip(folder_clip) == clip
        elif dataset == "samm":  # the list writes 6; clips and folders say 006
            assert samm.normalise_subject(subject) == clip.split("_")[0]
        else:
            assert casme2.normalise_subject(subject) == subject
            assert casme2.normalise_subject(int(subject[3:])) == subject


def test_sample_records_use_the_megc2019_forms(samples):
    for dataset, pattern in (
        ("smic", r"s\d{2}/s\d{2}_(ne|po|sur)_\d{2}"),
        ("samm", r"\d{3}/\d{3}_\d+_\d+"),
        ("casme2", r"sub\d{2}/EP\d{2}_\d{2}f?"),
    ):
        records, _ = read(dataset, samples[dataset][0])
        assert records and all(re.fullmatch(pattern, f"{r.subject}/{r.clip}") for r in records)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _write_xlsx(path: Path, rows) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    book.save(path)


def test_frame_numbers_are_the_file_numbers(samples):
    root, truth = samples["samm"]
    adapter = get_adapter("samm")(root)
    records, _ = adapter.read_records()
    clip = truth["clips"][0]
    frames = adapter.frame_source(records[0]).frames
    assert sorted(frames) == list(range(clip["first_frame"], clip["last_frame"] + 1))
    image = read_frames(frames, None, [records[0].onset], "gray")[0]
    assert image.shape == (1088, 2040, 1) and np.ptp(image) > 50


# --------------------------------------------------------------------------------------------
# SMIC: the folder named by --root and --modality agree (issue 17 item 1)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "modality,name,fps", [("VIS", "smic-vis", 25.0), ("NIR", "smic-nir", 25.0)]
)
def test_smic_modality_folder_as_root_decides_the_modality(samples, modality, name, fps):
    """Today `--root SMIC_all_raw/VIS` without --modality stored VIS frames as SMIC-HS."""
    root, truth = samples["smic"]
    records, problems = read("smic", root / "SMIC_all_raw" / modality)
    assert problems == [] and records
    assert {r.dataset for r in records} == {name} and {r.fps for r in records} == {fps}
    assert {r.extra["modality"] for r in records} == {modality}
    same, _ = read("smic", root / "SMIC_all_raw" / modality, modality=modality)  # agreeing
    assert [r.clip_id for r in same] == [r.clip_id for r in records]


def test_smic_modality_that_contradicts_the_root_folder_is_refused(samples):
    root, _ = samples["smic"]
    with pytest.raises(MerprepError) as err:
        read("smic", root / "SMIC_all_raw" / "NIR", modality="VIS")
    message = str(err.value)
    assert "NIR" in message and "--modality VIS" in message and "SMIC_all_raw" in message
    with pytest.raises(MerprepError, match="--modality HS"):
        read("smic", root / "SMIC_all_raw" / "VIS", modality="HS")
