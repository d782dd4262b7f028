"""Importing TensorFlow quietly (``import_tensorflow``), once, before the library first uses it.

TensorFlow 2.19 writes to file descriptor 2 from C++ while it is being imported, even on a
CPU-only machine and whatever ``TF_CPP_MIN_LOG_LEVEL`` says: absl's "All log messages before
absl::InitializeLog() ...", "Unable to register cuDNN/cuBLAS factory" and "computation placer
already registered" (the CUDA plugins of the pip wheel registering twice). During training, the
grappler *remapper* pass logs "remapper failed: INVALID_ARGUMENT: Mutation::Apply error ..." for
some of our graphs (a fused Conv+BiasAdd+LeakyRelu gradient it cannot rewrite) and then gives
up on that graph. Switching it off made no difference beyond this shared 2-core machine's noise
(stcnn-3dcnn and dual3dcnn-gru-ecbam at 64 px, 2 epochs of 48 clips: 1.3-2.6 s either way).

:func:`import_tensorflow` therefore

- points descriptor 2 at ``/dev/null`` while ``import tensorflow`` runs (Python exceptions still
  propagate and are printed after the descriptor is restored; only C++ chatter is dropped), and
- turns the remapper off (``tf.config.optimizer.set_experimental_options({"remapping":
  False})``).

The descriptor is left alone when the user asks for TensorFlow's own logs: environment variable
``MERTRAIN_TF_VERBOSE=1`` (``mertrain -v`` sets it). The remapper is off either way, so verbose
and quiet runs compute the same numbers (its fusions can change the last digits). If importing
TensorFlow crashes the process (a broken CUDA install), rerun with ``MERTRAIN_TF_VERBOSE=1``.
Quiet mode also sets the ``tensorflow`` Python logger to ERROR (its "tf.function retracing"
warnings are expected: each fold's seed retraces).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys

from merprep.quiet import fd2_to_devnull  # the one descriptor-2 silencer

VERBOSE_ENV = "MERTRAIN_TF_VERBOSE"

_configured = False


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def import_tensorflow():
    """``import tensorflow`` (quietly unless verbose) and configure it once; returns the module.

    Safe to call any number of times and from any process (Ray workers call it through
    :class:`mertrain.train.FoldTrainer`). When TensorFlow was already imported elsewhere, only
    the configuration is applied.
    """
    global _configured
    loud = verbose()
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if loud else "3")
        if loud:
            import tensorflow as tf
        else:
            with fd2_to_devnull():
                import keras  # noqa: F401  (keras' import also registers plugins)
                import tensorflow as tf
    import tensorflow as tf

    if not _configured:  # always (not only when quiet): the remapper's fusions change numerics
        _configured = True
        tf.config.optimizer.set_experimental_options({"remapping": False})
        if not loud:  # e.g. "triggered tf.function retracing" (each fold's seed retraces)
            logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return tf


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow/__init__.py`` with descriptor 2 silenced."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        spec = module.__spec__
        spec.loader = module.__loader__ = self._loader  # the real one, for TF's own lookups
        with fd2_to_devnull():
            self._loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        _remove_hook()
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or verbose():
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietFinder)]


def install_quiet_import() -> None:
    """Make the first ``import tensorflow`` of this process quiet, wherever it happens (the
    command line installs this at start, without importing TensorFlow itself). Configuration
    (the remapper) still needs :func:`import_tensorflow`, which the trainer calls."""
    if "tensorflow" in sys.modules or verbose():
        return
    _remove_hook()
    sys.meta_path.insert(0, _QuietFinder())
