"""What a model reads and how it is configured: :class:`InputSpec` (one input and the store
content it comes from) and :class:`ModelConfig` (the base of every architecture configuration,
with the checks every configuration gets: unknown fields, recipe keys in the wrong place, and
values of the wrong type, named)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from merprep.stages import SOURCES
from mertrain.recipe import RECIPE_PRESET_KEYS

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
