"""CAS(ME)^3 part A as released: ``part_A/data/part_A_split/part_A/spNO.1/a/color/355.jpg`` (+
``depth/355.png``), annotation ``part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``.
The dataset root is ``out`` (the folder holding ``part_A/``).

Where the spreadsheet sits: the release keeps it in ``part_A/annotation/``, as public loaders
show (``CASME3/part_A/annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` beside
``part_A/data/...``); FORMATS.md does not say, so this follows them.

Frames are 1280x720 colour JPEGs at 30 fps named by frame number (no padding), with a 16-bit
depth PNG of the same number beside them (a static depth map per video: face ~0.7 m in front of
a backdrop at ~1.5 m). A stimulus-video folder (a-m) holds the whole stretch of video around its
micro-expressions: rest frames before the first onset and after the last offset. Quirks
reproduced: some videos hold two micro-expressions (two rows with the same Subject+Filename),
frames are dropped in places (gaps in the numbering, never at onset/apex/offset), every cell of
the sheet is text as in the real file, AU orders like ``2+1``, the odd ``Others`` capitalised.
Sheet ``label`` (columns copied from the real file) plus the empty ``Sheet1`` and ``Sheet3`` the
real workbook carries. Part C (mock crime) is not generated.
"""

from __future__ import annotations

import numpy as np

from merprep.sample.faces import Rendering
from merprep.sample.layouts.common import (AU4, AU9_10, AU12, ANIMATION, BROW_RAISE, OTHER, PLAN,
                                           SCHEDULE, ClipPlan, EmotionSpec, LayoutResult,
                                           Recording, SampleContext, Vocabulary, encode_image,
                                           objective_class, write_image, write_xlsx)

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
        EmotionSpec("happy", "positive", AU12, ("12", "R12", "L12")),
        EmotionSpec("surprise", "surprise", BROW_RAISE, ("1+2", "2+1")),
        EmotionSpec("anger", "negative", AU4, ("4", "4+7")),
        EmotionSpec("disgust", "negative", AU9_10, ("9", "R10", "9+10")),
        EmotionSpec("fear", "negative", AU4, ("4+1+2", "4")),
        EmotionSpec("sad", "negative", AU9_10, ("10+15", "15+10")),
        EmotionSpec("others", None, OTHER, ("14", "17", "L14")),
    ),
    extra_order=(("others", OTHER), ("anger", AU4), ("fear", AU4), ("sad", AU9_10),
                 ("disgust", AU9_10), ("happy", AU12), ("surprise", BROW_RAISE)),
)


def group_into_videos(rng: np.random.Generator, n_clips: int, force_pair: bool
                      ) -> list[list[int]]:
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
                onset, offset = position, position + length - 1
                apex = onset + int(round(rng.uniform(0.3, 0.6) * (length - 1)))
                apex = min(max(apex, onset + 1), offset - 1)
                word = emotion.word
                if word == "others" and rng.random() < 0.2:
                    word = "Others"  # the real sheet capitalises it a few times
                plans.append(ClipPlan(
                    subject=subject, subject_index=s, clip_index=c, clip=letter, emotion=word,
                    aus=emotion.pick_aus(rng), onset=onset, apex=apex, offset=offset, frames=[],
                    fps=FPS, source=f"{FRAMES_FOLDER}/{subject}/{letter}/color",
                    extra={"depth_source": f"{FRAMES_FOLDER}/{subject}/{letter}/depth",
                           "index_in_video": k + 1}))
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
        rendering = ctx.render(s, FRAME_SIZE, FACE_WIDTH)
        recording = Recording(rendering, plans, ctx.amplitude_px(rendering),
                              ctx.rng(s, 100 + v, ANIMATION))
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
        table.append((plan.subject, plan.clip, str(plan.onset), str(plan.apex), str(plan.offset),
                      plan.aus, ROMAN[objective_class(plan.au_codes) - 1], plan.emotion))
    annotation = ctx.out / ANNOTATION
    write_xlsx(annotation, [("label", table), ("Sheet1", []), ("Sheet3", [])])
    truth = [truth[i] for i in order]
    return LayoutResult(root=ctx.out, annotation_file=annotation, clips=truth)
