"""What a clip store was extracted with, as a model compares it with its training stores.

A model trained on 128 px uniform clips gives answers without a word on 64 px or ``diffk``
clips, only wrong ones; so every saved model records the parameters of its training stores
(:func:`store_params`, flattened: ``size``, ``sampling``, ..., ``flow.method``) and refuses a
store that differs (:func:`check_params`), naming the store's value and the model's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from merprep.errors import MerprepError
from merprep.store import ClipStore

#: extraction parameters that change what a model sees (recorded by ``merprep extract``)
EXTRACT_KEYS = ("landmarks", "align", "margin", "sampling", "frames", "size", "color", "track")
#: the extract flag that sets each key (for the advice in a refusal)
EXTRACT_FLAGS = {
    "landmarks": "--landmarks",
    "align": "--align",
    "margin": "--margin",
    "sampling": "--sampling",
    "frames": "--frames",
    "size": "--size",
    "color": "--color",
    "track": "--track",
}
#: stage parameters that describe rather than decide the arrays (text, file locations)
DESCRIPTIVE = frozenset(
    {
        "flow_units",
        "strain",
        "onset",
        "spot_score",
        "box",
        "resize",
        "fallback_region",
        "rules_file",
        "sample_rate",
        "amplified_levels",
    }
)


class StoreMismatch(MerprepError):
    """A store preprocessed differently from the stores a model was trained on."""


def store_params(store: ClipStore, stages_read: Iterable[str] = ()) -> dict[str, Any]:
    """The flattened parameters of ``store`` that decide what a model reads from it: the
    extraction's (:data:`EXTRACT_KEYS`; ``None`` where the store does not record one) and, for
    each later stage in ``stages_read`` (e.g. ``flow``), that stage's as ``stage.param``."""
    attrs = store.attrs
    params = attrs.get("params") or {}
    h, w = attrs.get("frame_height"), attrs.get("frame_width")
    out: dict[str, Any] = {
        "landmarks": attrs.get("landmark_backend", params.get("landmarks")),
        "align": params.get("align"),
        "margin": params.get("margin"),
        "sampling": params.get("sampling"),
        "frames": params.get("frames"),
        "size": h if h == w else [h, w],
        "color": attrs.get("color", params.get("color")),
        "track": params.get("track"),
    }
    for stage in sorted(set(stages_read)):
        info = store.stages.get(stage)
        if info is None:
            continue
        for key, value in sorted((info.get("params") or {}).items()):
            if key not in DESCRIPTIVE:
                out[f"{stage}.{key}"] = value
    return _jsonable(out)


def combine(per_store: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameters every training store shares, ``key -> [values]`` where they differ)."""
    keys = sorted({k for p in per_store for k in p})
    common: dict[str, Any] = {}
    varied: dict[str, Any] = {}
    for key in keys:
        values = [p.get(key) for p in per_store]
        distinct = {json.dumps(v, sort_keys=True): v for v in values}
        if len(distinct) == 1:
            common[key] = values[0]
        else:
            varied[key] = [distinct[k] for k in sorted(distinct)]
    return common, varied


def check_params(
    model_params: Mapping[str, Any],
    varied: Mapping[str, Sequence[Any]],
    store: Mapping[str, Any],
    *,
    store_path: Path | str,
    model: str,
) -> None:
    """Refuse ``store`` (its :func:`store_params`) unless it matches the model's training
    stores on every recorded key (a key the training stores did not record is not checked; a
    key where they differed accepts any of their values). The message names every differing
    key with both values and the command that would produce a matching store."""
    problems: list[str] = []
    advice: list[str] = []
    for key, want in sorted(model_params.items()):
        if want is None:
            continue
        have = store.get(key)
        if _same(have, want):
            continue
        problems.append(f"{key} {_show(have)} (the model's training stores: {_show(want)})")
        advice.append(_advice(key, want))
    for key, options in sorted(varied.items()):
        have = store.get(key)
        if not any(_same(have, v) for v in options):
            problems.append(
                f"{key} {_show(have)} (the model's training stores: one of "
                f"{', '.join(_show(v) for v in options)})"
            )
    if problems:
        how = "; ".join(a for a in dict.fromkeys(advice) if a)
        raise StoreMismatch(
            f"preprocessed differently from the clips model {model} was trained on: "
            + "; ".join(problems)
            + (f". Make a matching store: {how}" if how else ""),
            file=store_path,
        )


def _advice(key: str, want: Any) -> str:
    if key in EXTRACT_FLAGS:
        flag = EXTRACT_FLAGS[key]
        if isinstance(want, bool):
            return f"merprep extract {flag if want else '(without ' + flag + ')'}"
        if key == "landmarks":
            want = str(want).split()[0]
        value = "x".join(str(v) for v in want) if isinstance(want, list) else want
        return f"merprep extract {flag} {value}"
    stage, _, param = key.partition(".")
    if param and not isinstance(want, (dict, list)):
        return f"merprep {stage} --{param.replace('_', '-')} {want}"
    return f"merprep {stage} with the training store's settings"


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
