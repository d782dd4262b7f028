"""Dataset adapters, looked up by name (``--dataset``)."""

from __future__ import annotations

from importlib import import_module

from merprep.datasets.base import ClipRecord, DatasetAdapter, FrameSource, parse_aus

# name -> module; each module defines one DatasetAdapter subclass named ``Adapter``.
# Modules are imported only when asked for, so the CLI starts fast.
ADAPTER_MODULES = {
    "casme2": "merprep.datasets.casme2",
    "samm": "merprep.datasets.samm",
    "smic": "merprep.datasets.smic",
    "casme3": "merprep.datasets.casme3",
    "deception": "merprep.datasets.deception",
    "manifest": "merprep.datasets.manifest",
}


def available_datasets() -> list[str]:
    return list(ADAPTER_MODULES)


def get_adapter(name: str) -> type[DatasetAdapter]:
    """The adapter class for ``name`` (one of :func:`available_datasets`)."""
    try:
        module = import_module(ADAPTER_MODULES[name])
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(ADAPTER_MODULES)}")
    return module.Adapter


__all__ = ["ClipRecord", "DatasetAdapter", "FrameSource", "parse_aus", "get_adapter",
           "available_datasets"]
