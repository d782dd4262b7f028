"""Keras, imported once and quietly: the module the training code takes ``keras`` from.

Importing this module imports Keras (and with the default TensorFlow backend, TensorFlow,
configured by :func:`mertrain.tfenv.import_tensorflow`: C++ start-up noise dropped, the grappler
remapper off). Modules that only describe models or runs never import it, so listing models,
building splits and reading run directories stay fast; the trainer and the Keras callbacks
import it at their top.
"""

from __future__ import annotations

import os

from mertrain.tfenv import import_tensorflow

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if BACKEND == "tensorflow":
    import_tensorflow()

import keras  # noqa: E402  (after TensorFlow's quiet, configured import)

__all__ = ["BACKEND", "keras"]
