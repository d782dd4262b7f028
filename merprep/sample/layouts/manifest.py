"""The project's own manifest format, for users' recordings: ``manifest.csv`` beside the clips.

``manifest.csv`` has the header ``dataset,subject,clip,source,onset,apex,offset,emotion,aus,fps``;
``source`` is a frames folder or a video, relative to the manifest's folder (the dataset root).
Folders hold ``frame_000123.jpg`` (640x480, 6-digit frame numbers) and onset/apex/offset are
those numbers; one clip is a video (``videos/<subject>_<clip>.mp4``) whose onset/apex/offset
are 0-based frame indices. 1 row in 6 leaves the apex empty. Emotions are plain words (a user
maps them to classes); AUs are written like ``1+2`` or ``R12``.
"""

from __future__ import annotations

from merprep.sample.aus import L, R, aus
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
    clip_span,
    write_csv,
    write_image,
    write_video,
)

DATASET_NAME = "mydata"
MANIFEST = "manifest.csv"
HEADER = (
    "dataset",
    "subject",
    "clip",
    "source",
    "onset",
    "apex",
    "offset",
    "emotion",
    "aus",
    "fps",
)
FRAME_SIZE = (640, 480)
FACE_WIDTH = 225.0
FOLDER_FPS = 100.0
VIDEO_FPS = 30.0
#: (subject index, clip index) of the clip written as a video instead of a frames folder
VIDEO_CLIP = (0, 1)

VOCABULARY = Vocabulary(
    emotions=(
        EmotionSpec("happiness", "positive", AU12, (aus(12), aus(R(12)), aus(L(12)))),
        EmotionSpec("surprise", "surprise", BROW_RAISE, (aus(1, 2),)),
        EmotionSpec("anger", "negative", AU4, (aus(4), aus(4, 7))),
        EmotionSpec("disgust", "negative", AU9_10, (aus(9), aus(10), aus(9, 10))),
        EmotionSpec("fear", "negative", AU4, (aus(1, 2, 4),)),
        EmotionSpec("sadness", "negative", LIP_DOWN, (aus(15), aus(15, 17))),
        EmotionSpec("others", None, OTHER, (aus(14), aus(17))),
    ),
    extra_order=(
        ("others", OTHER),
        ("fear", AU4),
        ("sadness", LIP_DOWN),
        ("anger", AU4),
        ("disgust", AU9_10),
        ("happiness", AU12),
        ("surprise", BROW_RAISE),
    ),
)


def plan_clips(ctx: SampleContext) -> list[ClipPlan]:
    plans: list[ClipPlan] = []
    for s in range(ctx.subjects):
        subject = f"p{s + 1:02d}"
        emotions = VOCABULARY.schedule(ctx.clips_per_subject, s, ctx.rng(s, SCHEDULE))
        for c, emotion in enumerate(emotions):
            rng = ctx.rng(s, c, PLAN)
            name = f"clip{c + 1:02d}"
            n = ctx.clip_length or int(rng.integers(30, 51))
            onset, apex, offset = clip_span(rng, n, apex_fraction=emotion.apex_fraction)
            if (s, c) == VIDEO_CLIP:
                start, fps, source = 0, VIDEO_FPS, f"videos/{subject}_{name}.mp4"
            else:
                start, fps = int(rng.integers(0, 2000)), FOLDER_FPS
                source = f"frames/{subject}/{name}"
            plans.append(
                ClipPlan(
                    subject=subject,
                    subject_index=s,
                    clip_index=c,
                    clip=name,
                    emotion=emotion.word,
                    aus=emotion.pick_aus(rng),
                    onset=start + onset,
                    apex=start + apex,
                    offset=start + offset,
                    frames=list(range(start, start + n)),
                    fps=fps,
                    source=source,
                )
            )
    return ctx.number_rows(plans, first_row=2, hide_apex_every=6, missing="")


def write(ctx: SampleContext) -> LayoutResult:
    plans = plan_clips(ctx)
    truth = []
    for plan in plans:
        s = plan.subject_index
        recording = ctx.record(
            ctx.render(s, FRAME_SIZE, FACE_WIDTH, plan.clip_index),
            [plan],
            s,
            plan.clip_index,
            ANIMATION,
        )
        if plan.source.endswith(".mp4"):
            frames = (image for _, image in recording.frames(plan.frames))
            write_video(ctx.out / plan.source, frames, plan.fps, FRAME_SIZE)
        else:
            for number, image in recording.frames(plan.frames):
                write_image(ctx.out / plan.source / f"frame_{number:06d}.jpg", image)
        truth.append(recording.truth(DATASET_NAME))
        ctx.clip_done()
    manifest = ctx.out / MANIFEST
    write_csv(
        manifest,
        HEADER,
        [
            (
                DATASET_NAME,
                p.subject,
                p.clip,
                p.source,
                p.onset,
                p.apex_written,
                p.offset,
                p.emotion,
                p.aus,
                f"{p.fps:g}",
            )
            for p in plans
        ],
    )
    return LayoutResult(root=ctx.out, annotation_file=manifest, clips=truth)
