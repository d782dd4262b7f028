"""Where things live inside the HDF5 file (documented in docs/clipstore.md).

```
/                       root attributes (see schemas/clipstore-v1.json, "root")
/index                  clip ids, one UTF-8 string each, in sorted order
/skipped                JSON list of {clip_id, reason, file, row} for clips left out
/clips/<clip_id>/       one group per clip; clip_id is dataset/subject/clip
    attrs: record (JSON), digest (sha256 of record + base arrays)
    frames              uint8 (T, H, W, C), one chunk per frame, gzip, fletcher32
    landmarks           float32 (T, 68, 2) in store pixel coordinates (x, y)
    <stage arrays>      added by later stages, e.g. au/frames, flow/onset_apex
```
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from merprep import stages
from merprep.store.codec import GZIP_LEVEL, hdf5_gzip_level

INDEX = "index"
SKIPPED = "skipped"
CLIPS = "clips"
#: the arrays every clip has from extract, in digest order (the stage table's)
BASE_ARRAYS = stages.BASE_ARRAYS
#: Root attributes stored as JSON text (the rest are plain scalars).
JSON_ATTRS = ("datasets", "params", "stages")


def clip_path(clip_id: str) -> str:
    return f"{CLIPS}/{clip_id}"


def write_array(group: h5py.Group, name: str, arr: NDArray[Any]) -> h5py.Dataset:
    """Create ``group[name]`` with the store's storage policy.

    Arrays of rank >= 3 are chunked one leading-axis item per chunk (one frame is one read),
    compressed with gzip and protected by per-chunk fletcher32 checksums. Level 1: on face
    crops (sensor noise) higher levels cost 1.7x the time for the same size (both ~85%); float
    maps (flow, strain) also get the byte-shuffle filter, which helps floats compress.
    """
    arr = np.ascontiguousarray(arr)
    if name in group:
        del group[name]
    kwargs: dict[str, Any] = {"fletcher32": True}
    if arr.ndim >= 3 and arr.size:
        floating = np.issubdtype(arr.dtype, np.floating)
        kwargs.update(
            chunks=(1,) + arr.shape[1:],
            compression="gzip",
            compression_opts=GZIP_LEVEL,
            shuffle=floating,
        )
    elif arr.ndim >= 1 and arr.size:
        kwargs.update(chunks=arr.shape)
    else:
        kwargs = {}
    return group.create_dataset(name, data=arr, **kwargs)


def write_encoded_frames(
    group: h5py.Group, name: str, shape: tuple[int, ...], chunks: list[bytes], compression: str
) -> h5py.Dataset:
    """Create uint8 ``group[name]``, one chunk per leading-axis item with fletcher32 (and gzip
    unless ``compression`` is ``none``), from chunks already encoded by
    :func:`merprep.store.codec.encode_frame` that way."""
    if name in group:
        del group[name]
    level = hdf5_gzip_level(compression)
    deflate = {"compression": "gzip", "compression_opts": level} if level else {}
    ds = group.create_dataset(
        name,
        shape=shape,
        dtype=np.uint8,
        chunks=(1,) + tuple(shape[1:]),
        fletcher32=True,
        **deflate,
    )
    origin = (0,) * (len(shape) - 1)
    for i, chunk in enumerate(chunks):
        ds.id.write_direct_chunk((i,) + origin, chunk)
    return ds
