"""Writing clip stores atomically: build under a temporary name, validate, then rename.

An interrupted run (exception, Ctrl-C, SIGKILL) never leaves a file at the target path that
looks complete: the target either keeps its previous content or does not exist.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from merprep import __version__, stages
from merprep.errors import StoreError
from merprep.fsio import commit_file
from merprep.jsonutil import canonical_json
from merprep.store import layout
from merprep.store.attrs import decode_root_attrs, encode_root_attrs
from merprep.store.building import AtomicStoreBuilder, utc_now
from merprep.store.codec import DEFAULT_FRAME_COMPRESSION, EncodedClip
from merprep.store.digest import array_digest_update, combined_digest
from merprep.store.reader import ClipStore
from merprep.store.schema import FORMAT_NAME, SCHEMA_VERSION, clip_errors, root_errors
from merprep.store.tempfiles import TEMP_MARK, new_temp_path, temp_files

# The root-attribute codec and the temporary-file names live in merprep.store.attrs and
# merprep.store.tempfiles (the reader and the lock use them too); re-exported for old imports.
__all__ = [
    "TEMP_MARK",
    "StageWriter",
    "StoreWriter",
    "decode_root_attrs",
    "encode_root_attrs",
    "modify_store",
    "temp_files",
    "utc_now",
]

log = logging.getLogger(__name__)


class StoreWriter(AtomicStoreBuilder):
    """Write a new clip store at ``path``.

    ``provenance`` holds the root attributes the caller knows (datasets, command, params,
    landmark backend and version, frame_height, frame_width, channels, color); the writer adds
    format, schema version, creation time, merprep version, clip counts and the fingerprint.
    Clips may be added in any order; the index is sorted at commit. Use as a context manager:
    leaving the block normally commits, leaving it by an exception discards the temporary file.
    """

    member = "clip"
    group = layout.CLIPS
    format_name = FORMAT_NAME
    schema_version = SCHEMA_VERSION

    def root_errors(self, attrs: Mapping[str, Any]) -> list[str]:
        return root_errors(dict(attrs))

    def encode_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        return encode_root_attrs(attrs)

    def extra_attrs(self) -> dict[str, Any]:
        return {"stages": {}}

    # -- adding content ------------------------------------------------------------------------
    def add_clip(
        self,
        record: Mapping[str, Any],
        frames: NDArray[Any],
        landmarks: NDArray[Any] | None = None,
        compression: str = DEFAULT_FRAME_COMPRESSION,
    ) -> str:
        """Add one clip; returns its digest. ``record`` must satisfy the schema's clip record;
        ``compression`` is one of codec.FRAME_COMPRESSIONS."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4:
            raise StoreError(
                f"{record.get('clip_id')}: frames must be uint8 (T, H, W, C), got "
                f"{frames.dtype} {frames.shape}",
                file=self.path,
            )
        return self.add_encoded(EncodedClip.encode(record, frames, landmarks, compression))

    def add_encoded(self, clip: EncodedClip) -> str:
        """Add a clip encoded elsewhere (a worker process); returns its digest."""
        record = clip.record
        clip_id = str(record.get("clip_id"))
        self._check_new(clip_id)
        errors = clip_errors(record)
        if errors:
            raise StoreError(
                f"{clip_id}: record does not match the schema: {'; '.join(errors)}", file=self.path
            )
        t = clip.frames_shape[0]
        if len(clip.frames_shape) != 4 or len(clip.frame_chunks) != t:
            raise StoreError(
                f"{clip_id}: {len(clip.frame_chunks)} encoded frames for shape {clip.frames_shape}",
                file=self.path,
            )
        if record["n_frames"] != t or len(record["frame_numbers"]) != t:
            raise StoreError(
                f"{clip_id}: n_frames/frame_numbers disagree with {t} frames", file=self.path
            )
        group = self._file.create_group(layout.clip_path(clip_id))
        layout.write_encoded_frames(
            group, stages.FRAMES, clip.frames_shape, clip.frame_chunks, clip.compression
        )
        layout.write_array(group, stages.LANDMARKS, clip.landmarks)
        group.attrs["record"] = canonical_json(record)
        group.attrs["digest"] = clip.digest
        self._member_added(clip_id, clip.digest)
        return clip.digest

    @property
    def n_clips(self) -> int:
        return self.n_members


class StageWriter:
    """Adds one stage's arrays (``crop-au``, ``flow``, ...) to every clip of an open store copy.

    Re-running a stage replaces its own arrays and nothing else. The stage fingerprint is
    sha256 over (clip_id, digest of that clip's stage arrays) in index order.
    """

    def __init__(self, file: h5py.File, stage: str):
        self.file = file
        self.stage = stage
        self._digests: dict[str, str] = {}
        self.arrays: set[str] = set()
        self.clip_info: dict[str, dict[str, Any]] = {}

    def write(self, clip_id: str, name: str, arr: NDArray[Any]) -> None:
        """Write array ``name`` (a path like ``au/frames``) into the clip's group."""
        group = self.file[layout.clip_path(clip_id)]
        parent, _, leaf = name.rpartition("/")
        target = group.require_group(parent) if parent else group
        layout.write_array(target, leaf, arr)
        self.arrays.add(name)

    def set_clip_info(self, clip_id: str, info: Mapping[str, Any]) -> None:
        """Per-clip metadata of this stage (e.g. which AU rule was used), stored as JSON."""
        self.clip_info[clip_id] = dict(info)
        self.file[layout.clip_path(clip_id)].attrs[f"stage:{self.stage}"] = canonical_json(info)

    def fingerprint(self, clip_ids: list[str]) -> str:
        items = []
        for cid in clip_ids:
            h = hashlib.sha256()
            group = self.file[layout.clip_path(cid)]
            for name in sorted(self.arrays):
                if name in group:
                    array_digest_update(h, name, group[name][()])
            info = group.attrs.get(f"stage:{self.stage}")
            if info is not None:
                h.update(str(info).encode())
            items.append((cid, h.hexdigest()))
        return combined_digest(items)


@contextmanager
def modify_store(
    path: Path | str, stage: str, command: str, params: Mapping[str, Any]
) -> Iterator[StageWriter]:
    """Open a copy of the store for adding stage ``stage``; replace the original on success.

    Previous output of the same stage is removed first, so re-running a command replaces its
    own arrays without touching anything else. On any exception the original is untouched.
    Callers should hold :func:`merprep.store.lock.store_lock` around this.
    """
    path = Path(path)
    with ClipStore(path) as store:  # version checks before we copy
        errors = root_errors(store.attrs)
        if errors:  # adding to a store with broken metadata would only hide the damage
            raise StoreError(
                "root attributes do not match the schema ("
                + "; ".join(errors)
                + "); see `merprep validate`",
                file=path,
            )
        old_stage = store.stages.get(stage)
        ids = store.clip_ids
    tmp = new_temp_path(path)
    try:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            if old_stage:
                for cid in ids:
                    group = f[layout.clip_path(cid)]
                    for name in old_stage.get("arrays", []):
                        if name in group:
                            del group[name]
                    group.attrs.pop(f"stage:{stage}", None)
            writer = StageWriter(f, stage)
            yield writer
            stages = decode_root_attrs({"stages": f.attrs.get("stages", "{}")})["stages"]
            stages[stage] = {
                "command": command,
                "params": dict(params),
                "created": utc_now(),
                "merprep_version": __version__,
                "arrays": sorted(writer.arrays),
                "fingerprint": writer.fingerprint(ids),
            }
            f.attrs["stages"] = canonical_json(stages)
            errors = root_errors(decode_root_attrs(dict(f.attrs)))
            if errors:
                raise StoreError(
                    "store metadata does not match the schema after adding stage "
                    f"{stage!r}: " + "; ".join(errors),
                    file=path,
                )
        # HDF5 never reclaims the space of deleted datasets: repack when a stage was replaced.
        if old_stage:
            _repack(tmp)
        commit_file(tmp, path, durable=True)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = _no_room(exc)
        if reason is None:
            raise
        raise StoreError(
            f"cannot write the store with stage {stage!r} ({reason}); the store is unchanged: "
            "free space and run the command again",
            file=path,
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: write failures that say the disk (or the file-size limit) has no room for the new version
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _no_room(exc: OSError) -> str | None:
    """The OS reason of a write failure for lack of room (h5py puts the errno in its text),
    else None (any other error is re-raised as it is)."""
    code = exc.errno
    if code is None:
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    return os.strerror(code) if code in _NO_ROOM else None


def _repack(path: Path) -> None:
    """Copy every object into a fresh file so space freed by deleted arrays is returned."""
    fresh = new_temp_path(path)
    try:
        with h5py.File(path, "r") as src, h5py.File(fresh, "w") as dst:
            for k, v in src.attrs.items():
                dst.attrs[k] = v
            for name in src:
                src.copy(src[name], dst, name=name)
        # replaces a temporary file, not the store: the commit that follows is the durable one
        commit_file(fresh, path, durable=False)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
