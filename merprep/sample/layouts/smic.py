"""SMIC as released: ``SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image0100234.bmp``
(``VIS/`` and ``NIR/`` beside ``HS/``; the dataset root is ``out``).

HS is 100 fps colour, VIS 25 fps colour, NIR 25 fps near-infrared (gray content in 3-channel
BMPs); all 640x480 BMP, frame numbers zero-padded to 7 digits after ``image``. ``modality`` picks
which are written (``all``: the same expressions in all three, as SMIC recorded them at once).
There is no onset/apex spreadsheet: a clip folder *is* the expression, from its first frame
(onset) to its last (offset); the truth file still records the true apex. SMIC has no AU
annotation either; the truth file records the AUs animated. Emotions are the three classes only,
2 of each per subject by default; the two negatives use different motions (AU4 and AU14/AU15).
"""

from __future__ import annotations

import cv2

from merprep.sample.aus import R, aus
from merprep.sample.layouts.common import (
    ANIMATION,
    AU4,
    AU12,
    BROW_RAISE,
    LIP_DOWN,
    PLAN,
    SCHEDULE,
    ClipPlan,
    EmotionSpec,
    LayoutResult,
    SampleContext,
    Vocabulary,
    clip_span,
    write_image,
)
from merprep.sample.megc import listed

FRAME_SIZE = (640, 480)
FACE_WIDTH = 190.0  # SMIC faces are somewhat smaller in the frame than CASME II's
FRAMES_FOLDER = "SMIC_all_raw"
FPS = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}
SHORT = {"negative": "ne", "positive": "po", "surprise": "sur"}

VOCABULARY = Vocabulary(
    emotions=(
        EmotionSpec("negative", "negative", AU4, (aus(4), aus(4, 7))),
        EmotionSpec("negative", "negative", LIP_DOWN, (aus(15), aus(14), aus(15, 17))),
        EmotionSpec("positive", "positive", AU12, (aus(12), aus(R(12)))),
        EmotionSpec("surprise", "surprise", BROW_RAISE, (aus(1, 2),)),
    ),
    extra_order=(
        ("negative", AU4),
        ("positive", AU12),
        ("surprise", BROW_RAISE),
        ("negative", LIP_DOWN),
    ),
)


def modalities(modality: str) -> tuple[str, ...]:
    return ("HS", "VIS", "NIR") if modality == "all" else (modality,)


def plan_clips(ctx: SampleContext, modality: str) -> list[ClipPlan]:
    """The clips of one modality. Names and emotions do not depend on the modality; frame
    numbers and lengths do (25 fps cameras see a quarter of the HS frames)."""
    plans: list[ClipPlan] = []
    megc = listed("smic", ctx.subjects, ctx.clips_per_subject) if ctx.megc else None
    for s in range(len(megc) if megc is not None else ctx.subjects):
        number = int(megc[s][0][1:]) if megc is not None else s + 1
        folder_subject = f"s{number}"
        emotions = VOCABULARY.schedule(ctx.clips_per_subject, s, ctx.rng(s, SCHEDULE))
        names: list[str] | None = None
        if megc is not None:  # the list's clips, in SMIC's folder spelling (s1_ne_01)
            names = [f"{folder_subject}_{name.split('_', 1)[1]}" for name, _ in megc[s][1]]
            emotions = [VOCABULARY.for_group(g, k) for k, (_, g) in enumerate(megc[s][1])]
        counts: dict[str, int] = {}
        frame = int(ctx.rng(s, PLAN).integers(10_000, 900_000))
        for c, emotion in enumerate(emotions):
            rng = ctx.rng(s, c, PLAN)
            counts[emotion.word] = counts.get(emotion.word, 0) + 1
            name = (
                names[c]
                if names
                else f"{folder_subject}_{SHORT[emotion.word]}_{counts[emotion.word]:02d}"
            )
            aus = emotion.pick_aus(rng)
            n_hs = int(rng.integers(20, 41))
            n = ctx.clip_length or (n_hs if modality == "HS" else max(6, round(n_hs / 4)))
            start = frame if modality == "HS" else frame // 4
            onset, apex, offset = clip_span(rng, n, apex_fraction=emotion.apex_fraction)
            plans.append(
                ClipPlan(
                    subject=f"s{number:02d}",
                    subject_index=s,
                    clip_index=c,
                    clip=name,
                    emotion=emotion.word,
                    aus=aus,
                    onset=start + onset,
                    apex=start + apex,
                    offset=start + offset,
                    frames=list(range(start, start + n)),
                    fps=FPS[modality],
                    source=f"{FRAMES_FOLDER}/{modality}/{folder_subject}/micro/{emotion.word}/{name}",
                    extra={"modality": modality},
                )
            )
            frame += n_hs + int(rng.integers(500, 5000))
    return plans


def write(ctx: SampleContext) -> LayoutResult:
    truth = []
    for modality in modalities(ctx.modality):
        for plan in plan_clips(ctx, modality):
            s = plan.subject_index
            rendering = ctx.render(s, FRAME_SIZE, FACE_WIDTH, plan.clip_index)
            if modality == "NIR":
                rendering = rendering.near_infrared()
            recording = ctx.record(
                rendering, [plan], s, plan.clip_index, ANIMATION, list(FPS).index(modality)
            )
            folder = ctx.out / plan.source
            for number, image in recording.frames(plan.frames):
                if image.ndim == 2:  # NIR: gray content, stored as 3-channel BMP like SMIC's
                    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                write_image(folder / f"image{number:07d}.bmp", image)
            truth.append(recording.truth(ctx.dataset))
            ctx.clip_done()
    return LayoutResult(root=ctx.out, annotation_file=None, clips=truth)
