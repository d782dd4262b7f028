"""Splits on disk and the choices made from them (mertrain/protocols/splits.py, types.py): a
saved split is refused, with the reason and the file, when it does not fit the stores or was
edited; ``--folds`` selections and the inner-validation draw follow their stated rules exactly.
No stores: samples are made here (the store side is tested in test_protocols.py).
"""

from __future__ import annotations

import json
import math

import pytest

from mertrain.protocols import (
    Fold,
    ProtocolError,
    Splits,
    build_splits,
    check_against,
    get_task,
    inner_validation_subjects,
    make_splits,
    parse_fold_selection,
)
from mertrain.protocols.types import Sample

TASK = get_task("3class")


def sample(subject: str, i: int, label: int) -> Sample:
    return Sample(f"casme2/{subject}/EP{i:02d}", "casme2", f"casme2/{subject}", label)


SAMPLES = [sample(s, i, i % 3) for s in ("sub01", "sub02", "sub03") for i in range(3)]


def splits(classes=("negative", "positive", "surprise"), extra=(), info=None) -> Splits:
    folds = []
    for s in ("sub01", "sub02", "sub03"):
        test = [x.clip_id for x in SAMPLES if x.subject_id == f"casme2/{s}"]
        train = [x.clip_id for x in SAMPLES if x.clip_id not in test] + list(extra)
        folds.append(Fold(f"casme2/{s}", test, sorted(train)))
    return Splits("loso", "3class", list(classes), folds, dict(info or {}))


def test_a_saved_split_fits_the_stores_or_is_refused_with_the_reason():
    check_against(splits(), SAMPLES, TASK)
    with pytest.raises(ProtocolError) as err:
        check_against(splits(classes=("negative", "positive")), SAMPLES, TASK)
    assert str(err.value) == (
        "splits file classes ['negative', 'positive'] differ from task '3class' classes "
        "['negative', 'positive', 'surprise']"
    )
    extra = [f"casme2/sub09/EP{i:02d}" for i in range(5)]
    with pytest.raises(ProtocolError) as err:
        check_against(splits(extra=extra), SAMPLES, TASK)
    assert str(err.value) == (
        "splits file names 5 clip id(s) the stores do not hold (as labelled clips of task "
        "'3class'), e.g. casme2/sub09/EP00, casme2/sub09/EP01, casme2/sub09/EP02"
    )


def test_splits_round_trip_and_an_edited_file_is_refused_naming_it(tmp_path):
    original = splits(info={"partial": True, "missing": {"samm": 2}})
    path = tmp_path / "splits.json"
    original.save(path)
    text = path.read_text(encoding="utf-8")
    assert text == original.to_json() + "\n"
    loaded = Splits.load(path)
    assert loaded == original and loaded.sha256 == original.sha256
    assert loaded.info == {"partial": True, "missing": {"samm": 2}} and loaded.partial
    no_info = json.loads(text)
    del no_info["info"], no_info["sha256"]
    assert Splits.from_json(json.dumps(no_info)).info == {}
    edited = json.loads(text)
    edited["folds"][0]["test"] = edited["folds"][0]["test"][:1]
    path.write_text(json.dumps(edited), encoding="utf-8")
    with pytest.raises(ProtocolError) as err:
        Splits.load(path)
    assert str(err.value) == (
        f"{path}: splits file was edited: its sha256 does not match its content"
    )
    path.write_text('{"protocol": "loso"}', encoding="utf-8")
    with pytest.raises(ProtocolError) as err:
        Splits.load(path)
    assert str(err.value) == f"{path}: not a splits file (KeyError: 'task')"
    with pytest.raises(ProtocolError) as err:
        Splits.load(tmp_path / "absent.json")
    assert str(err.value) == (
        f"{tmp_path / 'absent.json'}: cannot read splits file (No such file or directory)"
    )


def test_the_split_sha256_covers_its_info_and_its_folds():
    a = splits()
    assert a.sha256 == splits().sha256
    assert a.sha256 != splits(info={"partial": True}).sha256
    assert a.sha256 != Splits("loso", "3class", a.classes, a.folds[::-1]).sha256
    assert a.test_clip_ids() == [c.clip_id for c in SAMPLES]
    lines = splits(info={"partial": True, "missing": {"samm": 2, "smic": 0}, "excluded": 4})
    text = lines.summary()
    assert "PARTIAL: listed samples missing from the stores: samm 2" in text
    assert "excluded 4 store clip(s) not in the official list" in text
    assert "3 folds, 9 test clips (per fold 3-3)" in text


@pytest.mark.parametrize(
    "text, n, expected",
    [
        (None, 3, [0, 1, 2]),
        ("", 3, [0, 1, 2]),
        ("  ", 2, [0, 1]),
        ("2", 3, [2]),
        ("0-2", 3, [0, 1, 2]),
        (" 1 - 2 , 0", 3, [0, 1, 2]),
        ("1,1,0-1", 3, [0, 1]),
        ("4", 5, [4]),
    ],
)
def test_fold_selection(text, n, expected):
    assert parse_fold_selection(text, n) == expected


@pytest.mark.parametrize(
    "text, n, message",
    [
        ("3", 3, "--folds '3': fold 3 does not exist (folds 0-2)"),
        ("0-5", 5, "--folds '0-5': fold 5 does not exist (folds 0-4)"),
        ("2-1", 3, "--folds '2-1': range 2-1 is backwards"),
        ("a", 3, "--folds 'a': expected indices and ranges like '0-9,12'"),
        ("1,", 3, "--folds '1,': expected indices and ranges like '0-9,12'"),
        ("-1", 3, "--folds '-1': expected indices and ranges like '0-9,12'"),
    ],
)
def test_fold_selection_refusals(text, n, message):
    with pytest.raises(ProtocolError) as err:
        parse_fold_selection(text, n)
    assert str(err.value) == message


@pytest.mark.parametrize("n_subjects", [2, 3, 4, 7, 12])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.2, 0.5, 0.99, 1.0])
def test_inner_validation_draws_ceil_fraction_at_least_one_at_most_all_but_one(
    n_subjects, fraction
):
    subjects = [f"casme2/sub{i:02d}" for i in range(n_subjects)]
    chosen = inner_validation_subjects(subjects[::-1] + subjects[:1], fraction, seed=3)
    expected = min(max(1, math.ceil(fraction * n_subjects)), n_subjects - 1)
    assert len(chosen) == expected and chosen == sorted(set(chosen))
    assert set(chosen) < set(subjects)
    assert chosen == inner_validation_subjects(subjects, fraction, seed=3)  # order-free


def test_inner_validation_depends_on_the_seed_and_needs_two_subjects():
    subjects = [f"s{i:02d}" for i in range(10)]
    draws = {tuple(inner_validation_subjects(subjects, 0.3, seed)) for seed in range(20)}
    assert len(draws) > 5 and all(len(d) == 3 for d in draws)
    with pytest.raises(ProtocolError) as err:
        inner_validation_subjects(["s01", "s01"], 0.5, 0)
    assert str(err.value) == "--select inner-val needs at least two training subjects per fold"


def test_holdout_dataset_tests_each_dataset_on_a_model_that_never_saw_it():
    mixed = SAMPLES + [sample("x", i, i % 3) for i in range(2)]
    mixed += [Sample(f"samm/006/c{i}", "samm", "samm/006", i % 3) for i in range(3)]
    result = make_splits(mixed, "holdout-dataset", TASK)
    assert result.protocol == "holdout-dataset" and result.info == {"datasets": ["casme2", "samm"]}
    assert [f.name for f in result.folds] == ["casme2", "samm"]
    casme2, samm = result.folds
    assert casme2.test == sorted(s.clip_id for s in mixed if s.dataset == "casme2")
    assert casme2.train == ["samm/006/c0", "samm/006/c1", "samm/006/c2"] == samm.test
    assert samm.train == casme2.test and result.classes == list(TASK.classes)
    with pytest.raises(ProtocolError) as err:
        make_splits(SAMPLES, "holdout-dataset", TASK)
    assert str(err.value) == (
        "protocol 'holdout-dataset' needs clips of at least two datasets (e.g. casme2.h5 "
        "samm.h5); these stores hold casme2"
    )
    with pytest.raises(ProtocolError, match="these stores hold none$"):
        make_splits([], "holdout-dataset", TASK)


def test_a_final_model_trains_on_every_clip_and_tests_none():
    result = make_splits(SAMPLES[::-1], "all", TASK)
    assert (result.protocol, result.task, result.classes) == ("all", "3class", list(TASK.classes))
    (fold,) = result.folds
    assert (fold.name, fold.test, fold.train) == ("all", [], sorted(s.clip_id for s in SAMPLES))
    assert result.info == {}
    with pytest.raises(ProtocolError, match="unknown protocol"):
        make_splits(SAMPLES, "leave-one-out", TASK)


# mutation testing (docs/reliability.md "Mutation testing"): each test below kills a mutant of
# splits.py that every earlier test let through


def test_holdout_tests_every_named_subject_in_either_spelling():
    """Kills ``resolve_subjects``'s ``continue`` -> ``break`` (only the first subject named by
    its full id was kept, the rest dropped silently: they were trained on instead)."""
    result = make_splits(SAMPLES, "holdout", TASK, test_subjects=["casme2/sub03", "sub01"])
    (fold,) = result.folds
    tested = [f"casme2/sub01/EP{i:02d}" for i in range(3)] + [
        f"casme2/sub03/EP{i:02d}" for i in range(3)
    ]
    assert result.info == {"test_subjects": ["casme2/sub01", "casme2/sub03"]}
    assert fold.test == tested and fold.train == [f"casme2/sub02/EP{i:02d}" for i in range(3)]
    both = make_splits(SAMPLES, "holdout", TASK, test_subjects=["casme2/sub02", "casme2/sub01"])
    assert both.info == {"test_subjects": ["casme2/sub01", "casme2/sub02"]}
    assert both.folds[0].train == [f"casme2/sub03/EP{i:02d}" for i in range(3)]


@pytest.mark.parametrize(
    "protocol, options",
    [("loso", {}), ("holdout", {"test_subjects": ["sub01"]}), ("kfold", {"k": 2}),
     ("holdout-dataset", {}), ("all", {})],
)  # fmt: skip
def test_every_protocol_records_the_task_it_was_made_for(protocol, options):
    """A split names the task and classes it was made for (in its JSON, so in its sha256). Kills
    ``holdout_dataset`` writing ``None`` as the task name."""
    mixed = SAMPLES + [Sample(f"samm/006/c{i}", "samm", "samm/006", i % 3) for i in range(3)]
    binary = get_task("binary")
    result = make_splits([s for s in mixed if s.label < 2], protocol, binary, **options)
    assert (result.protocol, result.task, result.classes) == (
        protocol, "binary", ["negative", "positive"],
    )  # fmt: skip


def test_an_unknown_task_is_refused_naming_the_choices():
    """Kills ``_task`` raising a ProtocolError without the registry's message."""
    records = [{"clip_id": "casme2/sub01/EP01", "dataset": "casme2", "subject_id": "casme2/sub01",
                "emotion": "happiness"}]  # fmt: skip
    with pytest.raises(ProtocolError) as err:
        build_splits(records, "loso", "9class")
    assert str(err.value) == (
        "unknown task '9class'; choose one of 3class, 5class, 7class, binary, deception"
    )
