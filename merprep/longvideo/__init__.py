"""Long, untrimmed videos: datasets as shipped -> a versioned long-video store -> spotting.

- :mod:`.records`: :class:`VideoRecord` and its ground-truth :class:`Interval` s;
- one adapter per dataset (``casme2-long``, ``samm-long``, ``casme3-long``, and ``video``: any
  video through a manifest), registered lazily in :data:`LONG_DATASETS`;
- :mod:`.extract` streams each video into the store (:mod:`.store`): per-frame face crops at a
  chosen stride, landmarks at a chosen interval, the crop transform, with atomic writes, resume
  and checksums like clip stores. See docs/spotting.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from merprep.registry import Registry

if TYPE_CHECKING:
    from merprep.longvideo.base import LongVideoAdapter

#: dataset name -> the module's ``Adapter`` class, imported when first asked for
LONG_DATASETS: Registry[type[LongVideoAdapter]] = Registry("long-video dataset")
LONG_DATASETS.register_lazy("casme2-long", "merprep.longvideo.casme2:Adapter")
LONG_DATASETS.register_lazy("samm-long", "merprep.longvideo.samm:Adapter")
LONG_DATASETS.register_lazy("casme3-long", "merprep.longvideo.casme3:Adapter")
LONG_DATASETS.register_lazy("video", "merprep.longvideo.manifest:Adapter")


def get_long_adapter(name: str) -> type[LongVideoAdapter]:
    """The adapter class of long-video dataset ``name`` (ValueError for any other name)."""
    return LONG_DATASETS.get(name)
