"""Clips encoded for the store where they are made: compression and checksums in the workers.

The store has one writer, so workers encode each frame into the chunk bytes HDF5's filter
pipeline stores — the frame's bytes deflated (HDF5's gzip filter reads any zlib stream),
followed by HDF5's fletcher32 checksum over them, stored little-endian — and the writer copies
those chunks into the file with ``write_direct_chunk``. Reading goes through HDF5's normal
filters (inflate, checksum verification), so any HDF5 reader reads the store. With zlib the
chunks are byte for byte what HDF5 itself writes (tested); ISA-L's deflate (``fast``, the
default) writes a different but standard stream, several times faster.
"""

from __future__ import annotations

import itertools
import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from isal import isal_zlib
from numpy.typing import NDArray

from merprep import stages
from merprep.jsonutil import canonical_json
from merprep.store.digest import clip_digest

#: gzip level of every compressed array (see layout.write_array)
GZIP_LEVEL = 1
#: ISA-L level (0-3) of ``fast`` frame compression
ISAL_LEVEL = 2
#: how face frames are compressed (``merprep extract --frame-compression``). Face crops carry
#: sensor noise, so deflate finds little, and compressing was the largest cost of extraction
#: after decoding. Measured on 30x128x128x3 sample clips (one core): zlib level 1 (``small``)
#: 28-30 ms per clip for 88-89 % of the raw size (levels 6 and 9: no smaller, slower); ISA-L
#: level 2 (``fast``) 4-5 ms for 93 %; ``none`` stores the raw bytes (checksummed, 3 ms).
FRAME_COMPRESSIONS = ("fast", "small", "none")
DEFAULT_FRAME_COMPRESSION = "fast"
_MASK32 = (1 << 32) - 1


#: int64, so the weighted block sums below use numpy's integer loops, not BLAS: OpenBLAS threads
#: spin (sched_yield) after every threaded call and took a core from the other worker
_WEIGHTS = (360 - np.arange(360)).astype(np.int64)


def fletcher32(data: bytes) -> int:
    """HDF5's ``H5_checksum_fletcher32``: 16-bit big-endian words, sums folded every 360 words.

    Per 360-word block of words w_0..w_{L-1}, the C loop adds sum(w) to sum1 and
    L * sum1 + sum_j w_j * (L - j) to sum2, wrapping at 2**32, then folds both; the block sums
    are computed at once (exact in int64: below 2**34) and the folds run per block.
    """
    n = len(data)
    words = np.frombuffer(data, dtype=">u2", count=n // 2)
    sum1 = sum2 = 0
    if len(words):
        n_blocks = -(-len(words) // 360)
        pad = n_blocks * 360 - len(words)
        blocks = np.zeros(n_blocks * 360, np.int64)
        blocks[: len(words)] = words
        blocks = blocks.reshape(n_blocks, 360)
        block_sums = blocks.sum(axis=1)
        weighted = blocks @ _WEIGHTS  # sum_j w_j (360 - j)
        weighted[-1] -= pad * block_sums[-1]  # the last block has L = 360 - pad
        lengths = [360] * (n_blocks - 1) + [360 - pad]
        for length, bsum, bweighted in zip(lengths, block_sums.tolist(), weighted.tolist()):
            sum2 = (sum2 + length * sum1 + bweighted) & _MASK32
            sum1 = sum1 + bsum
            sum1 = (sum1 & 0xFFFF) + (sum1 >> 16)
            sum2 = (sum2 & 0xFFFF) + (sum2 >> 16)
    if n % 2:
        sum1 += data[-1] << 8
        sum2 = (sum2 + sum1) & _MASK32
        sum1 = (sum1 & 0xFFFF) + (sum1 >> 16)
        sum2 = (sum2 & 0xFFFF) + (sum2 >> 16)
    sum1 = (sum1 & 0xFFFF) + (sum1 >> 16)
    sum2 = (sum2 & 0xFFFF) + (sum2 >> 16)
    return ((sum2 << 16) | sum1) & _MASK32


def encode_chunk(chunk: NDArray[Any], level: int = GZIP_LEVEL) -> bytes:
    """One chunk as HDF5 stores it under its [deflate +] fletcher32 filters, compressed by zlib
    at gzip ``level`` 1-9 (exactly the bytes HDF5 writes) or, at 0, stored raw."""
    data = np.ascontiguousarray(chunk).tobytes()
    if level:
        packer = zlib.compressobj(level, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY)
        data = packer.compress(data) + packer.flush()
    return _with_checksum(data)


def encode_frame(frame: NDArray[Any], compression: str = DEFAULT_FRAME_COMPRESSION) -> bytes:
    """One face frame as a chunk under :data:`FRAME_COMPRESSIONS` ``compression``."""
    if compression == "fast":
        return _with_checksum(isal_zlib.compress(np.ascontiguousarray(frame).tobytes(), ISAL_LEVEL))
    return encode_chunk(frame, hdf5_gzip_level(compression))


def hdf5_gzip_level(compression: str) -> int:
    """The gzip level HDF5's filter records for frames compressed this way (0: no filter).
    HDF5 only uses it to compress chunks it writes itself; any level decodes any stream."""
    if compression not in FRAME_COMPRESSIONS:
        raise ValueError(
            f"frame compression must be one of {', '.join(FRAME_COMPRESSIONS)}, got {compression!r}"
        )
    return 0 if compression == "none" else GZIP_LEVEL


def _with_checksum(data: bytes) -> bytes:
    return data + struct.pack("<I", fletcher32(data))


@dataclass
class EncodedClip:
    """One clip ready for the store: record, frames as encoded chunks (one per frame, under
    ``compression``), landmarks, and the clip digest computed from the raw arrays."""

    record: dict[str, Any]
    frames_shape: tuple[int, ...]
    frame_chunks: list[bytes]
    landmarks: NDArray[Any]
    digest: str
    compression: str = DEFAULT_FRAME_COMPRESSION

    @classmethod
    def encode(
        cls,
        record: Mapping[str, Any],
        frames: NDArray[Any],
        landmarks: NDArray[Any] | None = None,
        compression: str = DEFAULT_FRAME_COMPRESSION,
    ) -> EncodedClip:
        frames = np.ascontiguousarray(frames)
        if landmarks is None:
            landmarks = np.full((frames.shape[0], 68, 2), np.nan, np.float32)
        landmarks = np.asarray(landmarks, np.float32)
        digest = clip_digest(record, {stages.FRAMES: frames, stages.LANDMARKS: landmarks})
        hdf5_gzip_level(compression)  # raises on unknown names
        chunks = [encode_frame(f, compression) for f in frames]
        return cls(dict(record), tuple(frames.shape), chunks, landmarks, digest, compression)

    # -- staging as one .npz (no pickles) -----------------------------------------------------
    def to_npz_arrays(self) -> dict[str, NDArray[Any]]:
        sizes = np.array([len(c) for c in self.frame_chunks], np.int64)
        return {
            "record": np.array(canonical_json(self.record)),
            "frames_shape": np.array(self.frames_shape, np.int64),
            "chunk_sizes": sizes,
            "chunks": np.frombuffer(b"".join(self.frame_chunks), np.uint8),
            stages.LANDMARKS: self.landmarks,
            "digest": np.array(self.digest),
            "compression": np.array(self.compression),
        }

    @classmethod
    def from_npz(cls, z: Any) -> EncodedClip:
        data = z["chunks"].tobytes()
        bounds = np.concatenate([[0], np.cumsum(z["chunk_sizes"])]).tolist()
        chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
        return cls(
            json.loads(str(z["record"])),
            tuple(int(x) for x in z["frames_shape"]),
            chunks,
            z[stages.LANDMARKS],
            str(z["digest"]),
            str(z["compression"]),
        )
