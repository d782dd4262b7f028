"""``RUN_DIR/config.json`` as a type: the run's configuration, what it resolved to, the stores
it read, and its identity.

The identity is what decides predictions: the model (canonical name), its architecture, the
resolved recipe, the data and training settings, the numerics, and the content of the stores
(fingerprints, and the fingerprints of the later stages whose arrays the model reads). It is
computed the same way for this layout and for the first release's (:mod:`mertrain.legacy`),
so an old directory resumes when, and only when, it holds the same run in effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from merprep.jsonutil import jsonable, sha256_json
from mertrain.config import CONFIG_VERSION, RunConfig
from mertrain.legacy import v1_architecture, v1_recipe
from mertrain.models.registry import MODELS
from mertrain.recipe import Recipe

FORMAT = "mertrain-run"


def canonical_model_name(name: str) -> str:
    """A model's current name (a renamed model's old name resolves); unknown names stay."""
    try:
        return MODELS.canonical(name)
    except ValueError:
        return name


def run_identity(
    config: RunConfig,
    model: str,
    architecture: Mapping[str, Any],
    recipe: Recipe,
    stores: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The identity of a run (see the module docstring)."""
    data, training, runtime = config.data, config.recipe, config.runtime
    return jsonable(
        {
            "model": canonical_model_name(model),
            "architecture": dict(architecture),
            "recipe": recipe.to_dict(),
            "data": {
                "protocol": data.protocol,
                "task": data.task,
                "test_subjects": list(data.test_subjects),
                "k": data.k,
                "input": data.input,
                "input_gain": data.input_gain,
            },
            "training": {
                "augment": training.augment,
                "select": training.select,
                "val_fraction": training.val_fraction,
                "seed": training.seed,
            },
            "runtime": {
                "precision": runtime.precision,
                "jit": runtime.jit,
                "deterministic": runtime.deterministic,
                "backend": runtime.backend,
            },
            **({"read_from": dict(config.model.read_from)} if config.model.read_from else {}),
            "stores": sorted(s["fingerprint"] for s in stores),
            "store_stages": sorted(
                f"{name}:{info['fingerprint']}"
                for s in stores
                for name, info in (s.get("stages_read") or {}).items()
            ),
        }
    )


@dataclass
class RunRecord:
    """config.json, typed (both layouts)."""

    config: RunConfig
    model: str
    architecture: dict[str, Any]
    recipe: Recipe
    stores: list[dict[str, Any]]
    #: the recipe in words, as printed at the start of a run
    description: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    version: int = CONFIG_VERSION
    #: the file as read (a first-release record is kept and rewritten verbatim)
    raw: dict[str, Any] | None = None

    @property
    def identity(self) -> dict[str, Any]:
        return run_identity(self.config, self.model, self.architecture, self.recipe, self.stores)

    @property
    def identity_sha256(self) -> str:
        return sha256_json(self.identity)

    # -- what readers ask for ------------------------------------------------------------------
    @property
    def select(self) -> str:
        return self.config.recipe.select

    @property
    def seed(self) -> int:
        return self.config.recipe.seed

    def to_json(self) -> dict[str, Any]:
        if self.raw is not None and self.version != CONFIG_VERSION:
            return self.raw
        return {
            "format": FORMAT,
            "config_version": CONFIG_VERSION,
            "config": self.config.to_dict(),
            "model": self.model,
            "model_config": jsonable(self.architecture),
            "recipe": self.recipe.to_dict(),
            "recipe_description": jsonable(self.description),
            "stores": jsonable(self.stores),
            "command": self.command,
            "versions": self.versions,
            "identity": self.identity,
            "identity_sha256": self.identity_sha256,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunRecord:
        config = RunConfig.from_record(d)
        if "config" in d:
            return cls(
                config,
                str(d["model"]),
                dict(d["model_config"]),
                Recipe.from_dict(d["recipe"]),
                [dict(s) for s in d.get("stores", [])],
                dict(d.get("recipe_description") or {}),
                d.get("command"),
                dict(d.get("versions") or {}),
                int(d.get("config_version", 2)),
                dict(d),
            )
        model_config = d["model_config"]  # the first release
        # it also balanced weighted_ce without weights (then model_config says "ce" and the
        # description's class weights are the counting rule, a string)
        described = (d.get("recipe") or {}).get("class_weights")
        balance = config.recipe.balance or isinstance(described, str)
        return cls(
            config,
            config.model.name,
            v1_architecture(model_config),
            v1_recipe(model_config, balance),
            [dict(s) for s in d.get("stores", [])],
            dict(d.get("recipe") or {}),
            d.get("command"),
            dict(d.get("versions") or {}),
            1,
            dict(d),
        )
