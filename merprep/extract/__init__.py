"""``merprep extract``: dataset as shipped -> validated clip records -> face clips -> clip store.

Three phases, so that bad input costs seconds rather than hours:

1. **Plan** (:mod:`~merprep.extract.plan`): the adapter reads the annotation file; every record
   is resolved to its frames on disk; every problem (bad cell, missing folder or frame, onset
   after offset, unknown emotion, duplicate clip id) is collected. Unless ``skip_invalid``, any
   problem stops here with the full list and nothing is written.
2. **Process** (:mod:`~merprep.extract.clip`, in worker processes): decode the onset frame, find
   the landmarks once, compute one crop transform for the whole clip, decode the sampled frames
   (at reduced size when the source is much larger than the output), warp, and stage the clip
   on disk. Workers run in parallel across clips; a clip that fails (corrupt frame, no face) is
   reported, or recorded as skipped with ``skip_invalid``.
3. **Write** (:mod:`~merprep.extract.run`): one writer merges the staged clips, in clip-id
   order, into the HDF5 store while later clips are still in the workers (atomic rename at the
   end). ``resume`` reuses clips staged by an interrupted run.

:class:`ExtractConfig` (:mod:`~merprep.extract.config`) holds every parameter;
:func:`drift_summary` (:mod:`~merprep.extract.drift`) reports tracked landmarks.
"""

from merprep.extract.clip import choose_reduce, landmark_drift, process_clip, track_landmarks
from merprep.extract.config import ExtractConfig
from merprep.extract.drift import drift_summary
from merprep.extract.plan import ClipTask, plan_extraction
from merprep.extract.run import ExtractResult, extract

__all__ = [
    "ClipTask",
    "ExtractConfig",
    "ExtractResult",
    "choose_reduce",
    "drift_summary",
    "extract",
    "landmark_drift",
    "plan_extraction",
    "process_clip",
    "track_landmarks",
]
