"""SAMM as released: ``SAMM/006/006_1_2/006_05562.jpg`` beside ``SAMM_Micro_FACS_Codes_v2.xlsx``
(the dataset root is ``out``).

Frames are 2040x1088 grayscale JPEGs (single channel) at 200 fps, named by subject and a 5-digit
absolute frame number; a clip folder holds the expression plus up to two rest frames each side.
Clip names are ``subject_inducement_count``. The spreadsheet has 13 preamble rows (title and
notes), the header on row 14 and data from row 15, columns as in the real file. Quirks reproduced:
Subject written as an integer (6), capitalised emotions, 1 apex in 10 written ``-1`` (with a
note), AU cells with ``A``/``R``/``L`` prefixes and ``or`` (``4 or 7``), a lone AU stored as a
number. ``Duration`` is offset - onset + 1 frames; ``Micro`` is ``Micro - 1/2`` (the wording the
SAMM long-video release uses; the exact wording in v2 is not documented publicly).
"""

from __future__ import annotations

from merprep.sample.aus import AU, A, L, R, aus, either
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
    objective_class,
    write_image,
    write_xlsx,
)
from merprep.sample.megc import listed

FRAME_SIZE = (2040, 1088)
FACE_WIDTH = 420.0
FPS = 200.0
FRAMES_FOLDER = "SAMM"
ANNOTATION = "SAMM_Micro_FACS_Codes_v2.xlsx"
HEADER = (
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Micro",
    "Action Units",
    "Estimated Emotion",
    "Objective Classes",
    "Notes",
)
PREAMBLE = (
    "SAMM - Spontaneous Actions and Micro-Movements: micro-movement FACS codes",
    "merprep sample in the layout of SAMM_Micro_FACS_Codes_v2.xlsx (generated, not real data)",
    None,
    "Subject: participant number; Filename: subject_inducement_count (the frames folder)",
    "Inducement Code: the stimulus that induced the movement",
    "Onset/Apex/Offset Frame: absolute frame numbers; -1 where the apex was not coded",
    "Duration: number of frames from onset to offset",
    "Action Units: FACS codes; R/L = right/left, A/B = FACS intensity, 'or' = uncertain",
    "Estimated Emotion: from the AUs, the stimulus and the participant's self-report",
    "Objective Classes: 1-7 (Davison et al., 2018)",
    None,
    "Recorded at 200 fps, 2040x1088 grayscale",
    None,
)

VOCABULARY = Vocabulary(
    emotions=(
        EmotionSpec("Happiness", "positive", AU12, (aus(12), aus(R(12)), aus(L(12)))),
        EmotionSpec("Surprise", "surprise", BROW_RAISE, (aus(1, 2), aus(A(1), A(2)))),
        EmotionSpec("Anger", "negative", AU4, (aus(4), aus(either(AU(4), AU(7))), aus(4, 7))),
        EmotionSpec("Contempt", "negative", LIP_DOWN, (aus(R(14)), aus(L(14)), aus(14, 15))),
        EmotionSpec("Disgust", "negative", AU9_10, (aus(9), aus(10), aus(9, 10))),
        EmotionSpec("Disgust", "negative", LIP_DOWN, (aus(10, 15), aus(R(10), 15))),
        EmotionSpec("Fear", "negative", AU4, (aus(1, 2, 4), aus(4))),
        EmotionSpec("Sadness", "negative", AU4, (aus(4, 15), aus(R(4), 15))),
        EmotionSpec("Other", None, OTHER, (aus(14), aus(17), aus(R(14)))),
    ),
    extra_order=(
        ("Other", OTHER),
        ("Anger", AU4),
        ("Contempt", LIP_DOWN),
        ("Fear", AU4),
        ("Sadness", AU4),
        ("Disgust", AU9_10),
        ("Happiness", AU12),
        ("Surprise", BROW_RAISE),
    ),
)


def plan_clips(ctx: SampleContext) -> list[ClipPlan]:
    plans: list[ClipPlan] = []
    megc = listed("samm", ctx.subjects, ctx.clips_per_subject) if ctx.megc else None
    for s in range(len(megc) if megc is not None else ctx.subjects):
        subject = f"{s + 6:03d}"  # SAMM numbers its participants from 006
        emotions = VOCABULARY.schedule(ctx.clips_per_subject, s, ctx.rng(s, SCHEDULE))
        subject_rng = ctx.rng(s, PLAN)
        inducements = sorted(int(i) for i in subject_rng.integers(1, 8, ctx.clips_per_subject))
        names: list[str] | None = None
        if megc is not None:  # the list's subject, clips (subject_inducement_count), groups
            subject = f"{int(megc[s][0]):03d}"
            names = [name for name, _ in megc[s][1]]
            emotions = [VOCABULARY.for_group(g, k) for k, (_, g) in enumerate(megc[s][1])]
            inducements = [int(name.split("_")[1]) for name in names]
        counts: dict[int, int] = {}
        frame = int(subject_rng.integers(1000, 4000))
        for c, (emotion, inducement) in enumerate(zip(emotions, inducements)):
            rng = ctx.rng(s, c, PLAN)
            counts[inducement] = counts.get(inducement, 0) + 1
            name = names[c] if names else f"{subject}_{inducement}_{counts[inducement]}"
            n = ctx.clip_length or int(rng.integers(30, 51))
            lead, tail = (int(rng.integers(0, 3)), int(rng.integers(0, 3))) if n >= 8 else (0, 0)
            onset, apex, offset = clip_span(rng, n, lead, tail, emotion.apex_fraction)
            plans.append(
                ClipPlan(
                    subject=subject,
                    subject_index=s,
                    clip_index=c,
                    clip=name,
                    emotion=emotion.word,
                    aus=emotion.pick_aus(rng),
                    onset=frame + onset,
                    apex=frame + apex,
                    offset=frame + offset,
                    frames=list(range(frame, frame + n)),
                    fps=FPS,
                    source=f"{FRAMES_FOLDER}/{subject}/{name}",
                    extra={"inducement_code": inducement},
                )
            )
            frame += n + int(rng.integers(200, 3000))
    return ctx.number_rows(plans, first_row=len(PREAMBLE) + 2, hide_apex_every=10, missing=-1)


def write(ctx: SampleContext) -> LayoutResult:
    plans = plan_clips(ctx)
    truth = []
    for plan in plans:
        s = plan.subject_index
        recording = ctx.record(
            ctx.render(s, FRAME_SIZE, FACE_WIDTH, plan.clip_index).gray(),
            [plan],
            s,
            plan.clip_index,
            ANIMATION,
        )
        folder = ctx.out / plan.source
        for number, image in recording.frames(plan.frames):
            write_image(folder / f"{plan.subject}_{number:05d}.jpg", image)
        truth.append(recording.truth(ctx.dataset))
        ctx.clip_done()
    rows = (
        [(line,) for line in PREAMBLE]
        + [HEADER]
        + [
            (
                int(p.subject),
                p.clip,
                p.extra["inducement_code"],
                p.onset,
                p.apex_written,
                p.offset,
                p.offset - p.onset + 1,
                "Micro - 1/2",
                au_cell(p.aus),
                p.emotion,
                objective_class(p.au_codes),
                "Apex unclear" if p.apex_written == -1 else None,
            )
            for p in plans
        ]
    )
    annotation = ctx.out / ANNOTATION
    write_xlsx(annotation, [("Sheet1", rows)])
    return LayoutResult(root=ctx.out, annotation_file=annotation, clips=truth)
