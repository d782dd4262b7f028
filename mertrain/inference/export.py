"""``mertrain export``: one trained Keras model as a TensorFlow SavedModel with its
preprocessing inside, TFLite where the converter takes its ops, and a JSON model card.

The SavedModel's ``serving_default`` signature takes each input as stored (uint8 clips
(N, T, H, W, C) at the model's input shape; float32 flow stacks) under the input's name and
returns ``probabilities`` (N, n_classes): the fold's normalisation (onset difference x gain, or
minus the training mean) and the model's prediction rule (softmax, or the 2D-CNN's majority
vote) are in the graph, so plain TensorFlow, without this package, gives the probabilities
``mertrain predict`` gives (to float32 rounding). Resampling a store's clips to the input
shape is not in the graph: give clips at the shape ``model_card.json`` states.

The output folder: ``saved_model/``, ``model.tflite`` (when the ops allow), ``model_card.json``
(classes, inputs and their preprocessing, the training stores' parameters and fingerprints, the
run's identity and results, the evaluation protocol and whether selection was honest), and the
model folder's ``preprocessing.json``. It is built beside ``out`` and renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from merprep.errors import MerprepError
from mertrain import rundir
from mertrain.inference.model import FoldEnsemble, TrainedModel, load_trained
from mertrain.inference.record import PREPROCESSING
from mertrain.metrics import scores
from mertrain.models.stcnn import vote_predict
from mertrain.tfenv import verbose

log = logging.getLogger(__name__)

CARD = "model_card.json"
SAVED_MODEL = "saved_model"
TFLITE = "model.tflite"
SIGNATURE = "serving_default"
OUTPUT = "probabilities"


class ExportError(MerprepError):
    """A model that cannot be exported (scikit-learn, a fold ensemble, ...)."""


def _serving_fn(model: TrainedModel) -> tuple[Any, list[Any], list[Any]]:
    """(fn(*inputs) -> {"probabilities": ...}, the input signature, Keras models to track)."""
    import tensorflow as tf

    from mertrain.backend import keras

    net = model.model()
    names = sorted(model.record.inputs)
    shapes = model.shapes()
    norms = {n: model.record.normaliser(n) for n in names}
    infos = model.record.inputs
    tracked = [net]
    frame_model = None
    if model.spec.predict_fn is vote_predict:
        frame_model = keras.Model(net.inputs, net.get_layer("frame_logits").output)
        tracked.append(frame_model)
    elif model.spec.predict_fn is not None:
        raise ExportError(f"model {model.name} predicts with a rule that has no TensorFlow form")

    def normalise(name: str, x: Any) -> Any:
        if infos[name]["dtype"] != "uint8":
            return tf.cast(x, tf.float32)  # flow stacks arrive normalised
        norm = norms[name]
        xf = tf.cast(x, tf.float32) / 255.0
        if norm.mode == "onset-diff" and len(shapes[name]) == 4:
            return (xf - xf[:, :1]) * tf.constant(norm.gain, tf.float32)
        mean = 0.0 if norm.mean is None else np.asarray(norm.mean, np.float32)
        return xf - tf.constant(mean, tf.float32)

    def fn(*args: Any) -> dict[str, Any]:
        x = {n: normalise(n, a) for n, a in zip(names, args)}
        if frame_model is not None:
            logits = frame_model(x, training=False)  # (N, T, n): vote_predict in graph form
            n = logits.shape[-1]
            votes = tf.reduce_mean(tf.one_hot(tf.argmax(logits, -1), n), axis=1)
            out = votes + 1e-3 * tf.reduce_mean(tf.nn.softmax(logits, -1), axis=1)
            return {OUTPUT: out / tf.reduce_sum(out, axis=1, keepdims=True)}
        logits = tf.cast(net(x, training=False), tf.float32)
        return {OUTPUT: tf.nn.softmax(logits, axis=-1)}

    signature = [
        tf.TensorSpec((None, *shapes[n]), tf.dtypes.as_dtype(infos[n]["dtype"]), name=n)
        for n in names
    ]
    return fn, signature, tracked


def example_inputs(model: TrainedModel, n: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs at the model's shapes (uint8 clips, float32 flow)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in model.shapes().items():
        if model.record.inputs[name]["dtype"] == "uint8":
            out[name] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        else:
            out[name] = rng.normal(0, 1, (n, *shape)).astype(np.float32)
    return out


def _tflite(saved: Path, target: Path, model: TrainedModel) -> dict[str, Any]:
    """Convert with TFLite's built-in ops only and check it against the SavedModel."""
    import tensorflow as tf

    try:
        with _quiet():  # the converter's MLIR diagnostics go to descriptor 2
            blob = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
    except Exception as exc:  # the converter raises its own types for unsupported ops
        return {"written": False, "reason": tflite_reason(str(exc))}
    target.write_bytes(blob)
    x = example_inputs(model)
    want = tf.saved_model.load(str(saved)).signatures[SIGNATURE](
        **{k: tf.constant(v) for k, v in x.items()}
    )[OUTPUT]
    with warnings.catch_warnings(), _quiet():  # tf.lite.Interpreter's deprecation notice
        warnings.simplefilter("ignore")
        runner = tf.lite.Interpreter(model_content=blob).get_signature_runner(SIGNATURE)
        got = runner(**x)[OUTPUT]
    diff = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    return {"written": True, "file": TFLITE, "max_abs_diff_vs_saved_model": diff}


def tflite_reason(text: str) -> str:
    """The converter's error in one line: the ops TFLite's built-in set lacks."""
    select = re.search(r"TF Select ops: ([^\n]+)", text)
    if select:
        return (
            f"ops outside TFLite's built-in set ({select.group(1).strip()}); the SavedModel "
            "has them (a TFLite build with TF Select ops could run them)"
        )
    ops = sorted(set(re.findall(r"'(tf\.\w+)' op", text)))
    if ops:
        return f"ops TFLite cannot lower to its built-in set ({', '.join(ops)}), e.g. a recurrent layer's loop"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return f"TFLite converter: {lines[0][:200] if lines else 'failed'}"


@contextmanager
def _quiet() -> Iterator[None]:
    """Descriptor 2 -> /dev/null (TensorFlow's C++ side writes there), unless verbose."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def model_card(model: TrainedModel, tflite: dict[str, Any] | None) -> dict[str, Any]:
    rec = model.record
    training = rec.training
    run = model.run_dir
    results: dict[str, Any] | None = None
    note = None
    if training["protocol"] == "all":
        note = (
            "a final model trained on every subject (mertrain fit): it has no test clips; "
            "the scores of its recipe come from a run of the same configuration"
        )
    elif run is not None and (run / rundir.RESULTS).is_file():
        pooled = json.loads((run / rundir.RESULTS).read_text(encoding="utf-8"))
        keep = ("uf1", "uar", "acc", "n", "per_dataset", "complete", "folds_done", "folds_total")
        results = {"run": {k: pooled.get(k) for k in keep}}
        fold_file = rundir.fold_path(run, int(training["fold_index"]))
        if fold_file.is_file():
            f = json.loads(fold_file.read_text(encoding="utf-8"))
            pred = [int(np.argmax(p)) for p in f["proba"]]
            results["fold"] = scores(f["y_true"], pred, len(rec.classes))
    inputs = {}
    for name, info in rec.inputs.items():
        norm = rec.normaliser(name)
        how = (
            "float32 flow stack as stored, unchanged"
            if info["dtype"] != "uint8"
            else f"x / 255, minus the onset frame, x {norm.gain:g}"
            if norm.mode == "onset-diff" and info["rank"] == "clip"
            else "x / 255 minus the training clips' mean per channel"
        )
        inputs[name] = {**info, "preprocessing_in_graph": how}
    return {
        "format": "mertrain-model-card",
        "model": rec.name,
        "architecture": rec.architecture,
        "task": rec.task,
        "classes": list(rec.classes),
        "inputs": inputs,
        "store_params": rec.store_params,
        "training_data": training["stores"],
        "run_identity_sha256": training["run_identity_sha256"],
        "evaluation": {
            "protocol": training["protocol"],
            "fold": training["fold"],
            "select": training["select"],
            "honest_selection": training["honest_selection"],
            "results": results,
            **({"note": note} if note else {}),
        },
        "exported": {"saved_model": SAVED_MODEL, "signature": SIGNATURE, "output": OUTPUT},
        "tflite": tflite,
    }


def export(
    model_path: Path | str, out: Path | str, *, fold: int | str | None = None, tflite: bool = True
) -> dict[str, Any]:
    """Export the model at ``model_path`` (a model folder, or a run directory with ``fold``)
    into the new folder ``out``; returns the model card."""
    model = load_trained(model_path, fold)
    if isinstance(model, FoldEnsemble):
        raise ExportError(
            "holds several folds: export one (--fold K) or a mertrain fit model", file=model_path
        )
    if model.record.kind != "keras":
        raise ExportError(
            f"model {model.name} is a scikit-learn model: there is no SavedModel of it "
            "(use mertrain predict, which loads model.pkl)",
            file=model_path,
        )
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError("already exists and is not empty; choose another --out", file=out)
    from mertrain.backend import keras  # quiet TensorFlow first

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        fn, signature, tracked = _serving_fn(model)
        archive = keras.export.ExportArchive()
        for net in tracked:
            archive.track(net)
        archive.add_endpoint(SIGNATURE, fn, input_signature=signature)
        archive.write_out(str(tmp / SAVED_MODEL), verbose=False)
        lite = _tflite(tmp / SAVED_MODEL, tmp / TFLITE, model) if tflite else None
        if lite is not None and not lite["written"]:
            log.warning("no TFLite model: %s", lite["reason"])
        card = model_card(model, lite)
        (tmp / CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        shutil.copyfile(model.folder / PREPROCESSING, tmp / PREPROCESSING)
        os.chmod(tmp, 0o777 & ~_umask())
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return card


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
