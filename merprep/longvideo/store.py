"""The long-video store: one HDF5 file per extraction, one group per video, streamed in.

```
/                          root attributes (schemas/longvideo-v1.json, "root")
/index                     video ids (dataset/subject/video), sorted
/skipped                   JSON list of {video_id, reason, file, row} left out
/videos/<video_id>/        attrs: record (JSON, "video"), digest
    faces                  uint8 (N, S, S, 1): the gray face crop of every kept frame, one
                           chunk per frame (ISA-L/zlib deflate or raw) with fletcher32
    frame_numbers          int64 (N,): the source frame number of each kept frame
    landmarks              float32 (M, 68, 2): 68 points in face-crop pixels
    landmark_frames        int64 (M,): the source frame each landmark set was found on
```

Its size is proportional to what is kept (frames / stride x S^2 bytes before compression). A
worker streams one video into a staged file (:class:`StagedVideo`, never more than one frame
in memory); :class:`LongStoreWriter` copies the staged groups into a temporary store (HDF5's own
object copy, chunk by chunk) and renames it into place at the end, as clip stores are written.
The digest of a video is sha256 over its canonical record and, per array in name order,
``name|dtype|shape|sha256(bytes)``; the fingerprint combines the digests in index order.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import h5py
import jsonschema
import numpy as np

from merprep.errors import StoreError
from merprep.fsio import commit_file
from merprep.jsonutil import canonical_json
from merprep.store.building import AtomicStoreBuilder
from merprep.store.codec import encode_frame, hdf5_gzip_level
from merprep.store.digest import combined_digest

log = logging.getLogger(__name__)

FORMAT_NAME = "merprep-longvideo"
SCHEMA_VERSION = "1.0.0"
SUPPORTED_MAJOR = 1
FACES, FRAME_NUMBERS, LANDMARKS, LANDMARK_FRAMES = (
    "faces",
    "frame_numbers",
    "landmarks",
    "landmark_frames",
)
ARRAYS = (FACES, FRAME_NUMBERS, LANDMARKS, LANDMARK_FRAMES)
_BLOCK = 256  # frames added to the faces array per resize


@cache
def _validator(definition: str) -> jsonschema.Draft202012Validator:
    text = resources.files("merprep").joinpath("schemas/longvideo-v1.json").read_text("utf-8")
    schema = json.loads(text)
    sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(sub)


def schema_errors(definition: str, value: Mapping[str, Any]) -> list[str]:
    out = []
    for e in _validator(definition).iter_errors(dict(value)):
        path = "/".join(str(p) for p in e.absolute_path)
        out.append(f"{path or '(root)'}: {e.message}")
    return out


def video_digest(
    record: Mapping[str, Any], array_hashes: Mapping[str, tuple[str, str, str]]
) -> str:
    """sha256 of the record and ``name -> (dtype, shape, sha256 of the bytes)`` in name order."""
    h = hashlib.sha256(canonical_json(record).encode("utf-8"))
    for name in sorted(array_hashes):
        dtype, shape, digest = array_hashes[name]
        h.update(f"{name}|{dtype}|{shape}|{digest}".encode())
    return h.hexdigest()


def _array_hash(arr: np.ndarray) -> tuple[str, str, str]:
    arr = np.ascontiguousarray(arr)
    return arr.dtype.str, str(arr.shape), hashlib.sha256(arr.tobytes()).hexdigest()


class StagedVideo:
    """One video streamed into its own HDF5 file (in a worker), renamed into place when done."""

    def __init__(self, path: Path | str, face_size: int, compression: str = "fast"):
        self.path = Path(path)
        self.size = face_size
        self.compression = compression
        level = hdf5_gzip_level(compression)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._file = h5py.File(self._tmp, "w")
        self._faces = self._file.create_dataset(
            FACES,
            shape=(0, face_size, face_size, 1),
            maxshape=(None, face_size, face_size, 1),
            dtype=np.uint8,
            chunks=(1, face_size, face_size, 1),
            fletcher32=True,
            **({"compression": "gzip", "compression_opts": level} if level else {}),
        )
        self._hash = hashlib.sha256()
        self.numbers: list[int] = []

    def add(self, number: int, face: np.ndarray) -> None:
        face = np.ascontiguousarray(face, dtype=np.uint8).reshape(self.size, self.size, 1)
        n = len(self.numbers)
        if n >= self._faces.shape[0]:
            self._faces.resize(n + _BLOCK, axis=0)
        self._faces.id.write_direct_chunk((n, 0, 0, 0), encode_frame(face, self.compression))
        self._hash.update(face.tobytes())
        self.numbers.append(int(number))

    def finish(
        self, record: dict[str, Any], landmarks: np.ndarray, landmark_frames: np.ndarray
    ) -> str:
        """Write the small arrays, the record and the digest; rename into place."""
        n = len(self.numbers)
        self._faces.resize(n, axis=0)
        arrays: dict[str, np.ndarray] = {
            FRAME_NUMBERS: np.asarray(self.numbers, np.int64),
            LANDMARKS: np.asarray(landmarks, np.float32),
            LANDMARK_FRAMES: np.asarray(landmark_frames, np.int64),
        }
        for name, arr in arrays.items():
            self._file.create_dataset(name, data=arr, fletcher32=True, chunks=arr.shape or None)
        hashes = {name: _array_hash(arr) for name, arr in arrays.items()}
        hashes[FACES] = (
            np.dtype(np.uint8).str,
            str((n, self.size, self.size, 1)),
            self._hash.hexdigest(),
        )
        errors = schema_errors("video", record)
        if errors:
            raise StoreError(
                f"{record.get('video_id')}: record does not match the schema: " + "; ".join(errors)
            )
        digest = video_digest(record, hashes)
        self._file.attrs["record"] = canonical_json(record)
        self._file.attrs["digest"] = digest
        self._file.close()
        commit_file(self._tmp, self.path, durable=False)  # a resumable cache; the store is durable
        return digest

    def abort(self) -> None:
        try:
            self._file.close()
        except Exception:  # already closed
            pass
        self._tmp.unlink(missing_ok=True)


class LongStoreWriter(AtomicStoreBuilder):
    """A new long-video store at ``path`` from staged videos; commit renames it into place."""

    member = "video"
    group = "videos"
    format_name = FORMAT_NAME
    schema_version = SCHEMA_VERSION

    def root_errors(self, attrs: Mapping[str, Any]) -> list[str]:
        return schema_errors("root", attrs)

    def add_staged(self, staged: Path | str) -> str:
        """Copy one staged video in; returns its video id."""
        with h5py.File(staged, "r") as src:
            record = json.loads(src.attrs["record"])
            vid = record["video_id"]
            self._check_new(vid)
            parent, _, leaf = f"videos/{vid}".rpartition("/")
            group = self._file.require_group(parent).create_group(leaf)
            for name in ARRAYS:
                src.copy(src[name], group, name=name)
            group.attrs["record"] = src.attrs["record"]
            group.attrs["digest"] = src.attrs["digest"]
            self._member_added(vid, str(src.attrs["digest"]))
        return vid

    @property
    def n_videos(self) -> int:
        return self.n_members


class LongVideoStore:
    """Read-only access to a long-video store; face crops are read a block at a time."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError("no such long-video store", file=self.path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise StoreError(
                f"not a readable HDF5 file ({str(exc).splitlines()[0][:120]})", file=self.path
            ) from None
        self.attrs = {k: _decode(v) for k, v in self._file.attrs.items()}
        if self.attrs.get("format") != FORMAT_NAME:
            self._file.close()
            raise StoreError(
                f"not a merprep long-video store (format {self.attrs.get('format')!r}); "
                "make one with `merprep extract-long`",
                file=self.path,
            )
        major = int(str(self.attrs.get("schema_version", "0")).split(".")[0])
        if major > SUPPORTED_MAJOR:
            self._file.close()
            raise StoreError(
                f"schema {self.attrs['schema_version']} is newer than this merprep reads",
                file=self.path,
            )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> LongVideoStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @cached_property
    def video_ids(self) -> list[str]:
        return [s.decode() if isinstance(s, bytes) else str(s) for s in self._file["index"][()]]

    @property
    def fingerprint(self) -> str:
        return str(self.attrs["fingerprint"])

    def _group(self, vid: str) -> h5py.Group:
        try:
            return self._file[f"videos/{vid}"]
        except KeyError:
            raise StoreError(f"video {vid!r} is not in the store", file=self.path) from None

    def record(self, vid: str) -> dict[str, Any]:
        return json.loads(self._group(vid).attrs["record"])

    def digest(self, vid: str) -> str:
        return str(self._group(vid).attrs["digest"])

    def skipped(self) -> list[dict[str, Any]]:
        raw = self._file["skipped"][()]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)

    def array(self, vid: str, name: str) -> np.ndarray:
        try:
            return self._group(vid)[name][()]
        except OSError as exc:
            raise StoreError(
                f"video {vid!r}, array {name!r} is damaged ({exc})", file=self.path
            ) from None

    def faces_at(self, vid: str, indices: list[int]) -> list[np.ndarray]:
        """The face crops at these positions (kept-frame indices), read one by one."""
        faces = self._group(vid)[FACES]
        return [faces[int(i)] for i in indices]

    def n_kept(self, vid: str) -> int:
        return int(self._group(vid)[FACES].shape[0])

    def iter_faces(self, vid: str, block: int = 128) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame numbers, faces uint8 (n, S, S, 1)) a block at a time, in order."""
        group = self._group(vid)
        numbers = group[FRAME_NUMBERS][()]
        faces = group[FACES]
        for start in range(0, len(numbers), block):
            stop = min(start + block, len(numbers))
            try:
                chunk = faces[start:stop]
            except OSError as exc:
                raise StoreError(
                    f"video {vid!r}: faces {start}..{stop} are damaged ({exc})", file=self.path
                ) from None
            yield numbers[start:stop], chunk


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def validate_long_store(path: Path | str) -> list[str]:
    """Every problem found (empty when sound): schema of the root and of every record, each
    video's digest recomputed from its arrays (faces read a block at a time), the fingerprint."""
    problems = []
    with LongVideoStore(path) as store:
        problems += [f"root: {e}" for e in schema_errors("root", store.attrs)]
        digests = []
        for vid in store.video_ids:
            record = store.record(vid)
            problems += [f"{vid}: {e}" for e in schema_errors("video", record)]
            try:
                h = hashlib.sha256()
                n = 0
                for _, faces in store.iter_faces(vid):
                    h.update(np.ascontiguousarray(faces).tobytes())
                    n += len(faces)
                size = int(store.attrs["face_size"])
                hashes = {FACES: (np.dtype(np.uint8).str, str((n, size, size, 1)), h.hexdigest())}
                for name in (FRAME_NUMBERS, LANDMARKS, LANDMARK_FRAMES):
                    hashes[name] = _array_hash(store.array(vid, name))
            except StoreError as exc:
                problems.append(str(exc))
                continue
            digest = video_digest(record, hashes)
            if digest != store.digest(vid):
                problems.append(f"{vid}: content does not match its digest")
            digests.append((vid, store.digest(vid)))
        if combined_digest(digests) != store.fingerprint:
            problems.append("the fingerprint does not match the videos' digests")
    return problems
