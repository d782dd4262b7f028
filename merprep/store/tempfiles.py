"""The temporary files of store writes: hidden ``.NAME.tmp-XXXXXXXX`` files beside the target.

Every store write (a new store, a stage added to a copy, the repack of a replaced stage, which
makes ``..NAME.tmp-XXXXXXXX.tmp-YYYYYYYY``) builds under such a name and renames it over the
target at the end, so :func:`temp_files` can find what a killed writer left behind.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from merprep.fsio import temp_path_beside

TEMP_MARK = ".tmp-"
#: Stores get the mode ``open()`` would give them (0666 minus the umask), so colleagues on a
#: shared cluster can read them when the umask says so (``mkstemp`` alone gives 0600).
STORE_MODE = None


def new_temp_path(target: Path | str) -> Path:
    """Create an empty temporary file for a write to ``target`` (the one place they are made)."""
    target = Path(target)
    return temp_path_beside(target, prefix=f".{target.name}{TEMP_MARK}", suffix="", mode=STORE_MODE)


def temp_files(target: Path | str) -> list[Path]:
    """The temporary files of writes to ``target`` present now (a killed writer leaves its own
    behind; the next writer removes them once it holds the lock, see ``store_lock``)."""
    target = Path(target)
    rand = r"[a-z0-9_]{8}"  # tempfile.mkstemp's random part
    name = re.escape(target.name)
    mark = re.escape(TEMP_MARK)
    pattern = re.compile(rf"\.{name}{mark}{rand}|\.\.{name}{mark}{rand}{mark}{rand}")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    return sorted(
        target.parent / n for n in names if pattern.fullmatch(n) and (target.parent / n).is_file()
    )
