"""The store's stages: what each one requires from a store, what it adds, and the command that
adds it; and the sources model inputs read. Every module that names a store array takes the name
from here (writer, stages, ``merprep show``, ``mertrain``'s input reader, the model registry).

``extract`` writes the base arrays of every clip; the later stages add arrays to the same clip
groups and record themselves under the store's ``stages`` attribute (see docs/clipstore.md)::

    extract   requires -                    adds frames, landmarks
    crop-au   requires frames, landmarks    adds au/frames, au/boxes
                                            (--mode all: au/<region>/frames, au/<region>/boxes)
    flow      requires frames, landmarks    adds flow/onset_apex (--pair sequence: flow/sequence)
    magnify   requires frames               adds magnified/frames
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# -- array names -------------------------------------------------------------------------------
FRAMES = "frames"
LANDMARKS = "landmarks"
AU_FRAMES = "au/frames"
AU_BOXES = "au/boxes"
FLOW_ONSET_APEX = "flow/onset_apex"
FLOW_SEQUENCE = "flow/sequence"
MAGNIFIED_FRAMES = "magnified/frames"


def au_region_frames(region: str) -> str:
    """``crop-au --mode all``: the clip of one named region."""
    return f"au/{region}/frames"


def au_region_boxes(region: str) -> str:
    return f"au/{region}/boxes"


def au_region_of(array: str, kind: str = "frames") -> str | None:
    """The region of an ``au/<region>/frames`` array name (``kind="boxes"``: of an
    ``au/<region>/boxes`` one); None for any other name."""
    parts = array.split("/")
    if len(parts) == 3 and parts[0] == "au" and parts[1] and parts[2] == kind:
        return parts[1]
    return None


# -- stages ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One step that writes arrays into every clip group of a store."""

    name: str
    command: str
    requires: tuple[str, ...]
    adds: tuple[str, ...]
    #: arrays added only under some options, with the option that adds them
    optional: Mapping[str, str]
    description: str


EXTRACT = Stage(
    "extract",
    "merprep extract",
    (),
    (FRAMES, LANDMARKS),
    {},
    "face clips and their landmarks, from the dataset as shipped",
)
CROP_AU = Stage(
    "crop-au",
    "merprep crop-au",
    (FRAMES, LANDMARKS),
    (AU_FRAMES, AU_BOXES),
    {
        "au/<region>/frames": "--mode all (instead of au/frames)",
        "au/<region>/boxes": "--mode all (instead of au/boxes)",
    },
    "action-unit region clips cut from the face frames",
)
FLOW = Stage(
    "flow",
    "merprep flow",
    (FRAMES, LANDMARKS),
    (FLOW_ONSET_APEX,),
    {FLOW_SEQUENCE: "--pair sequence"},
    "optical flow (u, v) and strain, onset to apex",
)
MAGNIFY = Stage(
    "magnify",
    "merprep magnify",
    (FRAMES,),
    (MAGNIFIED_FRAMES,),
    {},
    "Eulerian motion-magnified face frames",
)

STAGES: dict[str, Stage] = {s.name: s for s in (EXTRACT, CROP_AU, FLOW, MAGNIFY)}
#: the arrays every clip has from extract, in digest order
BASE_ARRAYS = EXTRACT.adds


def stage_writing(array: str) -> Stage:
    """The stage that adds ``array`` (``au/<region>/...`` included)."""
    for stage in STAGES.values():
        if array in stage.adds or array in stage.optional:
            return stage
    if array.startswith("au/"):
        return CROP_AU
    raise KeyError(f"no stage writes array {array!r}")


# -- sources a model input reads ---------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """What a model input reads from a store: one array per clip, written by one stage."""

    name: str
    array: str
    stage: str
    #: "uint8" clips are normalised by the trainer; "float32" stacks arrive normalised
    dtype: str
    description: str

    @property
    def command(self) -> str:
        return STAGES[self.stage].command


SOURCES: dict[str, Source] = {
    "face": Source("face", FRAMES, "extract", "uint8", "face clips (T, H, W, C)"),
    "au": Source("au", AU_FRAMES, "crop-au", "uint8", "AU-region clips (T, H, W, C)"),
    "flow": Source(
        "flow", FLOW_ONSET_APEX, "flow", "float32", "onset-apex (u, v, strain) stack (H, W, 3)"
    ),
    "magnified": Source(
        "magnified",
        MAGNIFIED_FRAMES,
        "magnify",
        "uint8",
        "motion-magnified face clips (T, H, W, C)",
    ),
}


# -- what ``merprep show --layer`` draws -------------------------------------------------------
#: layer -> the stage whose arrays it draws: the face frames (the layer is named after their
#: array), then each later stage's, under the name of the model source that reads them
LAYERS: dict[str, Stage] = {
    FRAMES: EXTRACT,
    **{src.name: STAGES[src.stage] for src in SOURCES.values() if src.stage != EXTRACT.name},
}


def missing_source_advice(source: Source, stages: Mapping[str, Any], store: str) -> str:
    """Why a store lacks ``source`` and what to run, given the store's ``stages`` attribute.

    A stage that ran with options that do not write the source (``crop-au --mode all`` writes
    per-region clips, not ``au/frames``) is named with the option to change, instead of
    telling the user to run a command that already ran.
    """
    ran = stages.get(source.stage)
    if ran is not None and source.array not in ran.get("arrays", []):
        params = ran.get("params") or {}
        if source.name == "au" and params.get("mode") == "all":
            return (
                f"this store's crop-au ran with --mode all, which writes one clip per region "
                f"(au/<region>/frames) and no {source.array}; rerun `{source.command} "
                f"{store} --mode rule` (or --mode union) for a single AU-region input"
            )
        return (
            f"this store's {source.stage} stage did not write {source.array} (its arrays: "
            f"{', '.join(ran.get('arrays', [])) or 'none'}); rerun `{source.command} {store}`"
        )
    return f"run `{source.command} {store}` first"
