"""Real-life Deception Detection (2016) as released: ``Real-life_Deception_Detection_2016/``
holding ``Clips/Deceptive/trial_lie_001.mp4``, ``Clips/Truthful/trial_truth_001.mp4`` and
``Annotation/All_Gestures_Deceptive and Truthful.csv``. The dataset root is that folder.

Videos are MPEG-4 (``mp4v``) written by OpenCV, at 25 or 30 fps and 640x480 or 480x360 varying
by clip, as the real courtroom clips vary. The gesture CSV has ``id`` (the video file name), the
39 binary MUMIN gesture columns of the real file and ``class`` (deceptive/truthful).

Subjects here are speakers, each rendered once and speaking in several clips. The real dataset
names no speakers, so users must supply a subjects map; ``speakers.csv`` (``id,subject``) beside
``Annotation/`` is an example of that file (not part of the real release). Deceptive clips carry
a negative-like micro-expression (a frown, AU4, or lip corners pulled down or tightened, AU15 /
AU14), truthful ones a smile (AU12): the lip corners move in both classes, in opposite directions.
The gesture flags agree with the motion (Smile for AU12, Frown for AU4, lipsDown for AU15...).
Onset/apex/offset in the truth file are 0-based frame indices.
"""

from __future__ import annotations

import numpy as np

from merprep.sample.aus import AUText, L, R, aus
from merprep.sample.layouts.common import (
    ANIMATION,
    APEX_FRACTION,
    AU4,
    AU12,
    LIP_DOWN,
    PLAN,
    SCHEDULE,
    ClipPlan,
    LayoutResult,
    SampleContext,
    clip_span,
    write_csv,
    write_video,
)

DATASET_FOLDER = "Real-life_Deception_Detection_2016"
ANNOTATION = "Annotation/All_Gestures_Deceptive and Truthful.csv"
SUBJECTS_MAP = "speakers.csv"
FRAME_SIZES = ((640, 480), (480, 360))
FACE_WIDTH_PER_HEIGHT = 180.0 / 480  # speakers' faces are smaller than in the lab datasets
FRAME_RATES = (25.0, 30.0)

#: The gesture columns of the real CSV, grouped as the MUMIN scheme groups them; within a group
#: an annotator marks one behaviour.
GESTURE_GROUPS = {
    "facial": ("OtherGestures", "Smile", "Laugh", "Scowl"),
    "eyebrows": ("otherEyebrowMovement", "Frown", "Raise"),
    "eyes": ("OtherEyeMovements", "Close-R", "X-Open", "Close-BE"),
    "gaze": ("gazeInterlocutor", "gazeDown", "gazeUp", "otherGaze", "gazeSide"),
    "mouth_openness": ("openMouth", "closeMouth"),
    "lips": ("lipsDown", "lipsUp", "lipsRetracted", "lipsProtruded"),
    "head": (
        "SideTurn",
        "downR",
        "sideTilt",
        "backHead",
        "otherHeadM",
        "sideTurnR",
        "sideTiltR",
        "waggle",
        "forwardHead",
        "downRHead",
    ),
    "hands": (
        "singleHand",
        "bothHands",
        "otherHandM",
        "complexHandM",
        "sidewaysHand",
        "downHands",
        "upHands",
    ),
}
GESTURES = tuple(g for group in GESTURE_GROUPS.values() for g in group)
assert len(GESTURES) == 39

#: Motions by class, (family, AU choices): deceptive clips alternate the two negative families.
DECEPTIVE_AUS = ((AU4, (aus(4), aus(4, 7))), (LIP_DOWN, (aus(15), aus(14), aus(15, 17))))
TRUTHFUL_AUS = (AU12, (aus(12), aus(R(12)), aus(L(12))))


def gesture_flags(rng: np.random.Generator, animated: AUText) -> dict[str, int]:
    """One behaviour per MUMIN group, the facial ones agreeing with the animated AUs."""
    codes = {au.code for au in animated.aus()}
    if 4 in codes:
        eyebrows = "Frown"
    elif codes & {1, 2}:
        eyebrows = "Raise"
    else:
        eyebrows = "otherEyebrowMovement"
    if codes & {10, 12}:
        lips = "lipsUp"
    elif 15 in codes:
        lips = "lipsDown"
    elif 14 in codes:
        lips = "lipsRetracted"
    else:
        lips = str(rng.choice(GESTURE_GROUPS["lips"]))
    chosen = {
        "facial": "Smile" if 12 in codes else "Scowl" if codes & {4, 9, 10} else "OtherGestures",
        "eyebrows": eyebrows,
        "lips": lips,
    }
    for group in ("eyes", "gaze", "mouth_openness", "head", "hands"):
        if group in ("head", "hands") and rng.random() < 0.3:
            continue  # no head/hand movement coded in this clip
        chosen[group] = str(rng.choice(GESTURE_GROUPS[group]))
    return {g: int(g in chosen.values()) for g in GESTURES}


def plan_clips(ctx: SampleContext) -> list[tuple[ClipPlan, tuple[int, int]]]:
    """Each clip's plan and the frame size (width, height) its video is recorded at."""
    plans: list[tuple[ClipPlan, tuple[int, int]]] = []
    counters = {"deceptive": 0, "truthful": 0}
    for s in range(ctx.subjects):
        subject = f"speaker{s + 1:02d}"
        n = ctx.clips_per_subject
        labels = ["deceptive"] * ((n + 1) // 2) + ["truthful"] * (n // 2)
        labels = [labels[i] for i in ctx.rng(s, SCHEDULE).permutation(n)]
        n_deceptive = 0
        for c, label in enumerate(labels):
            rng = ctx.rng(s, c, PLAN)
            counters[label] += 1
            if label == "deceptive":
                family, aus_choices = DECEPTIVE_AUS[(s + n_deceptive) % 2]
                n_deceptive += 1
                name = f"trial_lie_{counters[label]:03d}"
                folder = "Clips/Deceptive"
            else:
                family, aus_choices = TRUTHFUL_AUS
                name = f"trial_truth_{counters[label]:03d}"
                folder = "Clips/Truthful"
            chosen = aus_choices[int(rng.integers(len(aus_choices)))]
            size = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
            fps = FRAME_RATES[int(rng.integers(len(FRAME_RATES)))]
            n_frames = ctx.clip_length or int(rng.integers(45, 76))
            length = min(int(rng.integers(8, 15)), n_frames)  # the micro-expression itself
            lead = int(rng.integers(0, n_frames - length + 1))
            onset, apex, offset = clip_span(
                rng, n_frames, lead, n_frames - lead - length, APEX_FRACTION[family]
            )
            plans.append(
                (
                    ClipPlan(
                        subject=subject,
                        subject_index=s,
                        clip_index=c,
                        clip=name,
                        emotion=label,
                        aus=chosen,
                        onset=onset,
                        apex=apex,
                        offset=offset,
                        frames=list(range(n_frames)),
                        fps=fps,
                        source=f"{folder}/{name}.mp4",
                        extra={"gestures": gesture_flags(rng, chosen)},
                    ),
                    size,
                )
            )
    return plans


def write(ctx: SampleContext) -> LayoutResult:
    root = ctx.out / DATASET_FOLDER
    truth = []
    for plan, size in plan_clips(ctx):
        s = plan.subject_index
        recording = ctx.record(
            ctx.render(s, size, FACE_WIDTH_PER_HEIGHT * size[1], plan.clip_index),
            [plan],
            s,
            plan.clip_index,
            ANIMATION,
        )
        frames = (image for _, image in recording.frames(plan.frames))
        write_video(root / plan.source, frames, plan.fps, size)
        truth.append(recording.truth(ctx.dataset))
        ctx.clip_done()
    # deceptive clips first, then truthful ones, each in number order
    ordered = sorted(truth, key=lambda t: (t["emotion"] != "deceptive", t["clip"]))
    for row, record in enumerate(ordered, start=2):
        record["annotation_row"] = row
    annotation = root / ANNOTATION
    write_csv(
        annotation,
        ("id",) + GESTURES + ("class",),
        [
            (f"{t['clip']}.mp4", *(t["gestures"][g] for g in GESTURES), t["emotion"])
            for t in ordered
        ],
    )
    subjects_map = root / SUBJECTS_MAP
    write_csv(
        subjects_map, ("id", "subject"), [(f"{t['clip']}.mp4", t["subject"]) for t in ordered]
    )
    return LayoutResult(
        root=root, annotation_file=annotation, clips=ordered, subjects_map=subjects_map
    )
