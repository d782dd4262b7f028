"""One writer per dataset layout; each module's ``write(ctx)`` returns a ``LayoutResult``.

Modules are imported on demand so that generating one dataset does not load the others.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

LAYOUT_MODULES = {
    "casme2": "merprep.sample.layouts.casme2",
    "samm": "merprep.sample.layouts.samm",
    "smic": "merprep.sample.layouts.smic",
    "casme3": "merprep.sample.layouts.casme3",
    "deception": "merprep.sample.layouts.deception",
    "manifest": "merprep.sample.layouts.manifest",
}


def layout_module(dataset: str) -> ModuleType:
    return import_module(LAYOUT_MODULES[dataset])
