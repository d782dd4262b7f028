"""SAMM Long Videos as released: ``SAMM_longvideos/006_1/006_1_0001.jpg`` beside
``SAMM_LongVideos_V1_Release.xlsx`` (the dataset root is ``out``).

Frames are 2040x1088 grayscale JPEGs (one channel) at 200 fps, numbered from 1 and zero-padded
to 4 digits, one folder per (subject, inducement). The workbook copies the real one's layout:
sheet ``FACS_Movement_Only``, the preamble of rows 1-9 (title, symbol key, AU help, the apex
note in F7), the header on row 10, data from row 11: ``Subject`` as text (``006``),
``Filename`` ``006_1_2``, ``Inducement Code``, ``Onset``, ``Apex``, ``Offset``, ``Duration``
as the release's formula ``=SUM(Fn-Dn)+1`` (saved without a value, so readers must not need
it), ``Type`` (``Macro`` / ``Micro - 1/2``), ``Action Units``, ``Notes``. Quirks reproduced:
macro rows written with fractional frames (x.4 and x.6, which round half-up back to the true
frame), one apex written -1, a lone AU stored as a number; videos with no expression are in
no row.

Lengths: MEs 45-100 frames (0.23-0.5 s; the release's 10-90 % range is 45-98), MaEs 120-600
(0.6-3 s; the release's run to 25 s, which short sample videos cannot hold).
"""

from __future__ import annotations

from merprep.errors import MerprepError
from merprep.sample.aus import R, aus
from merprep.sample.layouts.common import (
    LayoutResult,
    SampleContext,
    au_cell,
    write_image,
    write_xlsx,
)
from merprep.sample.longvideo import (
    NO_EXPRESSION_EVERY,
    LongRecording,
    Style,
    Timing,
    plan_video,
    rng_for,
    truth_of,
)

DATASET = "samm-long"
FRAME_SIZE = (2040, 1088)
FACE_WIDTH = 420.0
TIMING = Timing(200.0, (45, 100), (120, 600))
DEFAULT_FRAMES = 1600  # 8 s (the release's videos average 35.5 s)
FRAMES_FOLDER = "SAMM_longvideos"
ANNOTATION = "SAMM_LongVideos_V1_Release.xlsx"
#: the release's subjects (006-037 without 027 and 029)
SUBJECTS = tuple(n for n in range(6, 38) if n not in (27, 29))
HEADER = (
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset",
    "Apex",
    "Offset",
    "Duration",
    "Type",
    "Action Units",
    "Notes",
)
PREAMBLE = (
    ("SAMM Long Videos Dataset - FACS Codes",),
    (),
    ("Symbol Key:",),
    ('"/" = or',),
    (),
    ("AU Help:",),
    (
        '"L2 or R2" = Unilateral AU 2 on left side of face / right side of face',
        None,
        None,
        None,
        None,
        "NOTE: Subjects with Apex Frame not annotated were labelled as -1.",
    ),
    ('"A2" = Asymmetric AU 2. Occurs on both sides of face but stronger on one side',),
    (),
)
STYLES = (
    Style("Anger", aus(4)),
    Style("Anger", aus(4, 7)),
    Style("Disgust", aus(9, 10)),
    Style("Happiness", aus(12)),
    Style("Happiness", aus(6, 12)),
    Style("Surprise", aus(1, 2)),
    Style("Other", aus(14)),
    Style("Contempt", aus(R(14))),
)


def write(ctx: SampleContext) -> LayoutResult:
    if ctx.subjects > len(SUBJECTS) or ctx.clips_per_subject > 7:
        raise MerprepError(f"SAMM LV has {len(SUBJECTS)} subjects and 7 inducements each")
    n_frames = ctx.clip_length or DEFAULT_FRAMES
    if n_frames < TIMING.frames(4.0):
        raise MerprepError("a SAMM long video needs at least 800 frames (4 s)")
    rows: list[tuple] = []
    truth = []
    apex_hidden = fraction_done = False
    for s in range(ctx.subjects):
        subject = f"{SUBJECTS[s]:03d}"
        rendering = ctx.render(s, FRAME_SIZE, FACE_WIDTH).gray()
        for v in range(ctx.clips_per_subject):
            video = f"{subject}_{v + 1}"
            rng = rng_for(DATASET, ctx.seed, s, v)
            annotated = (
                s * ctx.clips_per_subject + v
            ) % NO_EXPRESSION_EVERY != NO_EXPRESSION_EVERY - 1
            events = plan_video(rng, n_frames, TIMING, STYLES, expressions=annotated)
            recording = LongRecording(
                rendering, events, ctx.amplitude, rng_for(DATASET, ctx.seed, s, v, 2)
            )
            folder = ctx.out / FRAMES_FOLDER / video
            for t, image in recording.frames(n_frames):
                write_image(folder / f"{video}_{t + 1:04d}.jpg", image)
            record = truth_of(events, recording, first_frame=1)
            for k, interval in enumerate(record["intervals"], start=1):
                number = len(PREAMBLE) + 2 + len(rows)
                onset, apex, offset = interval["onset"], interval["apex"], interval["offset"]
                written: tuple = (onset, apex, offset)
                if interval["type"] == "mae" and (k + s) % 2 == 0:
                    written = (onset + 0.4, apex - 0.4, offset + 0.4)  # rounds back half-up
                    fraction_done = True
                if interval["type"] == "me" and not apex_hidden and fraction_done:
                    written, apex_hidden = (onset, -1, offset), True
                interval["annotation_row"] = number
                interval["written"] = list(written)
                rows.append(
                    (
                        subject,
                        f"{video}_{k}",
                        v + 1,
                        *written,
                        f"=SUM(F{number}-D{number})+1",
                        "Micro - 1/2" if interval["type"] == "me" else "Macro",
                        au_cell(interval["aus"]),
                        None,
                    )
                )
            truth.append(
                {
                    "dataset": DATASET,
                    "subject": subject,
                    "video": video,
                    "source": folder.relative_to(ctx.out).as_posix(),
                    "fps": TIMING.fps,
                    "n_frames": n_frames,
                    "first_frame": 1,
                    "last_frame": n_frames,
                    "frame_size": list(FRAME_SIZE),
                    "annotated": bool(record["intervals"]),
                    **record,
                    "landmarks": [
                        [round(float(x), 1), round(float(y), 1)] for x, y in rendering.landmarks
                    ],
                }
            )
            ctx.clip_done()
    annotation = ctx.out / ANNOTATION
    write_xlsx(annotation, [("FACS_Movement_Only", list(PREAMBLE) + [HEADER] + rows)])
    return LayoutResult(root=ctx.out, annotation_file=annotation, clips=truth)
