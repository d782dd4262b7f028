"""Trained models outside their run directory: load one with its preprocessing, apply it to
clip stores or arrays, ensemble a run's folds.

The stable API (other modules, and the long-video tools, call exactly this)::

    from mertrain.inference import load_trained

    model = load_trained(path)        # a model folder, or a run directory (every saved fold)
    model = load_trained(run, fold=2) # one fold of a run (its index, or its name)
    model.classes                     # tuple[str, ...] in index order
    model.input_spec                  # {input: {"source", "array", "frames", "size", "channels"}}
    model.store_params                # what the training stores were extracted with
    model.describe                    # "fold casme2/sub01 of runs/a" / "mean of 3 folds of runs/a"
    model.check_store(store_path)     # MerprepError naming both values on a mismatch
    model.predict_arrays({"face": uint8 (N, T, H, W, C)}) -> np.ndarray (N, n_classes)
    model.predict_store(store_path, clip_ids=None) -> list[dict]

A model folder holds the model (``model.keras``, or ``model.pkl`` for scikit-learn models) and
``preprocessing.json`` (:mod:`mertrain.inference.record`): the fold's normalisation (the
onset-difference gain, or the training clips' mean for ``--input raw``), the class names, the
task, each input's source array and shape, the store parameters the model was trained on, the
run's identity and its stores' fingerprints, the fold, the seed and whether epoch selection was
honest. ``predict_arrays`` resamples each clip to the model's input shape exactly as training
did (:func:`mertrain.data.fit_clip`), normalises it with the recorded statistics and returns
the probabilities the run would have written. A run directory gives the mean of its folds'
probabilities (or one fold with ``fold=``); ``describe`` says which, and every output of
``mertrain predict`` carries it.

``predict_store`` rows: ``clip_id``, ``dataset``, ``subject``, ``emotion``, ``probabilities``
(list of floats, class order), ``class`` (the predicted class name), ``y_pred`` (its index),
``predicted_by`` (``describe``) and ``seen_in_training`` (how many of the models that predicted
the clip trained on its subject: their probabilities are optimistic for it).
"""

from mertrain.inference.model import (
    FoldEnsemble,
    ModelLoadError,
    TrainedModel,
    load_trained,
)
from mertrain.inference.record import PREPROCESSING, ModelRecord
from mertrain.inference.storeparams import StoreMismatch

__all__ = [
    "PREPROCESSING",
    "FoldEnsemble",
    "ModelLoadError",
    "ModelRecord",
    "StoreMismatch",
    "TrainedModel",
    "load_trained",
]
