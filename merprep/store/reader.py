"""ClipStore: the one reader API both merprep and mertrain use."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
from numpy.typing import NDArray

from merprep import stages
from merprep.errors import StoreError
from merprep.store import layout
from merprep.store.attrs import decode_root_attrs
from merprep.store.schema import FORMAT_NAME, SUPPORTED_MAJOR, parse_version


def open_hdf5(path: Path) -> h5py.File:
    """Open read-only, turning the usual failures into messages that name the file."""
    if not path.exists():
        raise StoreError("no such store", file=path)
    if path.is_dir():
        raise StoreError("is a directory, not a clip store", file=path)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise StoreError(
            f"not a readable HDF5 file ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0][:120]})",
            file=path,
        ) from None


class ClipStore:
    """Read-only access to a clip store.

    Checks on open that the file is a merprep store of a supported major schema version (a store
    written by a newer major version is refused; older minor versions are read). Arrays are read
    lazily, one clip at a time. Safe to open in several processes at once.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._file = open_hdf5(self.path)
        try:
            self.attrs = decode_root_attrs(dict(self._file.attrs))
            self._check_format()
        except BaseException:
            self._file.close()
            raise

    def _check_format(self) -> None:
        fmt = self.attrs.get("format")
        if fmt != FORMAT_NAME:
            raise StoreError(
                f"not a merprep clip store (format attribute is {fmt!r})", file=self.path
            )
        version = self.attrs.get("schema_version")
        try:
            major, _, _ = parse_version(str(version))
        except (TypeError, ValueError):
            raise StoreError(f"unreadable schema_version {version!r}", file=self.path) from None
        if major > SUPPORTED_MAJOR:
            raise StoreError(
                f"written with clip-store schema {version}, newer than this merprep supports "
                f"(major {SUPPORTED_MAJOR}); upgrade merprep to read it",
                file=self.path,
            )
        if layout.INDEX not in self._file:
            raise StoreError("missing /index: the store is incomplete", file=self.path)

    # -- context manager -----------------------------------------------------------------------
    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ClipStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata ------------------------------------------------------------------------------
    @property
    def schema_version(self) -> str:
        return str(self.attrs["schema_version"])

    @property
    def fingerprint(self) -> str:
        return str(self.attrs["fingerprint"])

    @property
    def stages(self) -> dict[str, Any]:
        return self.attrs.get("stages") or {}

    @cached_property
    def clip_ids(self) -> list[str]:
        return [
            s.decode("utf-8") if isinstance(s, bytes) else str(s)
            for s in self._file[layout.INDEX][()]
        ]

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.clip_ids)

    def _group(self, clip_id: str) -> h5py.Group:
        try:
            return self._file[layout.clip_path(clip_id)]
        except KeyError:
            raise StoreError(
                f"clip {clip_id!r} is in the index but its group is missing", file=self.path
            ) from None

    def record(self, clip_id: str) -> dict[str, Any]:
        """The clip's metadata record (see the schema's ``clip`` definition)."""
        raw = self._group(clip_id).attrs.get("record")
        if raw is None:
            raise StoreError(f"clip {clip_id!r} has no record attribute", file=self.path)
        record: dict[str, Any] = json.loads(raw)
        return record

    @cached_property
    def _records(self) -> list[dict[str, Any]]:
        return [self.record(cid) for cid in self.clip_ids]

    def records(self) -> list[dict[str, Any]]:
        """All clip records in index order (cached)."""
        return list(self._records)

    def skipped(self) -> list[dict[str, Any]]:
        if layout.SKIPPED not in self._file:
            return []
        raw = self._file[layout.SKIPPED][()]
        skipped: list[dict[str, Any]] = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        return skipped

    def stage_info(self, clip_id: str, stage: str) -> dict[str, Any] | None:
        raw = self._group(clip_id).attrs.get(f"stage:{stage}")
        return None if raw is None else json.loads(raw)

    # -- arrays --------------------------------------------------------------------------------
    def array(self, clip_id: str, name: str) -> NDArray[Any]:
        """Read one array of a clip (a name of :mod:`merprep.stages`: the base arrays, or a
        stage array such as ``au/frames``)."""
        group = self._group(clip_id)
        if name not in group:
            raise StoreError(f"clip {clip_id!r} has no array {name!r}", file=self.path)
        try:
            data: NDArray[Any] = group[name][()]
            return data
        except OSError as exc:  # fletcher32 mismatch, truncated chunk, ...
            raise StoreError(
                f"clip {clip_id!r}, array {name!r} is damaged ({exc})", file=self.path
            ) from None

    def frames(self, clip_id: str) -> NDArray[Any]:
        """uint8 (T, H, W, C) face frames, RGB or gray as the store's ``color`` attribute says."""
        return self.array(clip_id, stages.FRAMES)

    def landmarks(self, clip_id: str) -> NDArray[Any]:
        """float32 (T, 68, 2) landmarks in store pixel coordinates."""
        return self.array(clip_id, stages.LANDMARKS)

    def has_array(self, name: str) -> bool:
        """True when every clip has array ``name``."""
        return all(name in self._group(cid) for cid in self.clip_ids)

    def array_shape(self, clip_id: str, name: str) -> tuple[int, ...]:
        return tuple(self._group(clip_id)[name].shape)

    # -- summaries -----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts and provenance, as printed by ``merprep info`` (``--json`` keys are stable)."""
        recs = self._records
        shapes = Counter(str(tuple(self.array_shape(r["clip_id"], stages.FRAMES))) for r in recs)
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "format": self.attrs["format"],
            "created": self.attrs.get("created"),
            "merprep_version": self.attrs.get("merprep_version"),
            "fingerprint": self.fingerprint,
            "n_clips": len(recs),
            "n_skipped": int(self.attrs.get("n_skipped", 0)),
            "datasets": dict(sorted(Counter(r["dataset"] for r in recs).items())),
            "subjects": sorted({r["subject_id"] for r in recs}),
            "clips_per_subject": dict(sorted(Counter(r["subject_id"] for r in recs).items())),
            "emotions": dict(sorted(Counter(r["emotion"] for r in recs).items())),
            "corrected": sorted(
                r["clip_id"] for r in recs if (r.get("extra") or {}).get("corrections")
            ),
            "frame_shapes": dict(shapes),
            "color": self.attrs.get("color"),
            "landmark_backend": self.attrs.get("landmark_backend"),
            "landmark_backend_version": self.attrs.get("landmark_backend_version"),
            "command": self.attrs.get("command"),
            "params": self.attrs.get("params"),
            "stages": {
                k: {kk: v[kk] for kk in ("command", "arrays", "created") if kk in v}
                for k, v in self.stages.items()
            },
        }
