"""Augmented training batches as a ``keras.utils.PyDataset``: backend-neutral (TensorFlow, JAX
and PyTorch fit it alike), made in NumPy when Keras asks for them."""

from __future__ import annotations

from typing import Any

import numpy as np

from mertrain.backend import keras


class AugmentedBatches(keras.utils.PyDataset):
    """A fold's augmented training batches (:class:`~mertrain.fold_inputs.AugmentedTraining`)
    for ALL its epochs, item ``i`` being batch ``i % steps`` of epoch ``i // steps`` (fit it with
    ``steps_per_epoch=steps``). Batches depend only on (fold seed, epoch, step), never on when
    Keras asks for them: its epoch hooks run while a backend may already prefetch the next
    epoch, so they cannot count epochs. One worker, no multiprocessing (the NumPy augmentation is
    the whole cost)."""

    def __init__(self, source: Any, batch_size: int, epochs: int):
        super().__init__(workers=1, use_multiprocessing=False)
        self.source, self.batch_size, self.epochs = source, batch_size, epochs
        self.steps = int(source.steps(batch_size))

    def __len__(self) -> int:
        return self.epochs * self.steps

    def __getitem__(self, index: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        epoch, step = divmod(int(index), self.steps)
        x, y = self.source.batch(epoch, step, self.batch_size)
        return {k: v.astype(np.float32, copy=False) for k, v in x.items()}, y.astype(np.int64)
