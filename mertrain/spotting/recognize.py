"""A trained recognition model (:func:`mertrain.inference.load_trained`) as the
:class:`merprep.analyze.Recognizer` that analysis and STR use, and the spot-then-recognise score.

Clips are cut from the video's own frames exactly as ``merprep extract`` cut the model's
training clips (the model's recorded store parameters), so only models that read face clips
(input source ``face``) are accepted; others are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from merprep.errors import MerprepError
from merprep.longvideo import get_long_adapter
from merprep.longvideo.records import VideoRecord
from merprep.spotting.metric import analysis_f1, evaluate, strs

#: emotions as the long-video datasets write them -> the MEGC 4-class words
EMOTION_GROUPS = {
    **dict.fromkeys(
        ("negative", "anger", "contempt", "disgust", "fear", "sadness", "sad", "repression"),
        "negative",
    ),
    **dict.fromkeys(("positive", "happiness", "happy"), "positive"),
    "surprise": "surprise",
    **dict.fromkeys(("others", "other"), "others"),
}


class ModelRecognizer:
    """Wraps a loaded model: ``classes``, ``clip_params``, ``describe``, ``predict(clips)``."""

    def __init__(self, model: Any):
        self.model = model
        spec = dict(model.input_spec)
        if [s.get("source") for s in spec.values()] != ["face"]:
            raise MerprepError(
                f"{model.describe} reads {', '.join(str(s.get('source')) for s in spec.values())}; "
                "spotted intervals can be recognised by models of face clips only"
            )
        self.input = next(iter(spec))
        self.classes: Sequence[str] = tuple(model.classes)
        self.clip_params: Mapping[str, Any] = dict(model.store_params)
        self.describe = str(model.describe)

    def predict(self, clips: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_arrays({self.input: clips}))


def load_recognizer(path: Path | str, fold: int | str | None = None) -> ModelRecognizer:
    from mertrain.inference import load_trained

    return ModelRecognizer(load_trained(path, fold=fold))


def class_of(emotion: str, classes: Sequence[str]) -> str | None:
    """The model class a ground-truth emotion stands for (None: the model has no such class)."""
    word = emotion.strip().lower()
    if word in classes:
        return word
    group = EMOTION_GROUPS.get(word)
    return group if group in classes else None


def str_score(
    doc: dict[str, Any], recognizer: ModelRecognizer, *, mode: str = "one-to-one"
) -> dict[str, Any]:
    """Spot-then-recognise (docs/references.md#spot-4) for a spots document whose store is at
    hand: per dataset, the ME spotting F1 times the analysis F1 over the spotted MEs that are
    true positives (their ground-truth emotion against the model's class for the spotted
    interval, cut from the dataset's own frames). A TP whose emotion the model has no class for
    is left out and counted."""
    from merprep.analyze import recognise_intervals
    from merprep.longvideo.store import LongVideoStore
    from merprep.spotting.run import video_results

    result = evaluate(video_results(doc), mode=mode)
    with LongVideoStore(doc["store"]) as store:
        params = store.attrs["params"]
        records = {v: store.record(v) for v in store.video_ids}
    adapter = get_long_adapter(params["dataset"])(
        params["root"], params.get("annotations"), **params.get("adapter_options", {})
    )
    per: dict[str, dict[str, list[str]]] = {}
    left_out: dict[str, int] = {}
    by_video: dict[str, list[dict[str, Any]]] = {}
    for m in result["matches"]:
        if m["type"] == "me":
            by_video.setdefault(m["video_id"], []).append(m)
    for vid, matches in sorted(by_video.items()):
        rec = records[vid]
        source = adapter.frame_source(VideoRecord.from_dict(rec))
        spans = [
            {
                "type": "me",
                "onset": m["pred"].onset,
                "apex": m["pred"].apex,
                "offset": m["pred"].offset,
            }
            for m in matches
        ]
        recognise_intervals(source, rec["fps"], spans, recognizer)
        for m, s in zip(matches, spans):
            truth = class_of(m["gt"].emotion, recognizer.classes)
            if truth is None or s.get("class") is None:
                left_out[rec["dataset"]] = left_out.get(rec["dataset"], 0) + 1
                continue
            pair = per.setdefault(rec["dataset"], {"truth": [], "pred": []})
            pair["truth"].append(truth)
            pair["pred"].append(s["class"])
    out: dict[str, Any] = {
        "model": recognizer.describe,
        "classes": list(recognizer.classes),
        "datasets": {},
    }
    pooled: dict[str, list[str]] = {"truth": [], "pred": []}
    for name, table in result["datasets"].items():
        pair = per.get(name, {"truth": [], "pred": []})
        analysis = analysis_f1(pair["truth"], pair["pred"], recognizer.classes)
        spot = table["me"]["f1"]
        out["datasets"][name] = {
            "spotting_f1_me": spot,
            "analysis": analysis,
            "strs": strs(spot, analysis["f1"]),
            "tp_left_out": left_out.get(name, 0),
        }
        pooled["truth"] += pair["truth"]
        pooled["pred"] += pair["pred"]
    analysis = analysis_f1(pooled["truth"], pooled["pred"], recognizer.classes)
    spot = result["combined"]["me"]["f1"]
    out["combined"] = {
        "spotting_f1_me": spot,
        "analysis": analysis,
        "strs": strs(spot, analysis["f1"]),
        "tp_left_out": sum(left_out.values()),
    }
    return out
