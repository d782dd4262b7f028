"""Writing a trained model: atomically, and without crashing on a full disk.

A saved model is a folder (``RUN_DIR/weights/NNN/`` for fold NNN, or the folder of
``mertrain fit``): the model file (``model.keras``; ``model.pkl`` for scikit-learn models) and
``preprocessing.json`` (:mod:`mertrain.inference.record`), written in that order, each
atomically. The record is removed before a new model file replaces an old one, so a folder
holding a record is always a complete, matching pair.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from merprep.errors import MerprepError
from merprep.fsio import atomic_write, atomic_write_with
from mertrain.folds import fold_file_stem
from mertrain.inference.record import MODEL_FILES, PREPROCESSING

WEIGHTS = "weights"


class WeightsError(MerprepError):
    """Weights could not be written (disk full, permissions): the run stops."""


def save_keras_model(model: Any) -> Callable[[Path], None]:
    """A ``save(path)`` that writes the whole model (architecture + weights) as ``.keras``.

    Keras builds a ``.keras`` archive's HDF5 weights in memory and writes the archive with
    Python's zipfile, so a full disk is a plain OSError. (``save_weights`` writes HDF5 straight
    to disk; when that fails part-way HDF5 keeps the half-written file open and crashes the
    interpreter at exit.) Reload with :func:`mertrain.models.load_model`.
    """

    def save(tmp: Path) -> None:
        from mertrain.backend import keras

        # An uncompiled view of the same layers: the fold's loss is a closure over the fold's
        # statistics, which Keras could save but not load back.
        keras.Model(inputs=model.inputs, outputs=model.outputs, name=model.name).save(str(tmp))

    return save


def model_folder(out: Path | str, index: int, *, final: bool = False) -> Path:
    """Where fold ``index``'s model is saved: ``out/weights/NNN``; a final model (``mertrain
    fit``) is saved in ``out`` itself."""
    return Path(out) if final else Path(out) / WEIGHTS / fold_file_stem(index)


def write_model_folder(
    folder: Path, kind: str, save: Callable[[Path], object], record: Mapping[str, Any]
) -> Path:
    """Write a model folder: the model file of ``kind`` (``save(tmp)`` writes it), then its
    ``preprocessing.json`` ``record`` (see the module docstring). :class:`WeightsError` naming
    the file when either cannot be written; a folder left empty is removed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PREPROCESSING).unlink(missing_ok=True)
    try:
        write_weights(folder / MODEL_FILES[kind], save)
        try:
            atomic_write(folder / PREPROCESSING, json.dumps(record, indent=2) + "\n", durable=True)
        except OSError as exc:
            raise WeightsError(
                f"cannot write the model's preprocessing record ({_os_reason(exc)}); the "
                "folds finished before are kept: free space and rerun with --resume",
                file=folder / PREPROCESSING,
            ) from None
    except WeightsError:
        if not any(folder.iterdir()):
            folder.rmdir()
        raise
    return folder


def write_weights(path: Path, save: Callable[[Path], object]) -> Path:
    """Write a fold's weights atomically (:func:`merprep.fsio.atomic_write_with`, durable). A
    failure (disk full, ...) leaves no partial file behind and raises :class:`WeightsError`
    naming ``path``; fold records already written are untouched."""
    path = Path(path)
    try:
        return atomic_write_with(
            path, save, durable=True, prefix=f".{path.stem}.partial-", suffix="".join(path.suffixes)
        )
    except OSError as exc:
        reason = _os_reason(exc)
        _drop_traceback_quietly(exc)
        raise WeightsError(
            f"cannot write the fold's weights ({reason}); the folds finished "
            "before are kept: free space and rerun with --resume",
            file=path,
        ) from None


def _os_reason(exc: OSError) -> str:
    """``No space left on device`` rather than HDF5's multi-line report around errno 28."""
    code = exc.errno
    if code is None:
        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    if code is not None:
        return os.strerror(code)
    return str(exc).splitlines()[0][:200]


def _drop_traceback_quietly(exc: BaseException | None) -> None:
    """Free the frames of a failed HDF5 write now, ignoring what h5py's deallocators report
    (a file that cannot flush on a full disk; the partial file is deleted anyway)."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        while exc is not None:
            exc.__traceback__ = None
            exc = exc.__context__
        gc.collect()
    finally:
        sys.unraisablehook = hook
