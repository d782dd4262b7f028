"""`merprep validate`: check a store's schema, checksums and cross-references, listing every problem."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from merprep import stages
from merprep.errors import Problem, StoreError
from merprep.store import layout
from merprep.store.attrs import decode_root_attrs
from merprep.store.digest import array_digest_update, clip_digest, combined_digest
from merprep.store.reader import ClipStore, open_hdf5
from merprep.store.schema import clip_errors, root_errors


def validate_store(path: Path | str, *, check_data: bool = True) -> list[Problem]:
    """Return every problem found in the store at ``path`` (empty when it is sound).

    Checks: the file opens as HDF5; root attributes match the schema and the supported version;
    the index and the clip groups agree; every clip record matches the schema and its arrays'
    shapes; with ``check_data`` every chunk is read (fletcher32), each clip's digest and the store
    fingerprint are recomputed, and every stage's arrays and fingerprint are checked.
    """
    path = Path(path)
    name = str(path)
    try:
        store = ClipStore(path)
    except StoreError as exc:
        # Report what we can about the root even when the reader refuses the file.
        found = [Problem(exc.message, file=name)]
        try:
            with open_hdf5(path) as f:
                attrs = decode_root_attrs(dict(f.attrs))
                found += [Problem(f"root attributes: {e}", file=name) for e in root_errors(attrs)]
        except StoreError:
            pass
        return found

    problems: list[Problem] = []
    with store:
        f = store._file
        attrs = store.attrs
        problems += [Problem(f"root attributes: {e}", file=name) for e in root_errors(attrs)]
        ids = store.clip_ids
        if len(set(ids)) != len(ids):
            problems.append(Problem("index lists a clip id twice", file=name))
        if ids != sorted(ids):
            problems.append(Problem("index is not sorted", file=name))
        on_disk = _clip_groups(f)
        for cid in sorted(set(on_disk) - set(ids)):
            problems.append(Problem("clip group not listed in the index", file=name, clip_id=cid))
        if attrs.get("n_clips") != len(ids):
            problems.append(
                Problem(
                    f"n_clips says {attrs.get('n_clips')} but the index lists {len(ids)}", file=name
                )
            )

        digests: list[tuple[str, str]] = []
        for cid in ids:
            digest = _check_clip(store, cid, attrs, check_data, problems)
            if digest is not None:
                digests.append((cid, digest))
        if check_data and len(digests) == len(ids):
            if combined_digest(digests) != attrs.get("fingerprint"):
                problems.append(Problem("store fingerprint does not match its content", file=name))
        if check_data:
            for stage, info in store.stages.items():
                _check_stage(store, stage, info, problems)
    return problems


def _clip_groups(f: h5py.File) -> list[str]:
    """Clip ids of every group holding a ``record`` attribute under /clips."""
    found: list[str] = []
    if layout.CLIPS not in f:
        return found

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Group) and "record" in obj.attrs:
            found.append(name)

    f[layout.CLIPS].visititems(visit)
    return found


def _check_clip(
    store: ClipStore, cid: str, attrs: dict[str, Any], check_data: bool, problems: list[Problem]
) -> str | None:
    name = str(store.path)
    try:
        group = store._file[layout.clip_path(cid)]
    except KeyError:
        problems.append(
            Problem("listed in the index but its group is missing", file=name, clip_id=cid)
        )
        return None
    raw = group.attrs.get("record")
    if raw is None:
        problems.append(Problem("missing record attribute", file=name, clip_id=cid))
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        problems.append(Problem("record attribute is not valid JSON", file=name, clip_id=cid))
        return None
    for e in clip_errors(record):
        problems.append(Problem(f"record: {e}", file=name, clip_id=cid))
    if record.get("clip_id") != cid:
        problems.append(
            Problem(f"record says clip_id {record.get('clip_id')!r}", file=name, clip_id=cid)
        )
    missing = [a for a in layout.BASE_ARRAYS if a not in group]
    if missing:
        problems.append(Problem(f"missing array(s): {', '.join(missing)}", file=name, clip_id=cid))
        return None
    frames_ds, lm_ds = group[stages.FRAMES], group[stages.LANDMARKS]
    t = frames_ds.shape[0] if frames_ds.ndim == 4 else -1
    if frames_ds.dtype != np.uint8 or frames_ds.ndim != 4:
        problems.append(
            Problem(
                f"frames must be uint8 (T,H,W,C), found {frames_ds.dtype} {frames_ds.shape}",
                file=name,
                clip_id=cid,
            )
        )
    else:
        expect = (attrs.get("frame_height"), attrs.get("frame_width"), attrs.get("channels"))
        # (a missing geometry attribute is reported once, with the root attributes)
        if None not in expect and frames_ds.shape[1:] != expect:
            problems.append(
                Problem(
                    f"frames are {frames_ds.shape[1:]}, store says {expect}", file=name, clip_id=cid
                )
            )
    if lm_ds.shape != (t, 68, 2):
        problems.append(
            Problem(f"landmarks shape {lm_ds.shape}, expected ({t}, 68, 2)", file=name, clip_id=cid)
        )
    if record.get("n_frames") != t or len(record.get("frame_numbers", [])) != t:
        problems.append(
            Problem(
                f"record says {record.get('n_frames')} frames, array holds {t}",
                file=name,
                clip_id=cid,
            )
        )
    if not check_data:
        return None
    arrays = {}
    for a in layout.BASE_ARRAYS:
        try:
            arrays[a] = group[a][()]
        except OSError as exc:
            problems.append(
                Problem(
                    f"array {a!r} is damaged: checksum or read error ({exc})",
                    file=name,
                    clip_id=cid,
                )
            )
    if len(arrays) != len(layout.BASE_ARRAYS):
        return None
    digest = clip_digest(record, arrays)
    if digest != group.attrs.get("digest"):
        problems.append(
            Problem(
                "content digest mismatch: frames, landmarks or record changed after writing",
                file=name,
                clip_id=cid,
            )
        )
    return digest


def _check_stage(
    store: ClipStore, stage: str, info: dict[str, Any], problems: list[Problem]
) -> None:
    name = str(store.path)
    items = []
    for cid in store.clip_ids:
        group = store._file.get(layout.clip_path(cid))
        if group is None:
            return
        h = hashlib.sha256()
        for arr_name in sorted(info.get("arrays", [])):
            if arr_name not in group:
                problems.append(
                    Problem(f"stage {stage!r}: array {arr_name!r} missing", file=name, clip_id=cid)
                )
                continue
            try:
                array_digest_update(h, arr_name, group[arr_name][()])
            except OSError as exc:
                problems.append(
                    Problem(
                        f"stage {stage!r}: array {arr_name!r} is damaged ({exc})",
                        file=name,
                        clip_id=cid,
                    )
                )
        extra = group.attrs.get(f"stage:{stage}")
        if extra is not None:
            h.update(str(extra).encode())
        items.append((cid, h.hexdigest()))
    if combined_digest(items) != info.get("fingerprint"):
        problems.append(
            Problem(f"stage {stage!r}: fingerprint does not match its arrays", file=name)
        )
