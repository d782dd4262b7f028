"""Clips encoded for the store where they are made: checksums (and compression) in the workers.

The store has one writer, so workers encode each frame into the chunk bytes HDF5's filter
pipeline stores — the frame's bytes, deflated when a gzip level is asked for (HDF5's deflate
filter is a zlib stream), followed by HDF5's fletcher32 checksum over them, stored
little-endian — and the writer copies those chunks into the file with ``write_direct_chunk``.
Reading goes through HDF5's normal filters (inflate, checksum verification), so any HDF5 reader
reads the store; the chunks are byte for byte what HDF5 itself writes (tested).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from merprep.store.digest import clip_digest

#: gzip level of every compressed array (see layout.write_array)
GZIP_LEVEL = 1
#: gzip level of face frames by default: none. Face crops carry sensor noise, so deflate finds
#: little: on 30x128x128x3 sample clips gzip 1 took 30 ms for 88% of the raw size (gzip 4 32 ms,
#: 88%; run-length-only 13 ms, 94%), against 3 ms for the checksum alone, and compression was
#: the largest cost of extraction after decoding. ``merprep extract --gzip-frames N`` opts in.
FRAME_GZIP_LEVEL = 0
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
        blocks[:len(words)] = words
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


def encode_chunk(chunk: np.ndarray, level: int = GZIP_LEVEL) -> bytes:
    """One chunk as HDF5 stores it under its [deflate +] fletcher32 filters.

    ``level`` 1-9 deflates (exactly the bytes HDF5 writes at that gzip level); 0 stores the raw
    bytes, still with the checksum.
    """
    data = np.ascontiguousarray(chunk).tobytes()
    if level:
        packer = zlib.compressobj(level, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY)
        data = packer.compress(data) + packer.flush()
    return data + struct.pack("<I", fletcher32(data))


@dataclass
class EncodedClip:
    """One clip ready for the store: record, frames as encoded chunks (one per frame, deflated
    at ``gzip_level``, 0 = raw), landmarks, and the clip digest computed from the raw arrays."""

    record: dict[str, Any]
    frames_shape: tuple[int, ...]
    frame_chunks: list[bytes]
    landmarks: np.ndarray
    digest: str
    gzip_level: int = FRAME_GZIP_LEVEL

    @classmethod
    def encode(cls, record: Mapping[str, Any], frames: np.ndarray,
               landmarks: np.ndarray | None = None,
               gzip_level: int = FRAME_GZIP_LEVEL) -> "EncodedClip":
        frames = np.ascontiguousarray(frames)
        if landmarks is None:
            landmarks = np.full((frames.shape[0], 68, 2), np.nan, np.float32)
        landmarks = np.asarray(landmarks, np.float32)
        digest = clip_digest(record, {"frames": frames, "landmarks": landmarks})
        if not 0 <= gzip_level <= 9:
            raise ValueError(f"gzip level must be 0-9, got {gzip_level}")
        chunks = [encode_chunk(f, gzip_level) for f in frames]
        return cls(dict(record), tuple(frames.shape), chunks, landmarks, digest, gzip_level)

    # -- staging as one .npz (no pickles) -----------------------------------------------------
    def to_npz_arrays(self) -> dict[str, np.ndarray]:
        from merprep.store.schema import canonical_json

        sizes = np.array([len(c) for c in self.frame_chunks], np.int64)
        return {"record": np.array(canonical_json(self.record)),
                "frames_shape": np.array(self.frames_shape, np.int64),
                "chunk_sizes": sizes,
                "chunks": np.frombuffer(b"".join(self.frame_chunks), np.uint8),
                "landmarks": self.landmarks, "digest": np.array(self.digest),
                "gzip_level": np.array(self.gzip_level, np.int64)}

    @classmethod
    def from_npz(cls, z: Any) -> "EncodedClip":
        import json

        data = z["chunks"].tobytes()
        bounds = np.concatenate([[0], np.cumsum(z["chunk_sizes"])]).tolist()
        chunks = [data[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return cls(json.loads(str(z["record"])), tuple(int(x) for x in z["frames_shape"]),
                   chunks, z["landmarks"], str(z["digest"]), int(z["gzip_level"]))
