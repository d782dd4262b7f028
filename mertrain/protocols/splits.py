"""Train/test splits as a pure function of (clip records, protocol, task).

Every model run on the same stores with the same protocol gets byte-identical splits: folds are
in a fixed order, clip ids are sorted, and the JSON form is canonical, so its sha256 identifies
the split. Nothing here reads arrays, trains, or draws unseeded random numbers.

Protocols (``--protocol``):

- ``loso``: one fold per subject (``subject_id``), trained on every other subject.
- ``megc2019``: the MEGC2019 composite (see :mod:`mertrain.protocols.megc2019`): LOSO over the 68
  subjects of the official list, labels from that list.
- ``holdout``: one fold testing ``test_subjects``, trained on the rest.
- ``kfold``: ``k`` folds of whole subjects, balanced by clip count, assigned greedily in a fixed
  order (no random numbers, so no seed).
- ``holdout-dataset``: MEGC2018's holdout-database evaluation: one fold per dataset, testing
  that dataset's clips and training on every other dataset's (e.g. CASME II -> SAMM and back).
- ``all``: one final model on every clip, testing none (``mertrain fit``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from merprep.ids import local_name
from merprep.registry import Registry
from mertrain.protocols import megc2019 as megc
from mertrain.protocols.tasks import Task, get_task
from mertrain.protocols.types import Fold, ProtocolError, Sample, Splits

# --------------------------------------------------------------------------- samples


def labelled_samples(records: Iterable[Mapping[str, Any]], task: Task) -> list[Sample]:
    """The records the task uses, as Samples sorted by clip id."""
    out = []
    for r in records:
        label = task.label(r)
        if label is not None:
            out.append(Sample(r["clip_id"], r["dataset"], r["subject_id"], label))
    return sorted(out, key=lambda s: s.clip_id)


def check_classes(samples: Sequence[Sample], task: Task) -> None:
    """Refuse a mapping that leaves a class without any clip (the model could never learn it
    and UAR would be undefined)."""
    if not samples:
        raise ProtocolError(
            f"no clip in the store(s) maps to a class of task {task.name!r} "
            f"({', '.join(task.classes)}): {task.description}"
        )
    counts = np.bincount([s.label for s in samples], minlength=len(task.classes))
    empty = [c for c, n in zip(task.classes, counts) if n == 0]
    if empty:
        raise ProtocolError(
            f"task {task.name!r} leaves class(es) {', '.join(empty)} without "
            "clips in these stores; choose another task or add data"
        )


# --------------------------------------------------------------------------- protocols


def _by_subject(samples: Sequence[Sample]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in sorted(samples, key=lambda s: s.clip_id):
        out.setdefault(s.subject_id, []).append(s.clip_id)
    return dict(sorted(out.items()))


def _fold(name: str, test_subjects: Iterable[str], groups: Mapping[str, list[str]]) -> Fold:
    chosen = set(test_subjects)
    test = sorted(c for s in chosen for c in groups.get(s, []))
    train = sorted(c for s, ids in groups.items() if s not in chosen for c in ids)
    return Fold(name, test, train)


def loso(samples: Sequence[Sample], task: Task, **_: Any) -> Splits:
    """Leave one subject out: one fold per subject, trained on every other subject's clips."""
    groups = _by_subject(samples)
    folds = [_fold(subject, [subject], groups) for subject in groups]
    return Splits("loso", task.name, list(task.classes), folds)


def resolve_subjects(names: Sequence[str], subjects: Sequence[str]) -> list[str]:
    """Map user-typed subjects (``casme2/sub01`` or, when unambiguous, ``sub01``) to subject ids."""
    out = []
    for name in names:
        if name in subjects:
            out.append(name)
            continue
        hits = [s for s in subjects if local_name(s) == name]
        if len(hits) != 1:
            why = "is ambiguous" if hits else "is not in the stores"
            raise ProtocolError(
                f"test subject {name!r} {why}; subjects: "
                f"{', '.join(subjects[:40])}{' ...' if len(subjects) > 40 else ''}"
            )
        out.append(hits[0])
    return sorted(set(out))


def holdout(
    samples: Sequence[Sample], task: Task, *, test_subjects: Sequence[str] | None = None, **_: Any
) -> Splits:
    """One fold: the named subjects are tested, every other subject trains."""
    if not test_subjects:
        raise ProtocolError("protocol 'holdout' needs --test-subjects")
    groups = _by_subject(samples)
    chosen = resolve_subjects(test_subjects, list(groups))
    if len(chosen) == len(groups):
        raise ProtocolError("holdout: every subject is a test subject; nothing left to train on")
    return Splits(
        "holdout",
        task.name,
        list(task.classes),
        [_fold("holdout", chosen, groups)],
        {"test_subjects": chosen},
    )


def kfold(samples: Sequence[Sample], task: Task, *, k: int | None = None, **_: Any) -> Splits:
    """``k`` folds of whole subjects. Subjects are taken largest first (ties by id) and each
    joins the fold with the fewest clips so far (ties: lowest index): balanced, seed-free."""
    groups = _by_subject(samples)
    if k is None or k < 2:
        raise ProtocolError("protocol 'kfold' needs --k of at least 2")
    if k > len(groups):
        raise ProtocolError(
            f"kfold: k={k} but only {len(groups)} subjects; every fold needs test subjects"
        )
    members: list[list[str]] = [[] for _ in range(k)]
    load = [0] * k
    for subject in sorted(groups, key=lambda s: (-len(groups[s]), s)):
        i = min(range(k), key=lambda j: (load[j], j))
        members[i].append(subject)
        load[i] += len(groups[subject])
    width = len(str(k - 1))
    folds = [_fold(f"fold{i:0{width}d}", members[i], groups) for i in range(k)]
    return Splits("kfold", task.name, list(task.classes), folds, {"k": k})


def megc2019(samples: Sequence[Sample], task: Task, **_: Any) -> Splits:
    """LOSO over the subjects of the official list present in the stores (``samples`` must come
    from :func:`mertrain.protocols.megc2019.official_samples`)."""
    splits = loso(samples, task)
    splits.protocol = "megc2019"
    return splits


def holdout_dataset(samples: Sequence[Sample], task: Task, **_: Any) -> Splits:
    """One fold per dataset (named after it): its clips tested, every other dataset's trained
    on, so no fold's model has seen the dataset it is tested on."""
    datasets = sorted({s.dataset for s in samples})
    if len(datasets) < 2:
        raise ProtocolError(
            "protocol 'holdout-dataset' needs clips of at least two datasets (e.g. casme2.h5 "
            f"samm.h5); these stores hold {', '.join(datasets) or 'none'}"
        )
    folds = [
        Fold(
            ds,
            sorted(s.clip_id for s in samples if s.dataset == ds),
            sorted(s.clip_id for s in samples if s.dataset != ds),
        )
        for ds in datasets
    ]
    return Splits("holdout-dataset", task.name, list(task.classes), folds, {"datasets": datasets})


#: the protocol of a final model: trained on every clip, testing none
FINAL = "all"


def all_clips(samples: Sequence[Sample], task: Task, **_: Any) -> Splits:
    """One "fold" training on every clip and testing none: ``mertrain fit``'s final model."""
    train = sorted(s.clip_id for s in samples)
    return Splits(FINAL, task.name, list(task.classes), [Fold(FINAL, [], train)])


#: protocol name -> ``fn(samples, task, **options) -> Splits``
PROTOCOLS: Registry[Callable[..., Splits]] = Registry("protocol")
PROTOCOLS.register("loso", loso)
PROTOCOLS.register("megc2019", megc2019)
PROTOCOLS.register("holdout", holdout)
PROTOCOLS.register("kfold", kfold)
PROTOCOLS.register("holdout-dataset", holdout_dataset)
PROTOCOLS.register(FINAL, all_clips)


def make_splits(samples: Sequence[Sample], protocol: str, task: Task, **options: Any) -> Splits:
    try:
        fn = PROTOCOLS.get(protocol)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    return fn(samples, task, **options)


def build_splits(
    records: Sequence[Mapping[str, Any]], protocol: str, task: str | Task, **options: Any
) -> tuple[list[Sample], Splits]:
    """(samples, splits) from store records: the one entry point ``mertrain splits`` and
    ``mertrain run`` share. Raises :class:`ProtocolError` for every unusable combination."""
    task = task if isinstance(task, Task) else _task(task)
    if protocol == "megc2019":
        samples, info = megc.official_samples(records, task)
    else:
        samples, info = labelled_samples(records, task), {}
    check_classes(samples, task)
    splits = make_splits(samples, protocol, task, **options)
    splits.info = {**info, **splits.info}
    check_folds(splits)
    return samples, splits


def _task(name: str) -> Task:
    try:
        return get_task(name)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def check_folds(splits: Splits) -> None:
    """Every fold tests and trains on something, no clip is on both sides of a fold, no clip is
    tested twice (pooled metrics count each clip once). A final model's one fold (protocol
    ``all``) tests nothing."""
    if not splits.folds:
        raise ProtocolError(f"protocol {splits.protocol!r} produced no folds")
    seen: set[str] = set()
    for f in splits.folds:
        if not f.test and splits.protocol != FINAL:
            raise ProtocolError(f"fold {f.name!r} has no test samples")
        if not f.train:
            raise ProtocolError(f"fold {f.name!r} has no training samples")
        both = set(f.test) & set(f.train)
        if both:
            raise ProtocolError(
                f"fold {f.name!r} has {len(both)} clip(s) on both sides, e.g. {sorted(both)[0]!r}"
            )
        twice = seen & set(f.test)
        if twice:
            raise ProtocolError(f"clip {sorted(twice)[0]!r} is tested in two folds")
        seen |= set(f.test)


def check_against(splits: Splits, samples: Sequence[Sample], task: Task) -> None:
    """A saved split (``--splits FILE``) must fit these stores: same task classes, and every
    clip id it names is a labelled clip of the stores."""
    if list(splits.classes) != list(task.classes):
        raise ProtocolError(
            f"splits file classes {splits.classes} differ from task "
            f"{task.name!r} classes {list(task.classes)}"
        )
    known = {s.clip_id for s in samples}
    unknown = sorted({c for f in splits.folds for c in (*f.test, *f.train)} - known)
    if unknown:
        raise ProtocolError(
            f"splits file names {len(unknown)} clip id(s) the stores do not hold "
            f"(as labelled clips of task {task.name!r}), e.g. "
            f"{', '.join(unknown[:3])}"
        )
    check_folds(splits)


# --------------------------------------------------------------------------- fold helpers

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_fold_selection(text: str | None, n_folds: int) -> list[int]:
    """``"0-9,12"`` -> [0, ..., 9, 12] (sorted, distinct); ``None`` -> every fold."""
    if text is None or not str(text).strip():
        return list(range(n_folds))
    chosen: set[int] = set()
    for part in str(text).split(","):
        m = _RANGE.match(part)
        if not m:
            raise ProtocolError(f"--folds {text!r}: expected indices and ranges like '0-9,12'")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ProtocolError(f"--folds {text!r}: range {lo}-{hi} is backwards")
        if hi >= n_folds:
            raise ProtocolError(
                f"--folds {text!r}: fold {hi} does not exist (folds 0-{n_folds - 1})"
            )
        chosen.update(range(lo, hi + 1))
    return sorted(chosen)


def inner_validation_subjects(
    train_subjects: Sequence[str], fraction: float, seed: int
) -> list[str]:
    """Whole subjects held out of a fold's TRAINING subjects for epoch selection.

    ``ceil(fraction * n)`` subjects (at least one, at most n - 1), drawn by a generator seeded
    with the fold seed from the sorted subject list: deterministic, and it never sees the test
    subjects because it is never given them.
    """
    subjects = sorted(set(train_subjects))
    if len(subjects) < 2:
        raise ProtocolError("--select inner-val needs at least two training subjects per fold")
    n = min(max(1, int(np.ceil(fraction * len(subjects)))), len(subjects) - 1)
    order = np.random.default_rng(seed).permutation(len(subjects))
    return sorted(subjects[i] for i in order[:n])
