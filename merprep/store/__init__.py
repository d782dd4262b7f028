"""The HDF5 clip store: schema, atomic writer, reader (ClipStore), validation and locking."""

from merprep.store.lock import store_lock
from merprep.store.reader import ClipStore
from merprep.store.schema import FORMAT_NAME, SCHEMA_VERSION
from merprep.store.validate import validate_store
from merprep.store.writer import StageWriter, StoreWriter, modify_store

__all__ = [
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "ClipStore",
    "StageWriter",
    "StoreWriter",
    "modify_store",
    "store_lock",
    "validate_store",
]
