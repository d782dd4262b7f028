"""CAS(ME)^3 part A as released: ``part_A/data/part_A_split/part_A/spNO.1/a/color/355.jpg`` (+
``depth/355.png``), annotation ``part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``.
The dataset root is ``out`` (the folder holding ``part_A/``).

Where the spreadsheet sits: the release keeps it in ``part_A/annotation/``, as public loaders
show (``CASME3/part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` beside
``part_A/data/...``); docs/references.md#casme3 does not say, so this follows them.

Frames are 1280x720 colour JPEGs at 30 fps named by frame number (no padding), with a 16-bit
depth PNG of the same number beside them (a static depth map per video: face ~0.7 m in front of
a backdrop at ~1.5 m). A stimulus-video folder (a-m) holds the whole stretch of video around its
micro-expressions: rest frames before the first onset and after the last offset. Quirks
reproduced: some videos hold two micro-expressions (two rows with the same Subject+Filename),
frames are dropped in places (gaps in the numbering, never at onset/apex/offset), every cell of
the sheet is text as in the real file, AU orders like ``2+1``, the odd ``Others`` capitalised.
Sheet ``label`` (columns copied from the real file) plus the empty ``Sheet1`` and ``Sheet3`` the
real workbook carries.

Part C (mock crime) is written only by :func:`write_part_c` (not by ``merprep sample``, which
stays part A only): docs/references.md#casme3 gives the sheet (``mockCrimeME``:
``sub, count, onset, offset, au, emotion``, onset/offset = positions in the folder) but no folder
layout, so this follows the
layout the part C adapter assumes (``merprep.datasets.casme3``): one long recording per subject
in ``part_C/data/part_C_split/part_C/<sub>/color/<n>.jpg`` (file names = frame numbers from 1,
a few frames dropped, so positions and names differ), workbook
``part_C/annotation/CAS(ME)3_part_C_ME.xlsx``. Truth records give onset/apex/offset as
positions (from 0), the sheet's own numbering, plus the file numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from merprep.sample import TRUTH_FILE
from merprep.sample.aus import L, R, aus
from merprep.sample.faces import Rendering, load_photos
from merprep.sample.layouts.common import (
    ANIMATION,
    AU4,
    AU9_10,
    AU12,
    BROW_RAISE,
    LIP_DOWN,
    OTHER,
    PLAN,
    SCHEDULE,
    ClipPlan,
    EmotionSpec,
    LayoutResult,
    SampleContext,
    Vocabulary,
    au_cell,
    clip_span,
    encode_image,
    objective_class,
    write_image,
    write_xlsx,
)

FRAME_SIZE = (1280, 720)
FACE_WIDTH = 280.0
FPS = 30.0
FRAMES_FOLDER = "part_A/data/part_A_split/part_A"
ANNOTATION = "part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
HEADER = ("Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion")
VIDEOS = "abcdefghijklm"
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")

VOCABULARY = Vocabulary(
    emotions=(
        EmotionSpec("happy", "positive", AU12, (aus(12), aus(R(12)), aus(L(12)))),
        EmotionSpec("surprise", "surprise", BROW_RAISE, (aus(1, 2), aus(2, 1))),
        EmotionSpec("anger", "negative", AU4, (aus(4), aus(4, 7))),
        EmotionSpec("disgust", "negative", AU9_10, (aus(9), aus(R(10)), aus(9, 10))),
        EmotionSpec("disgust", "negative", LIP_DOWN, (aus(10, 15), aus(15, 10))),
        EmotionSpec("fear", "negative", AU4, (aus(4, 1, 2), aus(4))),
        EmotionSpec("sad", "negative", LIP_DOWN, (aus(15), aus(15, 17), aus(R(15)))),
        EmotionSpec("others", None, OTHER, (aus(14), aus(17), aus(L(14)))),
    ),
    extra_order=(
        ("others", OTHER),
        ("anger", AU4),
        ("fear", AU4),
        ("sad", LIP_DOWN),
        ("disgust", AU9_10),
        ("happy", AU12),
        ("surprise", BROW_RAISE),
    ),
)


def group_into_videos(rng: np.random.Generator, n_clips: int, force_pair: bool) -> list[list[int]]:
    """Which clips share a stimulus video: about a third of videos hold two (13 videos at most)."""
    groups: list[list[int]] = []
    for c in range(n_clips):
        pair = (force_pair and c == 1) or rng.random() < 0.35
        if groups and len(groups[-1]) == 1 and pair:
            groups[-1].append(c)
        else:
            groups.append([c])
    while len(groups) > len(VIDEOS):
        groups[-2].extend(groups.pop())
    return groups


def plan_videos(ctx: SampleContext) -> list[tuple[list[ClipPlan], list[int]]]:
    """Per stimulus video: its micro-expression plans and its full recorded timeline."""
    videos = []
    short = ctx.clip_length is not None
    for s in range(ctx.subjects):
        subject = f"spNO.{s + 1}"
        emotions = VOCABULARY.schedule(ctx.clips_per_subject, s, ctx.rng(s, SCHEDULE))
        subject_rng = ctx.rng(s, PLAN)
        groups = group_into_videos(subject_rng, ctx.clips_per_subject, force_pair=s == 0)
        letters = sorted(subject_rng.choice(list(VIDEOS), len(groups), replace=False))
        for v, (letter, group) in enumerate(zip(letters, groups)):
            rng = ctx.rng(s, 100 + v, PLAN)
            start = int(rng.integers(1, 400))
            position = start + int(rng.integers(2, 5) if short else rng.integers(3, 9))
            plans = []
            for k, c in enumerate(group):
                emotion = emotions[c]
                length = ctx.clip_length or int(rng.integers(8, 16))
                onset, apex, offset = (
                    position + f
                    for f in clip_span(rng, length, apex_fraction=emotion.apex_fraction)
                )
                word = emotion.word
                if word == "others" and rng.random() < 0.2:
                    word = "Others"  # the real sheet capitalises it a few times
                plans.append(
                    ClipPlan(
                        subject=subject,
                        subject_index=s,
                        clip_index=c,
                        clip=letter,
                        emotion=word,
                        aus=emotion.pick_aus(rng),
                        onset=onset,
                        apex=apex,
                        offset=offset,
                        frames=[],
                        fps=FPS,
                        source=f"{FRAMES_FOLDER}/{subject}/{letter}/color",
                        extra={
                            "depth_source": f"{FRAMES_FOLDER}/{subject}/{letter}/depth",
                            "index_in_video": k + 1,
                        },
                    )
                )
                position = offset + 1 + int(rng.integers(3, 9))
            end = plans[-1].offset + int(rng.integers(2, 5) if short else rng.integers(3, 9))
            timeline = list(range(start, end + 1))
            # never drop an annotated frame, nor the first/last frame (the margins stay visible)
            keys = {f for p in plans for f in (p.onset, p.apex, p.offset)}
            candidates = [f for f in timeline[1:-1] if f not in keys]
            n_drop = max(int(rng.integers(0, 3)), 1 if (s == 0 and v == 0) else 0)
            dropped = sorted(int(f) for f in rng.choice(candidates, n_drop, replace=False))
            written = [f for f in timeline if f not in dropped]
            for plan in plans:
                plan.frames = written
                plan.extra["dropped_frames"] = dropped
            videos.append((plans, timeline))
    return videos


def depth_map(rendering: Rendering) -> np.ndarray:
    """A static 16-bit depth image (mm): an ellipsoidal face ~0.7 m away before a backdrop."""
    width, height = rendering.size
    points = rendering.landmarks
    centre = points[[27, 30, 33, 51, 8]].mean(axis=0)
    half_w = 0.6 * rendering.face_width
    half_h = 0.8 * rendering.face_width
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - centre[0]) / half_w) ** 2 + ((yy - centre[1]) / half_h) ** 2
    backdrop = 1500.0 + 100.0 * yy / height
    face = 760.0 - 80.0 * np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    return np.where(r2 < 1.0, face, backdrop).astype(np.uint16)


def write(ctx: SampleContext) -> LayoutResult:
    truth = []
    rows = []
    for v, (plans, timeline) in enumerate(plan_videos(ctx)):
        s = plans[0].subject_index
        rendering = ctx.render(s, FRAME_SIZE, FACE_WIDTH, session=v)
        recording = ctx.record(rendering, plans, s, 100 + v, ANIMATION)
        color = ctx.out / plans[0].source
        depth = ctx.out / plans[0].extra["depth_source"]
        depth.mkdir(parents=True, exist_ok=True)
        depth_png = encode_image(depth_map(rendering), ".png")
        written = set(plans[0].frames)
        for number, image in recording.frames(timeline):
            if number in written:
                write_image(color / f"{number}.jpg", image)
                (depth / f"{number}.png").write_bytes(depth_png)
        for i, plan in enumerate(plans):
            truth.append(recording.truth(ctx.dataset, i))
            rows.append(plan)
            ctx.clip_done()
    # Like the real sheet: sorted by subject as text (spNO.1, spNO.10, spNO.2), video, onset.
    order = sorted(range(len(rows)), key=lambda i: (rows[i].subject, rows[i].clip, rows[i].onset))
    table = [HEADER]
    for excel_row, i in enumerate(order, start=2):
        plan = rows[i]
        plan.annotation_row = truth[i]["annotation_row"] = excel_row
        plan.apex_written = truth[i]["apex_annotated"] = str(plan.apex)
        table.append(
            (
                plan.subject,
                plan.clip,
                str(plan.onset),
                str(plan.apex),
                str(plan.offset),
                plan.aus,
                ROMAN[objective_class(plan.au_codes) - 1],
                plan.emotion,
            )
        )
    annotation = ctx.out / ANNOTATION
    write_xlsx(annotation, [("label", table), ("Sheet1", []), ("Sheet3", [])])
    truth = [truth[i] for i in order]
    return LayoutResult(root=ctx.out, annotation_file=annotation, clips=truth)


# --------------------------------------------------------------------------------------------
# Part C (mock crime): write_part_c only
# --------------------------------------------------------------------------------------------

PART_C_FRAMES = "part_C/data/part_C_split/part_C"
PART_C_ANNOTATION = "part_C/annotation/CAS(ME)3_part_C_ME.xlsx"
PART_C_HEADER = ("sub", "count", "onset", "offset", "au", "emotion")
#: random-stream keys of part C, apart from part A's (0..99 clips, 100+ videos)
_PART_C_KEY = 500

PART_C_VOCABULARY = Vocabulary(
    emotions=(
        EmotionSpec(
            "negative", "negative", AU4, (aus(4), aus(R(4), 5, sep=","), aus(4, 7, sep=","))
        ),
        EmotionSpec("negative", "negative", LIP_DOWN, (aus(15), aus(14), aus(15, 17, sep=","))),
        EmotionSpec("positive", "positive", AU12, (aus(12), aus(L(12)), aus(7, 12, sep=","))),
        EmotionSpec("surprise", "surprise", BROW_RAISE, (aus(1, 2, sep=","), aus(2, 1, sep=","))),
        EmotionSpec("others", None, OTHER, (aus(14), aus(17), aus(14, 24, sep=","))),
    ),
    extra_order=(
        ("others", OTHER),
        ("negative", AU4),
        ("positive", AU12),
        ("surprise", BROW_RAISE),
        ("negative", LIP_DOWN),
    ),
)


def plan_part_c(ctx: SampleContext) -> list[tuple[list[ClipPlan], list[int], list[int]]]:
    """Per subject: its micro-expression plans (times = file numbers), the recorded timeline
    and the frame numbers written (the timeline less a few dropped frames)."""
    subjects = []
    for s in range(ctx.subjects):
        emotions = PART_C_VOCABULARY.schedule(
            ctx.clips_per_subject, s, ctx.rng(_PART_C_KEY + s, SCHEDULE)
        )
        rng = ctx.rng(_PART_C_KEY + s, PLAN)
        position = 1 + int(rng.integers(2, 5))
        plans = []
        for c, emotion in enumerate(emotions):
            length = ctx.clip_length or int(rng.integers(8, 16))
            onset, apex, offset = (
                position + f for f in clip_span(rng, length, apex_fraction=emotion.apex_fraction)
            )
            plans.append(
                ClipPlan(
                    subject=f"sub{s + 1:02d}",
                    subject_index=s,
                    clip_index=c,
                    clip=f"me{c + 1:02d}",
                    emotion=emotion.word,
                    aus=emotion.pick_aus(rng),
                    onset=onset,
                    apex=apex,
                    offset=offset,
                    frames=[],
                    fps=FPS,
                    source=f"{PART_C_FRAMES}/{s + 1}/color",
                    extra={"sub": s + 1, "count": c + 1},
                )
            )
            position = offset + 1 + int(rng.integers(3, 9))
        timeline = list(range(1, position + int(rng.integers(1, 4))))
        keys = {f for p in plans for f in (p.onset, p.apex, p.offset)}
        candidates = [f for f in timeline[1 : plans[0].onset] if f not in keys]
        dropped = {int(f) for f in rng.choice(candidates, min(2, len(candidates)), replace=False)}
        written = [f for f in timeline if f not in dropped]
        for plan in plans:
            plan.frames = written
        subjects.append((plans, timeline, written))
    return subjects


def write_part_c(ctx: SampleContext) -> LayoutResult:
    """Write a part C sample beside (or instead of) part A in ``ctx.out``; see the docstring."""
    truth = []
    rows: list[tuple[Any, ...]] = [PART_C_HEADER]
    for plans, timeline, written in plan_part_c(ctx):
        s = plans[0].subject_index
        recording = ctx.record(
            ctx.render(s, FRAME_SIZE, FACE_WIDTH), plans, _PART_C_KEY + s, ANIMATION
        )
        color = ctx.out / plans[0].source
        kept = set(written)
        for number, image in recording.frames(timeline):
            if number in kept:
                write_image(color / f"{number}.jpg", image)
        position = {number: i for i, number in enumerate(written)}
        for i, plan in enumerate(plans):
            record = recording.truth("casme3c", i)
            record.update(
                onset=position[plan.onset],
                apex=position[plan.apex],
                offset=position[plan.offset],
                onset_file=plan.onset,
                apex_file=plan.apex,
                offset_file=plan.offset,
                apex_annotated=None,
                annotation_row=len(rows) + 1,
            )
            truth.append(record)
            rows.append(
                (
                    plan.extra["sub"],
                    plan.extra["count"],
                    position[plan.onset],
                    position[plan.offset],
                    au_cell(plan.aus),
                    plan.emotion,
                )
            )
            ctx.clip_done()
    annotation = ctx.out / PART_C_ANNOTATION
    write_xlsx(annotation, [("mockCrimeME", rows)])
    return LayoutResult(root=ctx.out, annotation_file=annotation, clips=truth)


def generate_part_c(
    out: Path,
    *,
    subjects: int = 2,
    clips_per_subject: int = 6,
    amplitude: float = 3.0,
    seed: int = 0,
    clip_length: int | None = None,
) -> LayoutResult:
    """Write a part C sample into the new folder ``out`` with ``merprep_sample_truth.json``
    (what :func:`merprep.sample.generate` does for the other layouts)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=False)
    ctx = SampleContext(
        dataset="casme3",
        out=out,
        subjects=subjects,
        clips_per_subject=clips_per_subject,
        amplitude=float(amplitude),
        seed=int(seed),
        clip_length=clip_length,
        modality="HS",
        photos=load_photos(),
    )
    result = write_part_c(ctx)
    document = {
        "dataset": "casme3c",
        "seed": int(seed),
        "amplitude": float(amplitude),
        "subjects": subjects,
        "clips_per_subject": clips_per_subject,
        "clip_length": clip_length,
        "root": ".",
        "annotation_file": PART_C_ANNOTATION,
        "clips": result.clips,
    }
    (out / TRUTH_FILE).write_text(json.dumps(document, indent=1) + "\n")
    return result
