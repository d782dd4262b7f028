"""``mertrain evaluate``: a trained model (a run's folds, one fold, or a final model) scored on
other stores, e.g. trained on CASME II and tested on SAMM, with the files a run writes.

The stores' emotions are mapped to classes through the model's task, per dataset (SAMM's
anger and contempt are negative in 3-class, as CASME II's disgust is); a store whose emotions
the task cannot map is refused, naming the dataset and its emotions. Clips of a subject the
model trained on are refused too (their scores would be optimistic; a run's own folds are
scored by ``mertrain run``). The output folder holds ``predictions.csv``, ``results.json``,
``per_subject.csv`` and ``confusion.png`` as a run directory does (:mod:`mertrain.results`),
``config.json`` of the run that trained the model, ``splits.json`` (protocol ``evaluate``: one
"fold" testing every scored clip), ``folds/000.json`` and ``evaluation.json`` (what was scored
by what; clips left out and why). ``results.json`` names the evaluated stores under ``stores``
and the training stores under ``trained_on``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from merprep.errors import MerprepError
from mertrain import rundir
from mertrain.data import StoreCollection
from mertrain.folds import FoldOutcome
from mertrain.inference.model import FoldEnsemble, TrainedModel, load_trained
from mertrain.protocols import Fold, Splits, get_task
from mertrain.results import write_outputs

PROTOCOL = "evaluate"


class EvaluationError(MerprepError):
    """Stores a model cannot be scored on (unmapped emotions, clips it trained on)."""


def _run_dir(model: TrainedModel | FoldEnsemble) -> Path:
    where = model.run_dir
    if where is None:
        raise EvaluationError(
            "evaluate needs the config.json of the run that trained the model (a run "
            "directory, its weights/NNN/ folder, or a mertrain fit folder)",
            file=model.first.folder,
        )
    return Path(where)


def evaluate(
    model_path: Path | str,
    stores: Sequence[Path | str],
    out: Path | str,
    *,
    fold: int | str | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Score the model at ``model_path`` on ``stores`` into ``out``; returns results.json's
    content (see the module docstring)."""
    t0 = time.perf_counter()
    model = load_trained(model_path, fold)
    source = _run_dir(model)
    record = rundir.load_record(source / rundir.CONFIG)
    task = get_task(model.task)
    chosen: dict[str, list[str]] = {}
    labels: dict[str, int] = {}
    left_out: Counter[str] = Counter()
    subjects: set[str] = set()
    with StoreCollection(stores) as collection:
        model.check_collection(collection)
        described = collection.describe()
        for store in collection.stores:
            by_dataset: dict[str, list[dict[str, Any]]] = {}
            for r in store.records():
                by_dataset.setdefault(r["dataset"], []).append(r)
            for dataset, recs in sorted(by_dataset.items()):
                mapped = [(r, task.label(r)) for r in recs]
                if all(label is None for _, label in mapped):
                    emotions = sorted({str(r["emotion"]) for r in recs})
                    if emotions == [""]:
                        raise EvaluationError(
                            f"dataset {dataset}'s clips have no emotion labels: nothing to "
                            "score (mertrain predict gives their probabilities)",
                            file=store.path,
                        )
                    raise EvaluationError(
                        f"task {task.name!r} ({', '.join(task.classes)}) has no class for "
                        f"dataset {dataset}'s emotions {', '.join(emotions)}: {task.description} "
                        f"Evaluate a model trained with a task that maps them (e.g. 3class)",
                        file=store.path,
                    )
                for r, label in mapped:
                    if label is None:
                        left_out[f"{dataset} {r['emotion']}"] += 1
                    else:
                        chosen.setdefault(str(store.path), []).append(r["clip_id"])
                        labels[r["clip_id"]] = label
                        subjects.add(r["subject_id"])
    trained = set().union(*(m.record.train_subjects for m in model.models))
    seen = sorted(subjects & trained)
    if seen:
        raise EvaluationError(
            f"{len(seen)} subject(s) of these stores trained the model ({', '.join(seen[:4])}"
            f"{' ...' if len(seen) > 4 else ''}): their scores would be optimistic; evaluate on "
            "subjects the model never saw (a run's own folds are scored by mertrain run)"
        )
    rows = []
    for path, ids in chosen.items():
        rows += model.predict_store(path, ids, progress=progress)
    outcome = FoldOutcome(
        index=0,
        name=PROTOCOL,
        seed=record.seed,
        clip_ids=[r["clip_id"] for r in rows],
        datasets=[r["dataset"] for r in rows],
        subjects=[r["subject"] for r in rows],
        y_true=[labels[r["clip_id"]] for r in rows],
        proba=np.asarray([r["probabilities"] for r in rows], np.float64),
        history={},
        seconds=time.perf_counter() - t0,
    )
    info = {"model": model.describe, "left_out": dict(sorted(left_out.items()))}
    splits = Splits(
        PROTOCOL,
        task.name,
        list(task.classes),
        [Fold(PROTOCOL, list(outcome.clip_ids), [])],
        info,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / rundir.CONFIG, out / rundir.CONFIG)
    rundir.write_text(out / rundir.SPLITS, splits.to_json() + "\n")
    rundir.save_fold(out, outcome)
    run = rundir.LoadedRun([out], record, splits, {0: outcome})
    results = write_outputs(out, run)
    evaluation = {
        "model": model.describe,
        "model_path": str(Path(model_path).resolve()),
        "folds": [m.record.fold for m in model.models],
        "ensemble": isinstance(model, FoldEnsemble),
        "trained_protocol": model.first.record.training["protocol"],
        "honest_selection": all(m.record.training["honest_selection"] for m in model.models),
        "task": task.name,
        "classes": list(task.classes),
        "stores": described,
        "clips_scored": len(rows),
        "left_out": dict(sorted(left_out.items())),
    }
    results["trained_on"] = results.get("stores")
    results["stores"] = [
        {k: s.get(k) for k in ("path", "schema_version", "fingerprint", "n_clips")}
        for s in described
    ]
    results["evaluation"] = evaluation
    rundir.write_text(out / rundir.RESULTS, json.dumps(results, indent=2) + "\n")
    rundir.write_text(out / "evaluation.json", json.dumps(evaluation, indent=2) + "\n")
    return results
