"""Protocols: label mappings, split properties, MEGC2019 on a store named after the official
list, saved splits, fold selection and inner-validation subjects. No training here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mertrain.data import StoreCollection
from mertrain.protocols import (
    TASKS,
    ProtocolError,
    Splits,
    build_splits,
    check_against,
    get_task,
    inner_validation_subjects,
    labelled_samples,
    parse_fold_selection,
)
from mertrain.protocols.megc2019 import match_key, official_list

# --------------------------------------------------------------------------- tiny stores


def record(dataset: str, subject: str, clip: str, emotion: str, n_frames: int = 2) -> dict:
    """A clip record as merprep writes it (ClipRecord.to_dict() + sampling fields)."""
    return {
        "clip_id": f"{dataset}/{subject}/{clip}",
        "dataset": dataset,
        "subject": subject,
        "subject_id": f"{dataset}/{subject}",
        "clip": clip,
        "emotion": emotion,
        "aus": "",
        "au_codes": [],
        "au_unparsed": [],
        "onset": 0,
        "apex": None,
        "offset": n_frames - 1,
        "fps": 200.0,
        "source": f"{subject}/{clip}",
        "annotation": {"file": None, "row": None},
        "extra": {},
        "n_frames": n_frames,
        "frame_numbers": list(range(n_frames)),
        "sampling": "uniform",
    }


def write_store(path: Path, records: list[dict], shape=(2, 8, 8, 3)) -> Path:
    from merprep.store import StoreWriter

    datasets = sorted({r["dataset"] for r in records}) or ["casme2"]
    prov = {
        "datasets": datasets,
        "command": "pytest",
        "params": {},
        "landmark_backend": "none",
        "landmark_backend_version": "0",
        "frame_height": shape[1],
        "frame_width": shape[2],
        "channels": shape[3],
        "color": "rgb",
    }
    frames = np.zeros(shape, np.uint8)
    with StoreWriter(path, prov) as w:
        for r in records:
            w.add_clip(r, frames)
    return path


#: an emotion each dataset's adapter would write for each official label
EMOTION_FOR = {
    "casme2": ("disgust", "happiness", "surprise"),
    "samm": ("Anger", "Happiness", "Surprise"),
    "smic": ("negative", "positive", "surprise"),
}
EXTRAS = [
    record("casme2", "sub01", "EP99_01", "fear"),  # not in the list (and unmapped)
    record("casme2", "sub26", "EP01_01", "happiness"),  # a subject the list lacks
    record("samm", "006", "006_9_9", "Happiness"),
    record("smic", "s01", "s01_po_99", "positive"),
]


def official_records(drop: set[str] = frozenset()) -> dict[str, list[dict]]:
    by_ds: dict[str, list[dict]] = {"casme2": [], "samm": [], "smic": []}
    for o in official_list():
        if o.clip_id in drop:
            continue
        by_ds[o.dataset].append(
            record(o.dataset, o.subject, o.clip, EMOTION_FOR[o.dataset][o.label])
        )
    for r in EXTRAS:
        by_ds[r["dataset"]].append(r)
    return by_ds


@pytest.fixture(scope="module")
def megc_stores(tmp_path_factory) -> list[Path]:
    """SMIC, CASME II and SAMM stores whose clip names follow the official list (442 tiny
    clips) plus 4 clips that are not in it."""
    root = tmp_path_factory.mktemp("megc")
    return [write_store(root / f"{ds}.h5", recs) for ds, recs in official_records().items()]


#: 3 listed SAMM clips, and every clip of SMIC subject s20
DROPPED = {"samm/006/006_1_2", "samm/006/006_1_3", "samm/007/007_3_1"} | {
    o.clip_id for o in official_list() if o.subject_id == "smic/s20"
}


@pytest.fixture(scope="module")
def megc_partial_stores(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("megc_partial")
    return [write_store(root / f"{ds}.h5", recs) for ds, recs in official_records(DROPPED).items()]


def _records(paths):
    with StoreCollection(paths) as c:
        return c.records()


# --------------------------------------------------------------------------- label mappings


@pytest.mark.parametrize(
    "dataset, emotion, cls",
    [
        # MEGC2019 (docs/references.md#megc2019): CASME II disgust, repression -> negative;
        # happiness -> positive; surprise -> surprise; others, fear, sadness dropped
        ("casme2", "disgust", "negative"),
        ("casme2", "repression", "negative"),
        ("casme2", "happiness", "positive"),
        ("casme2", "surprise", "surprise"),
        ("casme2", "others", None),
        ("casme2", "fear", None),
        ("casme2", "sadness", None),
        # SAMM Anger, Contempt, Disgust, Fear, Sadness -> negative; Other dropped
        ("samm", "Anger", "negative"),
        ("samm", "Contempt", "negative"),
        ("samm", "Disgust", "negative"),
        ("samm", "Fear", "negative"),
        ("samm", "Sadness", "negative"),
        ("samm", "Happiness", "positive"),
        ("samm", "Surprise", "surprise"),
        ("samm", "Other", None),
        # SMIC as is
        ("smic", "negative", "negative"),
        ("smic", "positive", "positive"),
        ("smic", "surprise", "surprise"),
    ],
)
def test_three_class_mapping(dataset, emotion, cls):
    task = TASKS["3class"]
    assert task.classes == ("negative", "positive", "surprise")
    label = task.label({"dataset": dataset, "emotion": emotion})
    assert (None if label is None else task.classes[label]) == cls


def test_other_task_mappings():
    five, seven, binary = TASKS["5class"], TASKS["7class"], TASKS["binary"]
    assert five.classes == ("happiness", "surprise", "disgust", "repression", "others")
    assert [
        five.label({"dataset": "casme2", "emotion": e})
        for e in ("happiness", "surprise", "disgust", "repression", "others", "fear", "sadness")
    ] == [0, 1, 2, 3, 4, None, None]
    assert five.label({"dataset": "samm", "emotion": "Happiness"}) is None  # CASME II only
    assert seven.classes == (
        "anger",
        "contempt",
        "disgust",
        "fear",
        "happiness",
        "sadness",
        "surprise",
    )
    assert [
        seven.label({"dataset": "samm", "emotion": e})
        for e in (
            "Anger",
            "Contempt",
            "Disgust",
            "Fear",
            "Happiness",
            "Sadness",
            "Surprise",
            "Other",
        )
    ] == [0, 1, 2, 3, 4, 5, 6, None]
    # binary (docs/references.md#model-c): positive = happiness; negative = the rest minus
    # surprise and other
    assert [
        binary.label({"dataset": "samm", "emotion": e})
        for e in ("Happiness", "Anger", "Contempt", "Fear", "Surprise", "Other")
    ] == [1, 0, 0, 0, None, None]
    assert binary.label({"dataset": "casme2", "emotion": "repression"}) == 0
    assert binary.label({"dataset": "casme2", "emotion": "others"}) is None
    deception = TASKS["deception"]
    assert [
        deception.label({"dataset": "deception", "emotion": e}) for e in ("deceptive", "truthful")
    ] == [0, 1]
    with pytest.raises(ValueError, match="unknown task"):
        get_task("4class")


# --------------------------------------------------------------------------- split properties

_subjects = st.sampled_from([f"sub{i:02d}" for i in range(1, 9)])
_records_st = st.lists(
    st.tuples(_subjects, st.sampled_from(["disgust", "happiness", "surprise", "others"])),
    min_size=6,
    max_size=40,
)


def _as_records(items):
    return [record("casme2", subj, f"EP{i:03d}", emo) for i, (subj, emo) in enumerate(items)]


def _check_split_properties(samples, splits, every_sample_tested: bool):
    subject = {s.clip_id: s.subject_id for s in samples}
    tested = Counter(c for f in splits.folds for c in f.test)
    for f in splits.folds:
        assert not {subject[c] for c in f.test} & {subject[c] for c in f.train}
        assert set(f.test) | set(f.train) == set(subject)  # everything else trains
        assert f.test == sorted(f.test) and f.train == sorted(f.train)
    assert all(n == 1 for n in tested.values())
    if every_sample_tested:
        assert set(tested) == set(subject)


@settings(max_examples=40, deadline=None)
@given(_records_st, st.integers(2, 4), st.randoms(use_true_random=False))
def test_split_properties(items, k, rnd):
    records = _as_records(items)
    task = get_task("3class")
    samples = labelled_samples(records, task)
    if len({s.label for s in samples}) < 3:
        with pytest.raises(ProtocolError, match="without clips|no clip in the store"):
            build_splits(records, "loso", task)
        return
    n_subjects = len({s.subject_id for s in samples})
    shuffled = list(records)
    rnd.shuffle(shuffled)
    for protocol, opts in (("loso", {}), ("kfold", {"k": k})):
        if protocol == "kfold" and k > n_subjects:
            with pytest.raises(ProtocolError, match="only"):
                build_splits(records, protocol, task, **opts)
            continue
        samples, splits = build_splits(records, protocol, task, **opts)
        _check_split_properties(samples, splits, every_sample_tested=True)
        # a pure function of the records: their order does not matter, bytes are identical
        assert build_splits(shuffled, protocol, task, **opts)[1].to_json() == splits.to_json()
    first = sorted({s.subject_id for s in samples})[0]
    if n_subjects > 1:
        samples, splits = build_splits(records, "holdout", task, test_subjects=[first])
        _check_split_properties(samples, splits, every_sample_tested=False)
        assert {s.subject_id for s in samples if s.clip_id in splits.folds[0].test} == {first}


def test_loso_folds_and_json_roundtrip(tmp_path):
    records = _as_records(
        [
            ("sub01", "disgust"),
            ("sub01", "happiness"),
            ("sub02", "surprise"),
            ("sub02", "happiness"),
            ("sub03", "disgust"),
            ("sub03", "others"),
        ]
    )
    samples, splits = build_splits(records, "loso", "3class")
    assert [f.name for f in splits.folds] == ["casme2/sub01", "casme2/sub02", "casme2/sub03"]
    assert len(samples) == 5  # "others" dropped by the 3-class task
    payload = json.loads(splits.to_json())
    assert list(payload) == ["classes", "folds", "info", "protocol", "sha256", "task"]
    assert payload["classes"] == ["negative", "positive", "surprise"]
    assert set(payload["folds"][0]) == {"name", "test", "train"}
    splits.save(tmp_path / "s.json")
    again = Splits.load(tmp_path / "s.json")
    assert again.to_json() == splits.to_json() and again.sha256 == splits.sha256
    payload["folds"][0]["test"].append("casme2/sub09/EP999")
    (tmp_path / "edited.json").write_text(json.dumps(payload))
    with pytest.raises(ProtocolError, match="edited"):
        Splits.load(tmp_path / "edited.json")


def test_kfold_is_balanced_and_deterministic():
    items = [
        (f"sub{s:02d}", ("disgust", "happiness", "surprise")[i % 3])
        for s in range(1, 8)
        for i in range(s)
    ]  # subjects with 1..7 clips (28 clips)
    records = _as_records(items)
    _, a = build_splits(records, "kfold", "3class", k=3)
    _, b = build_splits(list(reversed(records)), "kfold", "3class", k=3)
    assert a.to_json() == b.to_json()
    assert [f.name for f in a.folds] == ["fold0", "fold1", "fold2"]
    assert sorted(len(f.test) for f in a.folds) == [9, 9, 10]
    assert a.info["k"] == 3
    with pytest.raises(ProtocolError, match="at least 2"):
        build_splits(records, "kfold", "3class", k=1)


def test_holdout_subject_names():
    records = _as_records([("sub01", "disgust"), ("sub02", "happiness"), ("sub03", "surprise")])
    _, splits = build_splits(records, "holdout", "3class", test_subjects=["sub02"])
    assert splits.folds[0].test == ["casme2/sub02/EP001"]
    assert splits.info["test_subjects"] == ["casme2/sub02"]
    with pytest.raises(ProtocolError, match="not in the stores"):
        build_splits(records, "holdout", "3class", test_subjects=["sub09"])
    with pytest.raises(ProtocolError, match="needs --test-subjects"):
        build_splits(records, "holdout", "3class")
    with pytest.raises(ProtocolError, match="every subject"):
        build_splits(records, "holdout", "3class", test_subjects=["sub01", "sub02", "sub03"])


def test_empty_class_and_no_samples_are_refused():
    records = _as_records([("sub01", "disgust"), ("sub02", "happiness")])
    with pytest.raises(ProtocolError, match="surprise without clips"):
        build_splits(records, "loso", "3class")
    with pytest.raises(ProtocolError, match="no clip in the store"):
        build_splits(records, "loso", "7class")  # SAMM-only task on CASME II records


def test_saved_split_is_checked_against_the_stores():
    records = _as_records([("sub01", "disgust"), ("sub02", "happiness"), ("sub03", "surprise")])
    task = get_task("3class")
    samples, splits = build_splits(records, "loso", task)
    check_against(splits, samples, task)
    splits.folds[0].test.append("casme2/sub07/EP999")
    with pytest.raises(ProtocolError, match="1 clip id.*sub07/EP999"):
        check_against(splits, samples, task)
    _, splits = build_splits(records, "loso", task)
    splits.folds[1].test = []
    with pytest.raises(ProtocolError, match="no test samples"):
        check_against(splits, samples, task)


def test_fold_selection():
    assert parse_fold_selection(None, 5) == [0, 1, 2, 3, 4]
    assert parse_fold_selection("0-2,4", 5) == [0, 1, 2, 4]
    assert parse_fold_selection("3, 1,1", 5) == [1, 3]
    for bad, msg in (("0-9", "does not exist"), ("2-1", "backwards"), ("a", "expected")):
        with pytest.raises(ProtocolError, match=msg):
            parse_fold_selection(bad, 5)


def test_inner_validation_subjects_come_from_training_subjects():
    train = [f"casme2/sub{i:02d}" for i in range(2, 12)]
    chosen = inner_validation_subjects(train * 3, 0.2, seed=7)
    assert len(chosen) == 2 and set(chosen) <= set(train)
    assert chosen == inner_validation_subjects(list(reversed(train)), 0.2, seed=7)
    assert inner_validation_subjects(train[:2], 0.9, seed=1) != train[:2]  # one stays to train
    with pytest.raises(ProtocolError, match="two training subjects"):
        inner_validation_subjects(train[:1], 0.2, seed=0)


# --------------------------------------------------------------------------- MEGC2019


def test_official_list_is_packaged():
    rows = official_list()
    assert len(rows) == 442
    assert len({o.subject_id for o in rows}) == 68
    assert Counter(o.dataset for o in rows) == {"smic": 164, "casme2": 145, "samm": 133}
    samm = [o for o in rows if o.dataset == "samm"][0]
    assert (samm.subject, samm.clip) == ("006", "006_1_2")  # list writes the subject as 6
    # SMIC folders say s1 / s1_ne_01; the list says s01 / s01_ne_01: both match
    assert match_key("smic", "s1", "s1_ne_01") == match_key("smic", "s01", "s01_ne_01")
    assert match_key("samm", "6", "006_1_2") == match_key("samm", "006", "006_1_2")
    assert match_key("smic-vis", "s1", "s1_ne_01") is None  # only the high-speed camera


def test_megc2019_official_counts(megc_stores):
    samples, splits = build_splits(_records(megc_stores), "megc2019", "3class")
    assert splits.protocol == "megc2019" and splits.classes == ["negative", "positive", "surprise"]
    assert len(splits.folds) == 68
    assert len({f.name for f in splits.folds}) == 68
    counts = Counter((s.dataset, s.label) for s in samples)
    assert [[counts[(ds, c)] for c in range(3)] for ds in ("smic", "casme2", "samm")] == [
        [70, 51, 43],
        [88, 32, 25],
        [92, 26, 15],
    ]
    assert Counter(s.label for s in samples) == {0: 250, 1: 109, 2: 83}
    per_ds_subjects = Counter(f.name.split("/")[0] for f in splits.folds)
    assert per_ds_subjects == {"smic": 16, "casme2": 24, "samm": 28}
    assert "samm/006" in {f.name for f in splits.folds}
    assert splits.info["excluded"] == len(EXTRAS)
    assert not splits.partial and splits.info["missing"] == {"smic": 0, "casme2": 0, "samm": 0}
    extra_ids = {r["clip_id"] for r in EXTRAS}
    assert not extra_ids & {c for f in splits.folds for c in f.test + f.train}
    _check_split_properties(samples, splits, every_sample_tested=True)
    # the same split from the stores in another order
    again = build_splits(_records(list(reversed(megc_stores))), "megc2019", "3class")[1]
    assert again.to_json() == splits.to_json()


def test_megc2019_partial(megc_partial_stores):
    samples, splits = build_splits(_records(megc_partial_stores), "megc2019", "3class")
    assert splits.partial
    n_s20 = len(DROPPED) - 3
    assert splits.info["missing"] == {"smic": n_s20, "casme2": 0, "samm": 3}
    assert splits.info["missing_subjects"] == ["smic/s20"]
    assert len(splits.folds) == 67 and len(samples) == 442 - len(DROPPED)
    assert "PARTIAL" in splits.summary()
    from mertrain.config import RunConfig
    from mertrain.recipe import Recipe
    from mertrain.report import LoadedRun, compute_results, header
    from mertrain.runrecord import RunRecord

    record = RunRecord(RunConfig.from_options(stores=["s.h5"], model="m"), "m", {}, Recipe(), [])
    res = compute_results(LoadedRun([], record, splits, {}))
    assert res["partial"] and res["coverage"]["missing"]["samm"] == 3
    assert f"PARTIAL (listed samples missing: smic {n_s20}, samm 3)" in header(res)


def test_megc2019_refusals(megc_stores):
    records = _records(megc_stores)
    with pytest.raises(ProtocolError, match="use --task 3class"):
        build_splits(records, "megc2019", "5class")
    no_samm = [r for r in records if r["dataset"] != "samm"]
    with pytest.raises(ProtocolError, match="SMIC.*CASME II.*SAMM.*samm"):
        build_splits(no_samm, "megc2019", "3class")


def test_splits_command(megc_partial_stores, cli_runner, tmp_path):
    from mertrain.cli import cli

    res = cli_runner.invoke(
        cli, ["splits", *map(str, megc_partial_stores), "--protocol", "megc2019", "--json"]
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert {"protocol", "task", "classes", "sha256", "folds"} <= set(payload)
    assert payload["classes"] == ["negative", "positive", "surprise"]
    assert (
        res.output
        == build_splits(_records(megc_partial_stores), "megc2019", "3class")[1].to_json() + "\n"
    )
    res = cli_runner.invoke(
        cli, ["splits", *map(str, megc_partial_stores), "--protocol", "megc2019"]
    )
    assert res.exit_code == 0 and "PARTIAL" in res.output and "samm 3" in res.output
    res = cli_runner.invoke(cli, ["splits", str(megc_partial_stores[0]), "--protocol", "megc2019"])
    assert res.exit_code == 2 and res.output.startswith("error: protocol 'megc2019' needs")
    assert "Traceback" not in res.output
