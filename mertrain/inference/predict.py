"""``mertrain predict``: class probabilities for every clip of some stores, labelled or not
(a user's own recordings through ``merprep extract --dataset manifest`` with no emotions).

One CSV row per clip: ``clip_id, store, dataset, subject, emotion`` (as stored, may be empty),
``predicted_class``, ``y_pred`` (its index), ``p_<class>`` for every class (full precision),
``predicted_by`` (the model folder's fold, a final model, or the mean of a run's folds) and
``seen_in_training`` (how many of the predicting models trained on the clip's subject: those
probabilities are optimistic). Written atomically.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merprep.errors import MerprepError
from merprep.fsio import atomic_write
from merprep.store import ClipStore
from mertrain.inference.model import FoldEnsemble, TrainedModel, load_trained

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    out: Path
    rows: list[dict[str, Any]]
    model: TrainedModel | FoldEnsemble

    @property
    def seen(self) -> int:
        """Clips whose subject trained at least one of the predicting models."""
        return sum(1 for r in self.rows if r["seen_in_training"])


def csv_text(rows: Sequence[dict[str, Any]], classes: Sequence[str]) -> str:
    fields = ["clip_id", "store", "dataset", "subject", "emotion", "predicted_class", "y_pred"]
    fields += [f"p_{c}" for c in classes] + ["predicted_by", "seen_in_training"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {
                **r,
                "predicted_class": r["class"],
                **{f"p_{c}": repr(float(p)) for c, p in zip(classes, r["probabilities"])},
            }
        )
    return buf.getvalue()


def predict(
    model_path: Path | str,
    stores: Sequence[Path | str],
    out: Path | str,
    *,
    fold: int | str | None = None,
    clip_ids: Sequence[str] | None = None,
    progress: bool | None = None,
) -> Predictions:
    """Predict every clip of ``stores`` (or only ``clip_ids``, which must be in them) with the
    model at ``model_path`` and write the CSV to ``out``. Every store is checked against the
    model's training stores before any is read."""
    model = load_trained(model_path, fold)
    for store in stores:
        model.check_store(store)
    wanted = None if clip_ids is None else set(clip_ids)
    rows: list[dict[str, Any]] = []
    for store in stores:
        ids = None
        if wanted is not None:
            with ClipStore(store) as s:
                ids = [c for c in s.clip_ids if c in wanted]
            if not ids:
                continue
        for row in model.predict_store(store, ids, progress=progress):
            rows.append({**row, "store": str(store)})
    if wanted is not None:
        missing = sorted(wanted - {r["clip_id"] for r in rows})
        if missing:
            raise MerprepError(
                f"{len(missing)} clip id(s) are in none of the stores, e.g. {missing[0]!r}"
            )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, csv_text(rows, model.classes), durable=True)
    result = Predictions(out, rows, model)
    if result.seen:
        log.warning(
            "%d of %d clips are of subjects the model(s) trained on: their probabilities "
            "are optimistic (column seen_in_training)",
            result.seen,
            len(rows),
        )
    return result
