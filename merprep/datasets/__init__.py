"""Dataset adapters, looked up by name (``--dataset``)."""

from __future__ import annotations

from merprep.datasets.base import ClipRecord, DatasetAdapter, FrameSource, parse_aus
from merprep.registry import Registry

#: name -> the module's ``Adapter`` (a DatasetAdapter subclass), imported when first asked for
#: so the CLI starts fast. A new dataset is one module and one line here.
ADAPTERS: Registry[type[DatasetAdapter]] = Registry("dataset")
ADAPTERS.register_lazy("casme2", "merprep.datasets.casme2:Adapter")
ADAPTERS.register_lazy("samm", "merprep.datasets.samm:Adapter")
ADAPTERS.register_lazy("smic", "merprep.datasets.smic:Adapter")
ADAPTERS.register_lazy("casme3", "merprep.datasets.casme3:Adapter")
ADAPTERS.register_lazy("deception", "merprep.datasets.deception:Adapter")
ADAPTERS.register_lazy("manifest", "merprep.datasets.manifest:Adapter")


def available_datasets() -> list[str]:
    return ADAPTERS.names()


def get_adapter(name: str) -> type[DatasetAdapter]:
    """The adapter class for ``name`` (one of :func:`available_datasets`); ValueError
    (:class:`merprep.registry.UnknownName`) for any other name."""
    return ADAPTERS.get(name)


__all__ = [
    "ADAPTERS",
    "ClipRecord",
    "DatasetAdapter",
    "FrameSource",
    "available_datasets",
    "get_adapter",
    "parse_aus",
]
