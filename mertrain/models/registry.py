"""Model registry (timm-style): one decorator registers a builder under a name.

A registered model is described by a :class:`ModelSpec`: what it needs from the clip store
(:class:`InputSpec`), its typed configuration dataclass, the published presets and parameter
counts. Building is lazy: this module and the configuration classes never import TensorFlow,
so ``list_models()`` / ``get_model()`` are cheap; ``build_model()`` imports Keras (or
scikit-learn) on first use.

Contract used by the rest of ``mertrain``::

    spec = get_model("dual3dcnn-gru-ecbam")          # ValueError naming the choices if unknown
    model, cfg = build_model("dual3dcnn-gru-ecbam", n_classes=3, preset="smic", frames=10)
    logits = model({"face": x})                        # Keras models: dict in, logits out
    proba = predict_proba(model, {"face": x}, spec)    # softmax / vote / sklearn, per model
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from merprep.registry import Registry
from merprep.stages import SOURCES
from mertrain.models.inputs import (
    RESAMPLE_KINDS,
    SOURCE_COMMANDS,
    InputSpec,
    ModelConfig,
    _check_fields,
    _check_types,
    split_preset,
)
from mertrain.recipe import Recipe, apply_preset, parse_schedule

__all__ = [
    "MODELS",
    "RESAMPLE_KINDS",
    "SOURCE_COMMANDS",
    "InputSpec",
    "ModelConfig",
    "ModelSpec",
    "build_model",
    "count_params",
    "get_model",
    "list_models",
    "make_config",
    "model_alias",
    "model_names",
    "parse_schedule",
    "predict_proba",
    "register_model",
]


# --------------------------------------------------------------------------- configuration


# --------------------------------------------------------------------------- spec + registry


@dataclass(frozen=True)
class ModelSpec:
    """Everything known about a registered model without building it."""

    name: str
    family: str
    kind: str
    inputs: tuple[InputSpec, ...]
    config_cls: type
    builder: Callable[..., Any] = field(repr=False)
    description: str = ""
    reference: str = ""
    expected_params: dict[str, tuple[int, float]] | None = None
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: small configuration for the test suite (fast forward/backward on a 2-core CPU)
    test_overrides: dict[str, Any] = field(default_factory=dict)
    #: optional ``predict_fn(model, x) -> (B, n_classes) probabilities`` that replaces
    #: ``softmax(model(x))`` at prediction time (the 2D-CNN's majority vote).
    predict_fn: Callable[..., Any] | None = field(default=None, repr=False)
    #: the default training recipe (a preset may change it; see :meth:`recipe_for`)
    recipe: Recipe = field(default_factory=Recipe)

    def _preset(self, preset: str | None) -> Mapping[str, Any]:
        if preset is None:
            return {}
        if preset not in self.presets:
            raise ValueError(
                f"model {self.name!r} has no preset {preset!r}; "
                f"presets: {sorted(self.presets) or 'none'}"
            )
        return self.presets[preset]

    def reading(self, read_from: Mapping[str, str]) -> ModelSpec:
        """This model with some inputs read from another store source of the same kind (e.g.
        the face clip from ``magnified/frames``); the graph is unchanged."""
        if not read_from:
            return self
        names = {i.name: i for i in self.inputs}
        unknown = sorted(set(read_from) - set(names))
        if unknown:
            raise ValueError(
                f"model {self.name!r} has no input {', '.join(unknown)} (inputs: "
                f"{', '.join(names)})"
            )
        inputs = []
        for inp in self.inputs:
            new = read_from.get(inp.name, inp.source)
            if SOURCES[new].dtype != SOURCES[inp.source].dtype:
                raise ValueError(
                    f"input {inp.name!r} reads {inp.source!r} "
                    f"({SOURCES[inp.source].description}); {new!r} "
                    f"({SOURCES[new].description}) is not the same kind"
                )
            inputs.append(dataclasses.replace(inp, source=new))
        return dataclasses.replace(self, inputs=tuple(inputs))

    def make_config(self, preset: str | None = None, **overrides: Any) -> ModelConfig:
        """Architecture: defaults <- preset <- overrides, checked by ``__post_init__``."""
        values, _ = split_preset(self._preset(preset))
        values.update(overrides)
        _check_fields(self.config_cls, values)
        _check_types(self.config_cls, values)
        return self.config_cls(**values)

    def recipe_for(self, preset: str | None = None) -> Recipe:
        """The default recipe with the preset's recipe keys applied."""
        _, recipe = split_preset(self._preset(preset))
        return apply_preset(self.recipe, recipe) if recipe else self.recipe

    def required_inputs(self, config: ModelConfig | None = None) -> tuple[InputSpec, ...]:
        """The InputSpecs the model built from ``config`` reads (all of them by default)."""
        cfg = config if config is not None else self.config_cls()
        return tuple(i for i in self.inputs if cfg.uses_input(i.name))

    def input_shapes(self, config: ModelConfig | None = None) -> dict[str, tuple[int, ...]]:
        """Per-sample input shapes at ``config`` (defaults when None), keyed by input name;
        only the inputs this configuration reads (see :meth:`required_inputs`)."""
        cfg = config if config is not None else self.config_cls()
        out = {}
        for spec in self.required_inputs(cfg):
            out[spec.name] = spec.shape(
                frames=getattr(cfg, "frames", None),
                size=getattr(cfg, "size", None),
                channels=getattr(cfg, "channels", None) if spec.source != "flow" else None,
            )
        return out

    def build(
        self,
        n_classes: int,
        preset: str | None = None,
        config: ModelConfig | None = None,
        seed: int = 0,
        **overrides: Any,
    ):
        """Build the model; returns ``(model, config)``. ``seed`` seeds estimators that draw
        random numbers (Keras models are seeded by the caller's ``keras.utils.set_random_seed``)."""
        if not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
        if config is None:
            cfg = self.make_config(preset, **overrides)
        else:
            if not isinstance(config, self.config_cls):
                raise TypeError(f"config for {self.name!r} must be a {self.config_cls.__name__}")
            cfg = config.replace(**overrides) if overrides else config
        if self.kind == "sklearn":
            return self.builder(cfg, n_classes, seed=seed), cfg
        import keras

        shapes = self.input_shapes(cfg)
        inputs = {k: keras.Input(shape=s, name=k, dtype="float32") for k, s in shapes.items()}
        out = self.builder(cfg, n_classes, inputs)
        model = (
            out
            if isinstance(out, keras.Model)
            else keras.Model(inputs=inputs, outputs=out, name=self.name.replace("-", "_"))
        )
        return model, cfg


#: every registered model, by name (renamed models keep their old name as an alias)
MODELS: Registry[ModelSpec] = Registry("model")


def register_model(
    name: str,
    *,
    inputs: tuple[InputSpec, ...] | list[InputSpec],
    config_cls: type,
    kind: str = "keras",
    description: str = "",
    reference: str = "",
    expected_params: dict[str, tuple[int, float]] | None = None,
    presets: dict[str, dict[str, Any]] | None = None,
    test_overrides: dict[str, Any] | None = None,
    predict_fn: Callable[..., Any] | None = None,
    recipe: Recipe | None = None,
):
    """Decorator registering ``builder`` under ``name``.

    Keras builders are called as ``builder(config, n_classes, inputs)`` with ``inputs`` a dict of
    ``keras.Input`` keyed by the InputSpec names and return the logits tensor (or a complete
    ``keras.Model``). sklearn builders are called as ``builder(config, n_classes, seed=seed)``
    and return an estimator with ``fit(X: dict, y)`` / ``predict_proba(X: dict)``. ``recipe`` is
    the model's default training recipe; flat presets may hold recipe keys beside architecture
    fields (:data:`mertrain.recipe.RECIPE_PRESET_KEYS`).
    """
    if kind not in ("keras", "sklearn"):
        raise ValueError(f"kind must be 'keras' or 'sklearn', got {kind!r}")
    if not (dataclasses.is_dataclass(config_cls) and issubclass(config_cls, ModelConfig)):
        raise TypeError("config_cls must be a ModelConfig dataclass")
    inputs = tuple(inputs)
    names = [i.name for i in inputs]
    if not inputs or len(set(names)) != len(names):
        raise ValueError(f"{name}: inputs must be non-empty with distinct names")
    presets = dict(presets or {})
    defaults = config_cls()
    for spec in inputs:  # the InputSpec defaults must be the configuration's defaults
        for attr in ("frames", "size", "channels"):
            if spec.source == "flow" and attr == "channels":
                continue
            if hasattr(defaults, attr) and getattr(spec, attr) != getattr(defaults, attr):
                raise ValueError(
                    f"{name}: InputSpec {spec.name}.{attr}={getattr(spec, attr)} "
                    f"differs from the config default {getattr(defaults, attr)}"
                )
    recipe = recipe or Recipe()
    for values in presets.values():  # fail at import, not at training time
        arch, recipe_keys = split_preset(values)
        _check_fields(config_cls, arch)
        config_cls(**arch)
        apply_preset(recipe, recipe_keys)
    for pname in expected_params or {}:
        if pname != "default" and pname not in presets:
            raise ValueError(f"{name}: expected_params names unknown preset {pname!r}")

    def deco(builder):
        family = builder.__module__.rsplit(".", 1)[-1]
        MODELS.register(
            name,
            ModelSpec(
                name=name,
                family=family,
                kind=kind,
                inputs=inputs,
                config_cls=config_cls,
                builder=builder,
                description=description,
                reference=reference,
                expected_params=dict(expected_params) if expected_params else None,
                presets=presets,
                test_overrides=dict(test_overrides or {}),
                predict_fn=predict_fn,
                recipe=recipe,
            ),
        )
        return builder

    return deco


def model_alias(old: str, new: str, *, since: str) -> None:
    """Keep a renamed model reachable under its old name (old run directories resume; the user
    is told the new name)."""
    MODELS.alias(old, new, since=since)


def list_models(kind: str | None = None) -> list[ModelSpec]:
    """All registered specs in registration order (optionally only one kind)."""
    return [MODELS.get(n) for n in MODELS.names() if kind is None or MODELS.get(n).kind == kind]


def model_names() -> list[str]:
    return MODELS.names()


def get_model(name: str) -> ModelSpec:
    """The spec registered under ``name`` (or an alias of it); ValueError naming the choices."""
    return MODELS.get(name)


def make_config(name: str, preset: str | None = None, **overrides: Any) -> ModelConfig:
    """The checked configuration ``build_model`` would use, without building anything."""
    return get_model(name).make_config(preset, **overrides)


def build_model(name: str, n_classes: int, preset: str | None = None, **overrides):
    """Build a registered model: ``(keras.Model | sklearn estimator, config)``.

    ``preset`` (e.g. "smic") applies that dataset's reference-script settings; keyword
    ``overrides`` (config fields, e.g. ``frames=10, size=64``) apply on top. ``config=`` may pass
    a ready configuration object instead. Keras models take a dict of float32 inputs keyed by
    the InputSpec names and output logits (no softmax).
    """
    return get_model(name).build(n_classes, preset=preset, **overrides)


def predict_proba(
    model, x: Mapping[str, Any], spec: ModelSpec | str | None = None, batch_size: int = 16
):
    """Class probabilities (N, n_classes) as the model's paper predicts them.

    sklearn estimators: ``model.predict_proba(x)``. Keras models: the spec's ``predict_fn`` when
    it has one (majority vote for ``stcnn-2dcnn-vote``), else softmax of the logits.
    """
    if isinstance(spec, str):
        spec = get_model(spec)
    if hasattr(model, "predict_proba") and not hasattr(model, "layers"):
        return np.asarray(model.predict_proba(x))
    if spec is not None and spec.predict_fn is not None:
        return np.asarray(spec.predict_fn(model, x, batch_size=batch_size))
    logits = np.asarray(model.predict(dict(x), batch_size=batch_size, verbose=0))
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def count_params(model) -> int:
    """Total parameters (trainable + non-trainable) of a built Keras model."""
    return int(model.count_params())


def ceil_div(a: int, b: int) -> int:
    """Length after a 'same'-padded pooling of size/stride ``b``."""
    return math.ceil(a / b)
