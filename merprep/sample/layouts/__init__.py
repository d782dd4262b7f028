"""One writer per dataset layout; each module's ``write(ctx)`` returns a ``LayoutResult``.

Writers are imported on demand so that generating one dataset does not load the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from merprep.registry import Registry

#: dataset -> its layout writer ``write(ctx) -> LayoutResult``
LAYOUTS: Registry[Callable[[Any], Any]] = Registry("sample dataset")
LAYOUTS.register_lazy("casme2", "merprep.sample.layouts.casme2:write")
LAYOUTS.register_lazy("samm", "merprep.sample.layouts.samm:write")
LAYOUTS.register_lazy("smic", "merprep.sample.layouts.smic:write")
LAYOUTS.register_lazy("casme3", "merprep.sample.layouts.casme3:write")
LAYOUTS.register_lazy("deception", "merprep.sample.layouts.deception:write")
LAYOUTS.register_lazy("manifest", "merprep.sample.layouts.manifest:write")
LAYOUTS.register_lazy("casme2-long", "merprep.sample.layouts.casme2_long:write")
LAYOUTS.register_lazy("samm-long", "merprep.sample.layouts.samm_long:write")


def layout_writer(dataset: str) -> Callable[[Any], Any]:
    """The ``write(ctx)`` of ``dataset``'s layout (ValueError for an unknown dataset)."""
    return LAYOUTS.get(dataset)
