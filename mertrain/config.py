"""A run's configuration, nested as TensorFlow Model Garden's ``ExperimentConfig`` is:

- :class:`ModelSection`: which registered model, which preset, and architecture changes;
- :class:`DataSection`: the stores, the protocol and task, the input normalisation;
- :class:`RecipeSection`: changes to the model's training recipe (epochs, learning rate,
  schedule, loss; resolved once against the model's own recipe by
  :func:`mertrain.recipe.resolve_recipe`), augmentation, epoch selection and the seed;
- :class:`RuntimeSection`: numerics (precision, XLA, deterministic kernels, Keras backend);
- :class:`ExecutionSection`: where and how the folds run. It never changes a prediction, so a
  run's identity (what ``--resume`` and ``mertrain report --merge`` compare) is everything else.

``RUN_DIR/config.json`` holds this configuration (``config``) and the resolved model
configuration and recipe; :meth:`RunConfig.from_record` reads it back (both its own layout and
the flat layout of the first release, ``run``), so ``mertrain run --config RUN/config.json``
repeats a run exactly. :meth:`RunConfig.from_options` builds one from flat option names (those
of ``mertrain run``'s flags and of the first release's flat ``run`` record).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from merprep.errors import MerprepError
from merprep.stages import SOURCES
from mertrain.augment import AugmentConfig
from mertrain.protocols import PROTOCOLS, get_task
from mertrain.protocols.megc2019 import TASK as MEGC2019_TASK
from mertrain.recipe import RecipeError, RecipeRequest, parse_schedule

#: epoch-selection modes and how each is written in every output; the oracles peek at test data
#: and say so everywhere (oracle-per-subject: the references' protocol, mertrain.published)
SELECT_LABELS = {
    "last": "last",
    "inner-val": "inner-val",
    "oracle": "oracle (optimistic)",
    "oracle-per-subject": "oracle-per-subject (optimistic)",
}
SELECT_MODES = tuple(SELECT_LABELS)
#: the modes that choose on the test fold (never honest; kept for comparison with papers)
OPTIMISTIC_SELECTS = ("oracle", "oracle-per-subject")
#: ``precision``: float32; mixed = Keras "mixed_float16" on a GPU (float32 on CPU, with a
#: warning: TensorFlow has no float16 CPU kernels for 3-D pooling); bf16 = "mixed_bfloat16"
PRECISIONS = ("float32", "mixed", "bf16")
INPUT_MODES = ("onset-diff", "raw")
CONFIG_VERSION = 2


class RunError(MerprepError, ValueError):
    """A run that cannot start (bad configuration, or a protocol/task/store/run-directory
    combination that cannot work); a ValueError too, as configuration errors are."""


def _fail(section: str, name: str, message: str) -> RunError:
    return RunError(f"{section}.{name}: {message}")


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class ModelSection:
    name: str = "dual3dcnn-gru-ecbam"
    preset: str | None = None
    #: frames per clip and input size the model sees (None: the model's or preset's)
    frames: int | None = None
    size: int | None = None
    #: any other architecture field (``mertrain run --set KEY=VALUE``)
    options: Mapping[str, Any] = field(default_factory=dict)
    #: an input read from another store source of the same kind (``--read face=magnified``:
    #: the face clips motion-magnified by ``merprep magnify``)
    read_from: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", dict(self.options))
        object.__setattr__(self, "read_from", dict(self.read_from))
        for name, source in self.read_from.items():
            if source not in SOURCES:
                raise _fail(
                    "model",
                    "read_from",
                    f"{name}={source}: unknown source; choose one of {', '.join(SOURCES)}",
                )
        for name in ("frames", "size"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise _fail("model", name, f"expected a whole number >= 1, got {value!r}")

    def architecture_overrides(self) -> dict[str, Any]:
        over = dict(self.options)
        for name in ("frames", "size"):
            if getattr(self, name) is not None:
                over[name] = getattr(self, name)
        return over


@dataclass(frozen=True)
class DataSection:
    stores: tuple[str, ...] = ()
    protocol: str = "loso"
    task: str = "3class"
    test_subjects: tuple[str, ...] = ()  # holdout
    k: int | None = None  # kfold
    splits_file: str | None = None  # reuse a saved split (validated against the stores)
    input: str = "onset-diff"
    input_gain: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "stores", tuple(str(s) for s in _tuple(self.stores)))
        object.__setattr__(self, "test_subjects", tuple(str(s) for s in _tuple(self.test_subjects)))
        if not self.stores:
            raise _fail("data", "stores", "give at least one clip store")
        if self.protocol not in PROTOCOLS:
            raise _fail(
                "data",
                "protocol",
                f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}",
            )
        try:
            get_task(self.task)
        except ValueError as exc:
            raise _fail("data", "task", str(exc)) from None
        if self.input not in INPUT_MODES:
            raise _fail(
                "data",
                "input",
                f"unknown input mode {self.input!r}; choose one of {', '.join(INPUT_MODES)}",
            )
        if not (math.isfinite(self.input_gain) and self.input_gain > 0):
            raise _fail("data", "input_gain", f"must be a number > 0, got {self.input_gain!r}")
        if self.protocol == "megc2019" and self.task != MEGC2019_TASK:
            raise _fail("data", "task", f"protocol megc2019 is 3-class; use task {MEGC2019_TASK}")
        if self.test_subjects and self.protocol != "holdout":
            raise _fail("data", "test_subjects", "apply to protocol holdout only")
        if self.protocol == "holdout" and not (self.test_subjects or self.splits_file):
            raise _fail("data", "test_subjects", "protocol holdout needs test subjects")
        if self.k is not None and self.protocol != "kfold":
            raise _fail("data", "k", "applies to protocol kfold only")
        if self.protocol == "kfold" and not self.splits_file and (self.k is None or self.k < 2):
            raise _fail("data", "k", "protocol kfold needs k of at least 2")


@dataclass(frozen=True)
class RecipeSection(RecipeRequest):
    """:class:`~mertrain.recipe.RecipeRequest` (changes to the model's recipe) plus how the
    training clips are augmented, how the epoch is chosen, and the run seed."""

    #: training-clip augmentation: None, or every AugmentConfig field (see mertrain.augment);
    #: "default" is accepted and resolved to AugmentConfig()'s fields
    augment: Mapping[str, Any] | None = None
    select: str = "last"
    val_fraction: float = 0.2
    seed: int = 0
    #: the named recipe the run started from (mertrain.recipes); a record only: its values are
    named_recipe: str | None = None  # the fields of the sections

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except RecipeError as exc:
            raise RunError(f"recipe: {exc}") from None
        object.__setattr__(self, "augment", resolve_augment(self.augment))
        if self.select not in SELECT_MODES:
            raise _fail(
                "recipe",
                "select",
                f"unknown mode {self.select!r}; choose one of {', '.join(SELECT_MODES)}",
            )
        if not 0 < self.val_fraction < 1:
            raise _fail("recipe", "val_fraction", f"must be in (0, 1), got {self.val_fraction}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise _fail("recipe", "seed", f"must be a whole number >= 0, got {self.seed!r}")

    @property
    def optimistic(self) -> bool:
        """Whether the epoch is chosen on the test fold (an oracle mode)."""
        return self.select in OPTIMISTIC_SELECTS

    @property
    def select_label(self) -> str:
        return SELECT_LABELS[self.select]

    def request(self) -> RecipeRequest:
        """Only the changes to the model's recipe."""
        names = [f.name for f in dataclasses.fields(RecipeRequest)]
        return RecipeRequest(**{n: getattr(self, n) for n in names})


@dataclass(frozen=True)
class RuntimeSection:
    precision: str = "float32"
    jit: bool | None = None  # XLA jit_compile; None = Keras' "auto" (on with a GPU, off on CPU)
    deterministic: bool = True
    #: the Keras backend the run trains with (``KERAS_BACKEND``; recorded, part of the identity)
    backend: str = field(default_factory=lambda: os.environ.get("KERAS_BACKEND", "tensorflow"))

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise _fail(
                "runtime",
                "precision",
                f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}",
            )
        if self.jit and self.deterministic:
            raise _fail(
                "runtime",
                "jit",
                "XLA compilation needs deterministic=False: Keras "
                "does not XLA-compile while TensorFlow's op determinism is on",
            )


EXECUTORS = ("local", "ray", "packed")


@dataclass(frozen=True)
class ExecutionSection:
    out: str = "runs/run"
    folds: str | None = None  # a subset like "0-9,12" (SLURM arrays)
    resume: bool = False
    executor: str = "local"
    ray_address: str | None = None
    reuse_model: bool = True
    tensorboard: bool = False
    save_weights: bool = False
    #: repeat the run with this many seeds (recipe.seed, +1, ...), one directory each under out
    #: (mertrain.seeds); every repeat is an ordinary run with seeds 1
    seeds: int = 1
    #: progress bars (folds, and epochs inside each fold); None: only on a terminal
    progress: bool | None = None
    #: executor packed: folds trained at once (None: as many as fit in the free GPU memory)
    pack: int | None = None
    #: executor ray: GPUs each fold asks for (0.125: eight folds per GPU; None: one)
    gpus_per_fold: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", str(self.out))
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise _fail("execution", "seeds", f"must be a whole number >= 1, got {self.seeds!r}")
        if self.executor not in EXECUTORS:
            raise _fail(
                "execution",
                "executor",
                f"unknown executor {self.executor!r}; choose one of {', '.join(EXECUTORS)}",
            )
        if self.ray_address and self.executor != "ray":
            raise _fail("execution", "ray_address", "needs executor ray")
        if self.pack is not None and (self.executor != "packed" or self.pack < 1):
            raise _fail("execution", "pack", "a number >= 1 of folds, with executor packed")
        if self.gpus_per_fold is not None and (
            self.executor != "ray" or not 0 < self.gpus_per_fold <= 8
        ):
            raise _fail("execution", "gpus_per_fold", "in (0, 8], with executor ray")


SECTIONS = {
    "model": ModelSection,
    "data": DataSection,
    "recipe": RecipeSection,
    "runtime": RuntimeSection,
    "execution": ExecutionSection,
}
#: flat option name -> (section, field) where they differ from the field name
_RENAMED = {
    "model": ("model", "name"),
    "model_options": ("model", "options"),
    "lr_schedule": ("recipe", "schedule"),
    "logit_adjust_tau": ("recipe", "tau"),
}


def _flat_names() -> dict[str, tuple[str, str]]:
    names: dict[str, tuple[str, str]] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            names.setdefault(f.name, (section, f.name))
    names.update(_RENAMED)
    names["frames"], names["size"] = ("model", "frames"), ("model", "size")
    return names


FLAT_OPTIONS = _flat_names()


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rerun; see the module docstring."""

    model: ModelSection
    data: DataSection
    recipe: RecipeSection = field(default_factory=RecipeSection)
    runtime: RuntimeSection = field(default_factory=RuntimeSection)
    execution: ExecutionSection = field(default_factory=ExecutionSection)

    @classmethod
    def from_options(cls, **options: Any) -> RunConfig:
        """From flat names (``stores``, ``out``, ``model``, ``epochs``, ``lr_schedule``, ...)."""
        grouped: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        unknown = sorted(set(options) - set(FLAT_OPTIONS))
        if unknown:
            raise RunError(f"unknown run option(s) {unknown}; valid: {sorted(FLAT_OPTIONS)}")
        for key, value in options.items():
            section, name = FLAT_OPTIONS[key]
            grouped[section][name] = value
        try:
            return cls(**{name: SECTIONS[name](**values) for name, values in grouped.items()})
        except TypeError as exc:
            raise RunError(f"run options: {exc}") from None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        """The nested ``config`` of a config.json (sections as mappings)."""
        unknown = sorted(set(d) - set(SECTIONS))
        if unknown:
            raise RunError(
                f"unknown configuration section(s) {unknown}; sections: {list(SECTIONS)}"
            )
        try:
            return cls(**{name: SECTIONS[name](**dict(d.get(name) or {})) for name in SECTIONS})
        except TypeError as exc:
            raise RunError(f"configuration: {exc}") from None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RunConfig:
        """From a run directory's config.json: this layout (``config``) or the first
        release's flat ``run`` (its option names are :meth:`from_options`')."""
        if "config" in record:
            return cls.from_dict(record["config"])
        if "run" in record:
            flat = {k: v for k, v in record["run"].items() if k in FLAT_OPTIONS}
            flat.setdefault("backend", "tensorflow")  # the first release trained with TF only
            return cls.from_options(**flat)
        raise RunError("not a run configuration (neither 'config' nor 'run')")

    def replace(self, **sections: Any) -> RunConfig:
        return dataclasses.replace(self, **sections)

    def with_options(self, **options: Any) -> RunConfig:
        """A copy with some flat options changed (explicit flags over a recorded config)."""
        d = self.to_dict()
        for key, value in options.items():
            if key not in FLAT_OPTIONS:
                raise RunError(f"unknown run option {key!r}")
            section, name = FLAT_OPTIONS[key]
            d[section][name] = value
        return RunConfig.from_dict(d)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name in SECTIONS:
            section = dataclasses.asdict(getattr(self, name))
            out[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in section.items()}
        schedule = self.recipe.schedule
        out["recipe"]["schedule"] = None if schedule is None else schedule.spec
        out["execution"].pop("progress")  # how one session displayed it, not part of the run
        return out

    def identity_sections(self) -> dict[str, Any]:
        """Everything but execution and the paths whose content is identified elsewhere
        (stores by fingerprint, a splits file by the split's sha256)."""
        d = self.to_dict()
        d.pop("execution")
        d["data"] = {k: v for k, v in d["data"].items() if k not in ("stores", "splits_file")}
        return d

    # -- shorthands the rest of mertrain reads -------------------------------------------------
    @property
    def stores(self) -> list[str]:
        return list(self.data.stores)

    @property
    def out(self) -> str:
        return self.execution.out

    @property
    def select_label(self) -> str:
        return self.recipe.select_label


#: ``--augment default``'s shifts (15 px) are meant for 128 px frames (docs/references.md#model-c)
DEFAULT_AUGMENT_SIZE = 128


def resolve_augment(value: Any) -> dict[str, Any] | None:
    """``None``/"none" -> None; "default" -> AugmentConfig()'s fields; a mapping -> every field
    of the AugmentConfig it describes (checked), so the run's identity names every parameter."""
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, str) and value.lower() == "default":
        value = {"size_reference": DEFAULT_AUGMENT_SIZE}  # shifts follow the input size
    if not isinstance(value, Mapping):
        raise RunError(
            f"recipe.augment: expected none, default or a mapping of AugmentConfig "
            f"fields, got {value!r}"
        )
    names = [f.name for f in dataclasses.fields(AugmentConfig)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise RunError(f"recipe.augment: unknown field(s) {unknown}; AugmentConfig fields: {names}")
    try:
        return dataclasses.asdict(AugmentConfig(**value))
    except (TypeError, ValueError) as exc:
        raise RunError(f"recipe.augment: {exc}") from None


def schedule_text(value: Any) -> str | None:
    """A schedule as the text a user types (``step:0.9:40``)."""
    return None if value is None else parse_schedule(value).spec
