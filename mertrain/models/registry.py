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
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from merprep.registry import Registry
from merprep.stages import SOURCES
from mertrain.recipe import RECIPE_PRESET_KEYS, Recipe, apply_preset, parse_schedule

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

#: The merprep command that writes each input source (from merprep's stage table).
SOURCE_COMMANDS: dict[str, str] = {name: src.command for name, src in SOURCES.items()}

_RANKS = ("clip", "image")
#: what may be resampled to fit a store's arrays to an input (time, space, RGB <-> gray)
RESAMPLE_KINDS = ("frames", "pixels", "channels")


@dataclass(frozen=True)
class InputSpec:
    """One model input and the clip-store content it is read from.

    ``name`` is the key of the input dict the Keras model takes; ``source`` names what the store
    must contain ("face" clips from ``merprep extract``, "au" region clips from
    ``merprep crop-au``, "flow" (u, v, strain) stacks from ``merprep flow``). ``rank`` is
    "clip" for (T, H, W, C) and "image" for (H, W, C). ``frames``/``size``/``channels`` are the
    defaults; a model's configuration may override them (see :meth:`ModelSpec.input_shapes`).
    ``resample``: what may be resampled when a store's arrays differ (:data:`RESAMPLE_KINDS`);
    anything else is refused, naming the store's value and the model's.
    """

    name: str
    source: str
    rank: str = "clip"
    frames: int | None = None
    size: int = 128
    channels: int = 3
    resample: tuple[str, ...] = RESAMPLE_KINDS
    #: the ``merprep extract --sampling`` the model is meant for (None: any; ``key``: the 9 key
    #: frames of section C), said by ``mertrain models``
    sampling: str | None = None

    def __post_init__(self):
        if self.source not in SOURCE_COMMANDS:
            raise ValueError(
                f"InputSpec {self.name!r}: unknown source {self.source!r}; "
                f"choose from {sorted(SOURCE_COMMANDS)}"
            )
        if self.rank not in _RANKS:
            raise ValueError(f"InputSpec {self.name!r}: rank must be one of {_RANKS}")
        if self.rank == "clip" and not self.frames:
            raise ValueError(f"InputSpec {self.name!r}: a clip input needs a default frames")
        if self.channels not in (1, 2, 3):
            raise ValueError(f"InputSpec {self.name!r}: channels must be 1, 2 or 3")
        unknown = sorted(set(self.resample) - set(RESAMPLE_KINDS))
        if unknown:
            raise ValueError(
                f"InputSpec {self.name!r}: resample {unknown} unknown; choose from "
                f"{list(RESAMPLE_KINDS)}"
            )
        object.__setattr__(self, "resample", tuple(self.resample))

    def extract_hint(self, frames: int | None = None, size: int | None = None) -> str:
        """The ``merprep extract`` options that store clips as this input reads them."""
        if self.source == "flow":
            return f"merprep extract, then merprep flow --size {size or self.size}"
        parts = ["merprep extract"]
        if self.sampling:
            parts.append(f"--sampling {self.sampling}")
        if self.rank == "clip" and self.sampling != "key":
            parts.append(f"--frames {frames or self.frames}")
        parts.append(f"--size {size or self.size}")
        if self.channels == 1:
            parts.append("--color gray")
        hint = " ".join(parts)
        return hint if self.source == "face" else f"{hint}, then {self.command}"

    @property
    def command(self) -> str:
        """The merprep command that writes this input's source into the store."""
        return SOURCE_COMMANDS[self.source]

    def shape(
        self, frames: int | None = None, size: int | None = None, channels: int | None = None
    ) -> tuple[int, ...]:
        """Per-sample shape (no batch axis): (T, H, W, C) for clips, (H, W, C) for images."""
        s = size or self.size
        c = channels or self.channels
        if self.rank == "image":
            return (s, s, c)
        t = frames or self.frames
        assert t is not None  # checked in __post_init__: a clip input has default frames
        return (t, s, s, c)


# --------------------------------------------------------------------------- configuration


@dataclass
class ModelConfig:
    """Base of every model's architecture configuration (the graph only).

    How a model is trained (epochs, batch size, learning rate, schedule, loss) is its
    :class:`~mertrain.recipe.Recipe`, registered beside the configuration (``register_model(...,
    recipe=...)``) and changed per run through the run's recipe section. Model families subclass
    this with their fields and their own cross-field checks in ``__post_init__``.
    """

    def __post_init__(self) -> None:
        pass

    def uses_input(self, name: str) -> bool:
        """Whether the model built from this configuration reads input ``name`` (an ablation
        may drop one, e.g. section B with ``au_branch=False`` needs no AU clips)."""
        return True

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with some fields changed (checks run again)."""
        _check_fields(type(self), overrides)
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_fields(cls: type, overrides: Mapping[str, Any]) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    recipe = sorted(set(overrides) & set(RECIPE_PRESET_KEYS))
    if recipe:
        raise ValueError(
            f"{cls.__name__}: {', '.join(recipe)} belong to the training recipe, "
            "not the architecture (set them on the run's recipe, e.g. "
            "RecipeRequest(epochs=...) / mertrain run --epochs)"
        )
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown option(s) {unknown}; valid options: {sorted(names)}"
        )


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the annotated type ``hint`` (the simple types configurations
    use: bool, int, float, str, None, tuples and lists of those, unions, Literal)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        if origin is tuple and args:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        return all(_matches(v, args[0]) for v in value) if args else True
    return True  # anything richer is left to the configuration's own checks


def _check_types(cls: type, values: Mapping[str, Any]) -> None:
    """Refuse a value of the wrong type by name (``--set gru_units=abc`` or ``=64.5``), before
    it reaches Keras as a TypeError, or a build error after the run directory exists."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        hint = hints.get(name)
        if hint is not None and not _matches(value, hint):
            shown = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            raise ValueError(f"{name} must be {shown}, got {value!r}")


def split_preset(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A flat preset as (architecture fields, recipe keys)."""
    arch = {k: v for k, v in values.items() if k not in RECIPE_PRESET_KEYS}
    recipe = {k: v for k, v in values.items() if k in RECIPE_PRESET_KEYS}
    return arch, recipe


def _choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} {value!r}: choose from {list(choices)}")


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

    ``preset`` (e.g. "smic") applies the paper's settings for that dataset; keyword
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
