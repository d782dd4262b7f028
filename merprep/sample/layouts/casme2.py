"""CASME II as released: ``CASME2_RAW_selected/subNN/EPxx_yy[f]/img{n}.jpg`` beside
``CASME2-coding-20190701.xlsx`` (so the dataset root is ``out`` itself).

Frames are 640x480 colour JPEGs at 200 fps; each clip folder holds onset..offset, numbered from
a random start without zero padding. The coding sheet ``Sheet1`` has the nine columns of the real
file, including the two unnamed blank ones; quirks reproduced: 1 row in 8 has its apex written
``/``, a lone AU is stored as a number (``4``) and combinations as text (``4+7``, ``R12``).
"""

from __future__ import annotations

from merprep.errors import MerprepError
from merprep.sample.aus import L, R, aus
from merprep.sample.layouts.common import (
    ANIMATION,
    AU4,
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
    write_image,
    write_xlsx,
)
from merprep.sample.megc import listed

FRAME_SIZE = (640, 480)
FACE_WIDTH = 225.0  # faces about 280x340 px in the frame; jaw-to-jaw about 225
FPS = 200.0
FRAMES_FOLDER = "CASME2_RAW_selected"
ANNOTATION = "CASME2-coding-20190701.xlsx"
HEADER = (
    "Subject",
    "Filename",
    None,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,
    "Action Units",
    "Estimated Emotion",
)

VOCABULARY = Vocabulary(
    emotions=(
        EmotionSpec("happiness", "positive", AU12, (aus(12), aus(R(12)), aus(L(12)))),
        EmotionSpec("surprise", "surprise", BROW_RAISE, (aus(1, 2), aus(1, 2), aus(R(1), R(2)))),
        EmotionSpec("disgust", "negative", AU4, (aus(4, 7), aus(4), aus(R(4)))),
        EmotionSpec(
            "repression", "negative", LIP_DOWN, (aus(15), aus(14), aus(R(14)), aus(15, 17))
        ),
        EmotionSpec("fear", None, AU4, (aus(1, 2, R(4)), aus(4, 7))),
        EmotionSpec("sadness", None, AU4, (aus(4, 15), aus(R(4), 15))),
        EmotionSpec("others", None, OTHER, (aus(14), aus(17), aus(L(10), R(12)), aus(R(14)))),
    ),
    extra_order=(
        ("others", OTHER),
        ("fear", AU4),
        ("sadness", AU4),
        ("repression", LIP_DOWN),
        ("disgust", AU4),
        ("happiness", AU12),
        ("surprise", BROW_RAISE),
    ),
)


def clip_names(rng, n: int) -> list[str]:
    """``n`` distinct clip names ``EPxx_yy`` (episode 01-19, clip 01-09), some with an ``f``."""
    if n > 19 * 9:
        raise MerprepError(f"CASME II clip names allow at most {19 * 9} clips per subject")
    pairs: list[tuple[int, int]] = []
    while len(pairs) < n:
        pair = (int(rng.integers(1, 20)), int(rng.integers(1, 10)))
        if pair not in pairs:
            pairs.append(pair)
    pairs.sort()
    return [f"EP{ep:02d}_{k:02d}{'f' if rng.random() < 0.4 else ''}" for ep, k in pairs]


def subjects(ctx: SampleContext) -> list[tuple[str, list[EmotionSpec], list[str]]]:
    """(subject, emotions, clip names) of each subject: made up, or (``--megc``) the first
    subjects and clips of the official MEGC2019 list with its 3-class groups."""
    if ctx.megc:
        return [
            (subject, [VOCABULARY.for_group(g, k) for k, (_, g) in enumerate(clips)],
             [name for name, _ in clips])
            for subject, clips in listed("casme2", ctx.subjects, ctx.clips_per_subject)
        ]  # fmt: skip
    return [
        (
            f"sub{s + 1:02d}",
            VOCABULARY.schedule(ctx.clips_per_subject, s, ctx.rng(s, SCHEDULE)),
            clip_names(ctx.rng(s, PLAN), ctx.clips_per_subject),
        )
        for s in range(ctx.subjects)
    ]


def plan_clips(ctx: SampleContext) -> list[ClipPlan]:
    plans: list[ClipPlan] = []
    for s, (subject, emotions, names) in enumerate(subjects(ctx)):
        for c, (emotion, name) in enumerate(zip(emotions, names)):
            rng = ctx.rng(s, c, PLAN)
            n = ctx.clip_length or int(rng.integers(40, 71))
            start = int(rng.integers(1, 300))
            onset, apex, offset = clip_span(rng, n, apex_fraction=emotion.apex_fraction)
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
                    fps=FPS,
                    source=f"{FRAMES_FOLDER}/{subject}/{name}",
                )
            )
    return ctx.number_rows(plans, first_row=2, hide_apex_every=8, missing="/")


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
        folder = ctx.out / plan.source
        for number, image in recording.frames(plan.frames):
            write_image(folder / f"img{number}.jpg", image)
        truth.append(recording.truth(ctx.dataset))
        ctx.clip_done()
    rows = [HEADER] + [
        (
            int(p.subject[3:]),
            p.clip,
            None,
            p.onset,
            p.apex_written,
            p.offset,
            None,
            au_cell(p.aus),
            p.emotion,
        )
        for p in plans
    ]
    annotation = ctx.out / ANNOTATION
    write_xlsx(annotation, [("Sheet1", rows)])
    return LayoutResult(root=ctx.out, annotation_file=annotation, clips=truth)
