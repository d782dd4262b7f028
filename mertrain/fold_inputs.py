"""A fold's inputs: its rows split, normalised with statistics of its training rows only, and
(with augmentation) its training batches made afresh every epoch, reproducibly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mertrain.augment import AugmentConfig, apply_params, sample_params
from mertrain.data import ClipArrays, Normaliser
from mertrain.folds import FoldContext, FoldJob
from mertrain.models.registry import ModelConfig, ModelSpec, get_model


@dataclass
class FoldInputs:
    """A fold's model inputs, normalised with statistics of its training rows.

    With augmentation, ``augmented`` produces the training batches (new random transforms every
    epoch) and ``x_train`` is empty; validation and test inputs are never augmented."""

    x_train: dict[str, np.ndarray]
    y_train: np.ndarray
    x_val: dict[str, np.ndarray]
    y_val: np.ndarray
    x_test: dict[str, np.ndarray]
    y_test: np.ndarray
    augmented: AugmentedTraining | None = None
    #: the normalisation fitted on the training rows (saved with the fold's model)
    norms: dict[str, Normaliser] = field(default_factory=dict)
    #: the protocol's training side: subjects of the rows fitted and the inner-validation rows
    train_subjects: tuple[str, ...] = ()


@dataclass
class AugmentedTraining:
    """Training batches augmented afresh every epoch, reproducibly.

    Epoch ``e`` visits the training clips in the order ``default_rng([seed, e]).permutation``;
    batch ``b`` of epoch ``e`` draws its transforms from ``default_rng([seed, e, b])`` (one draw
    of :func:`mertrain.augment.sample_params` shared by every augmented input of a clip, e.g.
    face and AU clips) and its pixel noise from ``default_rng([seed, e, b, i + 1])`` for the
    i-th input. A batch therefore depends only on (fold seed, epoch, batch index): not on the
    thread or the order TensorFlow asks for it. Clips are augmented as read (uint8, so
    brightness and noise are fractions of 255), then normalised with the fold's training
    statistics (fitted on the unaugmented training clips). Inputs not in ``augmented`` (flow
    stacks) pass through unaugmented.
    """

    raw: dict[str, np.ndarray]  # the fold's training rows as read from the stores
    labels: np.ndarray
    norms: dict[str, Normaliser]
    config: AugmentConfig
    seed: int
    augmented: tuple[str, ...]
    _order: tuple[int, np.ndarray] | None = field(default=None, init=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.labels)

    def steps(self, batch_size: int) -> int:
        return max(1, math.ceil(self.n / batch_size))

    def rows(self, epoch: int, step: int, batch_size: int) -> np.ndarray:
        """Row indices (into ``raw``) of batch ``step`` of ``epoch``."""
        cached = self._order
        if cached is None or cached[0] != epoch:
            cached = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
            self._order = cached
        return cached[1][step * batch_size : (step + 1) * batch_size]

    def batch(
        self, epoch: int, step: int, batch_size: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rows = self.rows(epoch, step, batch_size)
        params = sample_params(
            len(rows), np.random.default_rng([self.seed, epoch, step]), self.config
        )
        x = {}
        for i, name in enumerate(sorted(self.raw)):
            clips = self.raw[name][rows]
            if name in self.augmented:
                noise_rng = np.random.default_rng([self.seed, epoch, step, i + 1])
                clips = apply_params(clips, params, noise_rng, self.config)
            x[name] = self.norms[name](clips)
        return x, self.labels[rows]

    def dataset(self, epochs: int, batch_size: int) -> Any:
        """The batches of all ``epochs`` as a ``keras.utils.PyDataset`` (backend-neutral:
        TensorFlow, JAX and PyTorch fit it alike; fit it with ``steps_per_epoch=steps(...)``)."""
        from mertrain.batches import AugmentedBatches  # heavy: Keras

        return AugmentedBatches(self, batch_size, epochs)


def augmentable_inputs(spec: ModelSpec, config: ModelConfig) -> tuple[str, ...]:
    """The model inputs augmentation may touch: clips (face, AU regions), never flow stacks (a
    flip negates u, a rotation turns the (u, v) vectors; see mertrain.augment)."""
    return tuple(
        i.name for i in spec.required_inputs(config) if i.source != "flow" and i.rank == "clip"
    )


def fold_inputs(ctx: FoldContext, data: ClipArrays, job: FoldJob) -> FoldInputs:
    """The fold's data pipeline: split rows, fit normalisation on the training rows only, apply
    it everywhere; with ``ctx.augment``, training batches are augmented per epoch (training rows
    only, after the split and the inner-validation draw; :class:`AugmentedTraining`)."""
    x_train = data.take(job.train)
    norms = {k: Normaliser(ctx.data.input, ctx.data.input_gain).fit(v) for k, v in x_train.items()}

    def norm(x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: norms[k](v) for k, v in x.items()}

    y_train = data.labels[job.train]
    augmented = None
    if ctx.training.augment is not None:
        spec = get_model(ctx.model)
        names = augmentable_inputs(spec, ctx.model_config)
        width = min(int(x_train[n].shape[-2]) for n in names)  # (N, T, H, W, C) clips
        augmented = AugmentedTraining(
            x_train,
            y_train,
            norms,
            AugmentConfig(**ctx.training.augment).for_width(width),
            job.seed,
            names,
        )
        train_x: dict[str, np.ndarray] = {}
    else:
        train_x = norm(x_train)
    return FoldInputs(
        train_x,
        y_train,
        norm(data.take(job.val)),
        data.labels[job.val],
        norm(data.take(job.test)),
        data.labels[job.test],
        augmented,
        norms,
        tuple(sorted({data.subjects[i] for i in (*job.train, *job.val)})),
    )
