"""A named whole-run recipe as data: every setting with the reference file and line it copies.

A :class:`NamedRecipe` names one model and the settings of one reference script. Settings are
in the vocabulary of the recipe table in docs/models.md:

- run options applied by ``mertrain run --recipe`` (an explicit flag overrides each one):
  ``preset``, ``input``, ``protocol``, ``task``, ``frames``, ``size``, ``epochs``,
  ``batch_size``, ``lr``, ``schedule``, ``loss``, ``class_weights``, ``augment`` (a mapping of
  :class:`mertrain.augment.AugmentConfig` fields, or None);
- ``model.FIELD``: an architecture value the recipe's preset sets (checked, not applied
  again, so ``--set`` changes one field without dropping the others);
- ``store``: what the clip store must hold (the frames the reference feeds; merprep's job).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: setting -> the flat run option (:meth:`mertrain.config.RunConfig.from_options`) it becomes
RUN_OPTIONS = {
    "preset": "preset",
    "input": "input",
    "protocol": "protocol",
    "task": "task",
    "frames": "frames",
    "size": "size",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "schedule": "lr_schedule",
    "loss": "loss",
    "class_weights": "class_weights",
    "augment": "augment",
}
NOT_APPLIED = ("store",)


@dataclass(frozen=True)
class Setting:
    """One value of a recipe and where the reference sets it (file:line and the code)."""

    name: str
    value: Any
    source: str

    def __post_init__(self) -> None:
        known = self.name in RUN_OPTIONS or self.name in NOT_APPLIED
        if not known and not self.name.startswith("model."):
            raise ValueError(f"recipe setting {self.name!r}: not a recipe setting")
        if not self.source or "|" in self.source:
            raise ValueError(
                f"recipe setting {self.name!r}: every value needs its source (no '|': the "
                "docs quote it in a table)"
            )


@dataclass(frozen=True)
class NamedRecipe:
    """A whole-run recipe: one model, one reference script, every setting with its source."""

    name: str
    model: str
    description: str
    reference: str  # repository@commit and script
    settings: tuple[Setting, ...]
    #: what the project does differently on purpose, or cannot copy (said in the docs)
    deviations: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [s.name for s in self.settings]
        if len(set(names)) != len(names):
            raise ValueError(f"recipe {self.name!r}: a setting is given twice")

    def setting(self, name: str) -> Setting:
        for s in self.settings:
            if s.name == name:
                return s
        raise KeyError(f"recipe {self.name!r} has no setting {name!r}")

    def run_options(self) -> dict[str, Any]:
        """The flat run options the recipe applies (``model``, ``named_recipe`` and every
        setting in :data:`RUN_OPTIONS`)."""
        out: dict[str, Any] = {"model": self.model, "named_recipe": self.name}
        for s in self.settings:
            if s.name in RUN_OPTIONS:
                out[RUN_OPTIONS[s.name]] = s.value
        return out

    def expected_architecture(self) -> dict[str, Any]:
        """``model.FIELD`` settings: the architecture the preset must give."""
        return {s.name[len("model.") :]: s.value for s in self.settings if s.name[:6] == "model."}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "description": self.description,
            "reference": self.reference,
            "settings": [
                {"name": s.name, "value": s.value, "source": s.source} for s in self.settings
            ],
            "deviations": list(self.deviations),
        }
