"""CAS(ME)^2 long videos as released: ``rawpic/s15/15_0101disgustingteeth/img001.jpg`` beside
``CAS(ME)^2code_final.xlsx`` (the dataset root is ``out``).

Frames are 640x480 colour JPEGs at 30 fps, numbered from 1 and zero-padded to 3 digits (4 past
999), one folder per (subject, stimulus video). The workbook has the real file's three sheets,
none with a header: ``CASFEcode_final`` (subject index, ``<video name>_<k>``, onset, apex,
offset, AU, emotion, ``macro-expression``/``micro-expression``, self-report), ``naming rule1``
(row-aligned: subject number, folder ``sNN``, subject index) and ``naming rule2`` (the nine
4-digit codes as text, video names). Quirks reproduced: a lone AU stored as a number; one MaE
row with offset 0 ("not annotated", its true offset in the truth file); the folder-name typos of
the release (``0503unnyfarting``, ``0508funnydunkey``); videos with no expression are in no
sheet, as three of the release's are.

Lengths: MEs 10-16 frames (0.33-0.53 s, the release's 10-90 % range is 11-16), MaEs 20-75
(0.67-2.5 s; the release also has MaEs shorter than 0.5 s, which are not rendered).
"""

from __future__ import annotations

from merprep.errors import MerprepError
from merprep.sample.aus import aus
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

DATASET = "casme2-long"
FRAME_SIZE = (640, 480)
FACE_WIDTH = 200.0
TIMING = Timing(30.0, (10, 16), (20, 75))
DEFAULT_FRAMES = 600  # 20 s (the release's videos are 22-146 s)
FRAMES_FOLDER = "rawpic"
ANNOTATION = "CAS(ME)^2code_final.xlsx"
#: the release's subject numbers, in order, and its nine stimulus videos
SUBJECTS = (15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 40)
VIDEOS = (
    ("0101", "disgustingteeth", "disgust1"),
    ("0102", "eatingworms", "disgust2"),
    ("0401", "girlcrashing", "anger1"),
    ("0402", "beatingpregnantwoman", "anger2"),
    ("0502", "funnyerrors", "happy1"),
    ("0503", "unnyfarting", "happy2"),
    ("0505", "funnyinnovations", "happy3"),
    ("0507", "climbingthewall", "happy4"),
    ("0508", "funnydunkey", "happy5"),
)
STYLES = (
    Style("negative", aus(4), "disgust"),
    Style("negative", aus(4, 7), "anger"),
    Style("negative", aus(9, 10), "disgust"),
    Style("positive", aus(12), "happiness"),
    Style("positive", aus(6, 12), "happiness"),
    Style("surprise", aus(1, 2), "surprise"),
    Style("others", aus(14), "sadness"),
    Style("others", aus(17), "helpless"),
)


def write(ctx: SampleContext) -> LayoutResult:
    if ctx.subjects > len(SUBJECTS) or ctx.clips_per_subject > len(VIDEOS):
        raise MerprepError(
            f"CAS(ME)^2 has {len(SUBJECTS)} subjects and {len(VIDEOS)} videos per subject"
        )
    n_frames = ctx.clip_length or DEFAULT_FRAMES
    if n_frames < TIMING.frames(4.0):
        raise MerprepError("a CAS(ME)^2 long video needs at least 120 frames (4 s)")
    main: list[tuple] = []
    rule1: list[tuple] = []
    truth: list[dict] = []
    offset_zero_done = False
    for s in range(ctx.subjects):
        number = SUBJECTS[s]
        rendering = ctx.render(s, FRAME_SIZE, FACE_WIDTH)
        for v in range(ctx.clips_per_subject):
            code, stimulus, name = VIDEOS[v]
            rng = rng_for(DATASET, ctx.seed, s, v)
            annotated = (
                s * ctx.clips_per_subject + v
            ) % NO_EXPRESSION_EVERY != NO_EXPRESSION_EVERY - 1
            events = plan_video(rng, n_frames, TIMING, STYLES, expressions=annotated)
            recording = LongRecording(
                rendering, events, ctx.amplitude, rng_for(DATASET, ctx.seed, s, v, 2)
            )
            folder = ctx.out / FRAMES_FOLDER / f"s{number}" / f"{number}_{code}{stimulus}"
            for t, image in recording.frames(n_frames):
                write_image(folder / f"img{t + 1:03d}.jpg", image)
            record = truth_of(events, recording, first_frame=1)
            for k, interval in enumerate(record["intervals"], start=1):
                offset = interval["offset"]
                if interval["type"] == "mae" and not offset_zero_done:
                    offset, offset_zero_done = 0, True  # the release's "offset not annotated"
                interval["annotation_row"] = len(main) + 1
                interval["offset_written"] = offset
                style = next(
                    e.style for e in events if e.is_expression and e.onset + 1 == interval["onset"]
                )
                main.append(
                    (
                        s + 1,
                        f"{name}_{k}",
                        interval["onset"],
                        interval["apex"],
                        offset,
                        au_cell(interval["aus"]),
                        interval["emotion"],
                        "micro-expression" if interval["type"] == "me" else "macro-expression",
                        style.report if style else "",
                    )
                )
                rule1.append((number, f"s{number}", s + 1))
            truth.append(
                {
                    "dataset": DATASET,
                    "subject": f"s{number}",
                    "video": code,
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
    write_xlsx(
        annotation,
        [
            ("CASFEcode_final", main),
            ("naming rule1", rule1),
            ("naming rule2", [(code, name) for code, _, name in VIDEOS]),
        ],
    )
    return LayoutResult(root=ctx.out, annotation_file=annotation, clips=truth)
