"""Per-clip staging for long writes, so a killed run can ``--resume``.

Workers write each finished clip as ``<store>.partial/clips/<key>.npz`` (hidden temporary name,
then rename, so a clip file is complete or absent). The single writer then merges the staged
clips in sorted order into the HDF5 store and removes the staging folder. The folder records the
run's parameters; resuming with different parameters is refused, because the result would mix
two configurations.

Staged files are renamed into place without fsync (``durable=False``): the folder is a
resumable cache, so a clip lost to a power cut is only processed again; the store itself is
committed durably.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from merprep.errors import StoreError
from merprep.fsio import atomic_write, atomic_write_with
from merprep.jsonutil import canonical_json
from merprep.store.codec import EncodedClip

log = logging.getLogger(__name__)


def staging_dir(store: Path) -> Path:
    return store.with_name(store.name + ".partial")


def _key(clip_id: str) -> str:
    return hashlib.sha1(clip_id.encode("utf-8")).hexdigest()[:20]


class ClipStaging:
    """The staging folder of one store write."""

    def __init__(self, store: Path | str, params: dict[str, Any], *, resume: bool):
        self.store = Path(store)
        self.dir = staging_dir(self.store)
        self.params_json = canonical_json(params)
        params_file = self.dir / "params.json"
        if self.dir.exists():
            if resume and params_file.is_file():
                if params_file.read_text("utf-8") != self.params_json:
                    raise StoreError(
                        "cannot --resume: the interrupted run used different "
                        f"parameters (see {params_file}); rerun without --resume "
                        "to start over",
                        file=self.store,
                    )
                log.info("resuming from %s (%d clips done)", self.dir, len(self.done()))
            else:
                if not resume:
                    log.info(
                        "discarding the unfinished run in %s (use --resume to continue it)",
                        self.dir,
                    )
                shutil.rmtree(self.dir)
        elif resume:
            log.info("nothing to resume for %s: starting from the beginning", self.store)
        (self.dir / "clips").mkdir(parents=True, exist_ok=True)
        (self.dir / "failed").mkdir(exist_ok=True)
        if not params_file.is_file():
            atomic_write(params_file, self.params_json, durable=False)  # a cache (module docstring)

    @classmethod
    def attach(cls, directory: Path | str) -> ClipStaging:
        """A handle on an existing staging folder (for worker processes; no parameter checks)."""
        obj = cls.__new__(cls)
        obj.dir = Path(directory)
        return obj

    def done(self) -> dict[str, Path]:
        """clip_id -> staged file, for clips finished (or failed) in this or an earlier run."""
        out: dict[str, Path] = {}
        for sub in ("clips", "failed"):
            for p in (self.dir / sub).iterdir():
                if p.name.startswith("."):
                    continue  # an unfinished temporary file
                out[self._clip_id_of(p)] = p
        return out

    @staticmethod
    def _clip_id_of(path: Path) -> str:
        if path.suffix == ".json":
            return str(json.loads(path.read_text("utf-8"))["clip_id"])
        with np.load(path, allow_pickle=False) as z:
            return str(json.loads(str(z["record"]))["clip_id"])

    def put_clip(self, clip: EncodedClip) -> None:
        """Stage one finished clip (encoded, so the writer only copies its chunks)."""
        path = self.dir / "clips" / f"{_key(clip.record['clip_id'])}.npz"
        arrays = clip.to_npz_arrays()

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.savez would add ".npz" to a path
                np.savez(fh, **arrays)

        atomic_write_with(path, write, durable=False)  # a cache (module docstring)

    def put_failure(self, clip_id: str, reason: str, file: str | None, row: int | None) -> None:
        path = self.dir / "failed" / f"{_key(clip_id)}.json"
        data = canonical_json({"clip_id": clip_id, "reason": reason, "file": file, "row": row})
        atomic_write(path, data, durable=False)

    def load(self, clip_id: str) -> EncodedClip | dict[str, Any]:
        """The staged clip, or ``{"failure": {...}}`` for a clip that failed."""
        failed = self.dir / "failed" / f"{_key(clip_id)}.json"
        if failed.is_file():
            return {"failure": json.loads(failed.read_text("utf-8"))}
        with np.load(self.dir / "clips" / f"{_key(clip_id)}.npz", allow_pickle=False) as z:
            return EncodedClip.from_npz(z)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
