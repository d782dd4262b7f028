"""Tasks: how annotated emotions map onto class indices (``--task``).

Stores keep emotions verbatim; the mapping to classes happens here, so one store serves every
task. A record whose emotion a task does not use maps to ``None`` and is left out of that task.
Mappings are per dataset because the datasets disagree (CASME II's fear and sadness are dropped
from MEGC2019's negative class, SAMM's are not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from merprep.registry import Registry

#: MEGC2019 3-class mapping (docs/references.md#megc2019): classes in index order negative,
#: positive, surprise.
_THREE_CLASS: dict[str, dict[str, str]] = {
    "casme2": {
        "disgust": "negative",
        "repression": "negative",
        "happiness": "positive",
        "surprise": "surprise",
    },
    "samm": {
        "anger": "negative",
        "contempt": "negative",
        "disgust": "negative",
        "fear": "negative",
        "sadness": "negative",
        "happiness": "positive",
        "surprise": "surprise",
    },
    "smic": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    # CAS(ME)^3 (our reading; the dataset paper's 3-class grouping): anger, disgust, fear and sad
    # are negative, happy positive, surprise surprise; "others" dropped.
    "casme3": {
        "anger": "negative",
        "disgust": "negative",
        "fear": "negative",
        "sad": "negative",
        "happy": "positive",
        "surprise": "surprise",
    },
}
#: For datasets without their own table (manifest data): common emotion words.
_THREE_CLASS_GENERIC = {
    "negative": "negative",
    "anger": "negative",
    "angry": "negative",
    "contempt": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sadness": "negative",
    "sad": "negative",
    "repression": "negative",
    "happiness": "positive",
    "happy": "positive",
    "positive": "positive",
    "surprise": "surprise",
    "surprised": "surprise",
}


@dataclass(frozen=True)
class Task:
    """A classification task: ordered class names and an emotion -> class rule per dataset."""

    name: str
    classes: tuple[str, ...]
    description: str
    mapping: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # dataset -> table
    generic: Mapping[str, str] | None = None  # table for datasets not in ``mapping``
    datasets: tuple[str, ...] | None = None  # datasets the task is defined for (None: any)

    def label(self, record: Mapping[str, Any]) -> int | None:
        """Class index of a store record, or None when this task does not use it."""
        dataset = str(record["dataset"]).split("-")[0]  # smic-vis -> smic
        if self.datasets is not None and dataset not in self.datasets:
            return None
        table = self.mapping.get(dataset, self.generic)
        if table is None:
            return None
        cls = table.get(str(record["emotion"]).strip().lower())
        return None if cls is None else self.classes.index(cls)


def _identity(names: tuple[str, ...]) -> dict[str, str]:
    return {n: n for n in names}


_TASKS: tuple[Task, ...] = (
    Task(
        "3class",
        ("negative", "positive", "surprise"),
        "MEGC2019 composite classes (docs/references.md#megc2019): negative, positive, "
        "surprise; others dropped.",
        _THREE_CLASS,
        _THREE_CLASS_GENERIC,
    ),
    Task(
        "5class",
        ("happiness", "surprise", "disgust", "repression", "others"),
        "CASME II 5-class: happiness, surprise, disgust, repression, others (fear and sadness, "
        "too rare, dropped).",
        {"casme2": _identity(("happiness", "surprise", "disgust", "repression", "others"))},
        datasets=("casme2",),
    ),
    Task(
        "7class",
        ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"),
        "SAMM 7-class: the seven basic emotions; Other dropped.",
        {
            "samm": _identity(
                ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
            )
        },
        datasets=("samm",),
    ),
    Task(
        "binary",
        ("negative", "positive"),
        "Positive (happiness) vs negative (every other emotion except surprise and "
        "other/others), as in docs/references.md#model-c.",
        {},
        generic={
            **dict.fromkeys(
                (
                    "anger",
                    "contempt",
                    "disgust",
                    "fear",
                    "sadness",
                    "sad",
                    "repression",
                    "negative",
                ),
                "negative",
            ),
            "happiness": "positive",
            "happy": "positive",
            "positive": "positive",
        },
    ),
    Task(
        "deception",
        ("deceptive", "truthful"),
        "Real-life Deception: deceptive vs truthful (the record's emotion holds the class).",
        {"deception": {"deceptive": "deceptive", "truthful": "truthful"}},
        datasets=("deception",),
    ),
)
#: task name -> Task
TASKS: Registry[Task] = Registry("task")
for _task in _TASKS:
    TASKS.register(_task.name, _task)


def get_task(name: str) -> Task:
    """The task ``name``; ValueError (``UnknownName``) naming the choices otherwise."""
    return TASKS.get(name)
