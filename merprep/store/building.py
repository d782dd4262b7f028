"""What every store writer shares (clip stores and long-video stores): a temporary HDF5 file
beside the target, one digest per member, the members left out, and a commit that writes the
index, checks the root attributes against the schema and renames the file into place.

An interrupted run (exception, Ctrl-C, SIGKILL) never leaves a file at the target path that
looks complete: the target either keeps its previous content or does not exist.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from merprep import __version__
from merprep.errors import StoreError
from merprep.fsio import commit_file
from merprep.jsonutil import canonical_json
from merprep.store import layout
from merprep.store.digest import combined_digest
from merprep.store.tempfiles import new_temp_path

log = logging.getLogger(__name__)


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


class AtomicStoreBuilder:
    """Base of the store writers. Subclasses say what a member is called (``member``: "clip" or
    "video", its id key ``<member>_id`` and the ``n_<member>s`` count), the group members live
    in, and how root attributes are checked and encoded; they add members with their own
    ``add_*`` methods, calling :meth:`_member_added` with each digest."""

    member: str = "clip"
    group: str = layout.CLIPS
    format_name: str = ""
    schema_version: str = ""

    def __init__(self, path: Path | str, provenance: Mapping[str, Any]):
        self.path = Path(path)
        self.provenance = dict(provenance)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = new_temp_path(self.path)
        self._file = h5py.File(self._tmp, "w")
        self._file.create_group(self.group)
        self._digests: dict[str, str] = {}
        self._skipped: list[dict[str, Any]] = []
        self.fingerprint: str | None = None

    # -- subclass hooks --------------------------------------------------------------------
    def root_errors(self, attrs: Mapping[str, Any]) -> list[str]:
        """Schema problems of the root attributes (none: valid)."""
        raise NotImplementedError

    def encode_attrs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Root attributes as HDF5 holds them (nested values as canonical JSON)."""
        return {
            k: canonical_json(v) if isinstance(v, (dict, list)) else v for k, v in attrs.items()
        }

    def extra_attrs(self) -> dict[str, Any]:
        """Root attributes a subclass adds at commit (clip stores: an empty ``stages``)."""
        return {}

    # -- members ---------------------------------------------------------------------------
    def _check_new(self, member_id: str) -> None:
        if member_id in self._digests:
            raise StoreError(f"duplicate {self.member} id {member_id!r}", file=self.path)

    def _member_added(self, member_id: str, digest: str) -> None:
        self._digests[member_id] = digest

    def skip(
        self, member_id: str, reason: str, file: str | None = None, row: int | None = None
    ) -> None:
        """Record a member left out (``--skip-invalid``) with its reason."""
        self._skipped.append(
            {f"{self.member}_id": member_id, "reason": reason, "file": file, "row": row}
        )

    @property
    def n_members(self) -> int:
        return len(self._digests)

    # -- finishing -------------------------------------------------------------------------
    def commit(self) -> str:
        """Write the index and root attributes, validate, and atomically move into place."""
        ids = sorted(self._digests)
        self.fingerprint = combined_digest((m, self._digests[m]) for m in ids)
        attrs = {
            "format": self.format_name,
            "schema_version": self.schema_version,
            "created": utc_now(),
            "merprep_version": __version__,
            **self.provenance,
            "fingerprint": self.fingerprint,
            f"n_{self.member}s": len(ids),
            "n_skipped": len(self._skipped),
        }
        for k, v in self.extra_attrs().items():
            attrs.setdefault(k, v)
        errors = self.root_errors(attrs)
        if errors:
            self.abort()
            raise StoreError(
                "store metadata does not match the schema: " + "; ".join(errors), file=self.path
            )
        f = self._file
        strings = h5py.string_dtype("utf-8")
        f.create_dataset(layout.INDEX, data=np.array(ids, dtype=object), dtype=strings)
        f.create_dataset(layout.SKIPPED, data=canonical_json(self._skipped), dtype=strings)
        for k, v in self.encode_attrs(attrs).items():
            f.attrs[k] = v
        f.close()
        # durable: once this returns the store survives a power cut, not only a killed process
        commit_file(self._tmp, self.path, durable=True)
        log.info(
            "wrote %s: %d %ss, fingerprint %s",
            self.path,
            len(ids),
            self.member,
            self.fingerprint[:12],
        )
        return self.fingerprint

    def abort(self) -> None:
        """Discard the temporary file (the target is untouched)."""
        try:
            self._file.close()
        except Exception:  # already closed
            pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
