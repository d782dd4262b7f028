"""``merprep extract-long``, ``merprep spot`` and ``merprep spot-eval`` (libraries:
merprep.longvideo.extract, merprep.spotting.run)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from merprep.clitools import command_line, example, progress_option, workers_option
from merprep.fsio import atomic_write
from merprep.longvideo.config import LongExtractConfig
from merprep.parallel import worker_count
from merprep.spotting.metric import evaluate
from merprep.spotting.timeline import timelines

# The same names and bounds as merprep.longvideo / merprep.spotting (a test keeps them equal);
# literal here so that listing commands imports neither OpenCV nor h5py.
LONG_DATASETS = ("casme2-long", "samm-long", "casme3-long", "video")
FACE_SIZE_RANGE = (32, 512)
STRIDE_RANGE = (1, 100)
FLOW_SIZE_RANGE = (16, 256)
MODES = ("one-to-one", "greedy", "megc2020_baseline")
EXECUTORS = ("local", "ray")


def _execution_options(f):
    """--executor, --ray-address, -j/--workers and --progress of the per-video commands."""
    f = click.option(
        "--ray-address",
        default=None,
        help="With --executor ray: the cluster (auto, ray://host:10001); default a local instance.",
    )(f)
    f = click.option(
        "--executor",
        default="local",
        show_default=True,
        type=click.Choice(EXECUTORS),
        help="One video per local worker process, or per Ray task.",
    )(f)
    return progress_option(workers_option(f))


@click.command(
    "extract-long",
    epilog=example(
        "merprep extract-long --dataset casme2-long --root CASME2_long -o casme2_long.h5"
    ),
)
@click.option(
    "--dataset",
    required=True,
    type=click.Choice(LONG_DATASETS),
    help="Which long-video dataset layout.",
)
@click.option(
    "--root",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The dataset's folder as unpacked (or the folder holding a video manifest).",
)
@click.option(
    "--annotations",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The annotation workbook (or manifest), if not found under --root.",
)
@click.option(
    "--emotion-labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="samm-long: SAMM_Micro_FACS_Codes_v2.xlsx; casme3-long: the JpgIndex label workbook.",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The long-video store to write (.h5).",
)
@click.option(
    "--face-size",
    default=128,
    show_default=True,
    type=click.IntRange(*FACE_SIZE_RANGE),
    help="Side of the stored gray face crop (px).",
)
@click.option(
    "--stride",
    default=1,
    show_default=True,
    type=click.IntRange(*STRIDE_RANGE),
    help="Keep every N-th frame (2 keeps 100 of SAMM's 200 fps).",
)
@click.option(
    "--landmark-every",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 60.0),
    help="Seconds between landmark detections.",
)
@click.option(
    "--landmarks",
    default="dlib",
    show_default=True,
    type=click.Choice(("dlib", "mediapipe")),
    help="Landmark backend.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Record bad rows and videos and go on, instead of stopping.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Keep videos staged by an interrupted run with the same parameters.",
)
@_execution_options
def extract_long(
    dataset,
    root,
    annotations,
    emotion_labels,
    out,
    face_size,
    stride,
    landmark_every,
    landmarks,
    skip_invalid,
    resume,
    workers,
    executor,
    ray_address,
    progress,
):
    """Stream long videos (frames never held in memory) into a long-video store: gray face
    crops of every kept frame, landmarks, the crop transform and every annotated interval."""
    from merprep.longvideo.extract import extract_long as run

    options = {"emotion_labels": emotion_labels} if emotion_labels else {}
    config = LongExtractConfig(
        dataset=dataset,
        root=root,
        out=out,
        annotations=annotations,
        adapter_options=options,
        landmarks=landmarks,
        face_size=face_size,
        stride=stride,
        landmark_every=landmark_every,
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        skip_invalid=skip_invalid,
        resume=resume,
    )
    result = run(config, command=command_line("merprep"), progress=progress)
    click.echo(result.summary())


@click.command(epilog=example("merprep spot casme2_long.h5 -o spots/classical"))
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for spots.json and curves.npz.",
)
@click.option(
    "--flow-size",
    default=96,
    show_default=True,
    type=click.IntRange(*FLOW_SIZE_RANGE),
    help="Side (px) the face crop is resized to for optical flow.",
)
@click.option(
    "--me-window",
    default=0.55,
    show_default=True,
    type=click.FloatRange(0.05, 5.0),
    help="ME window K (s): about the longest micro-expression.",
)
@click.option(
    "--mae-window",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0.2, 30.0),
    help="MaE window K (s): about the longest macro-expression.",
)
@click.option(
    "--threshold",
    default=4.0,
    show_default=True,
    type=click.FloatRange(1.0, 100.0),
    help="Peaks above this many times the video's median score.",
)
@click.option(
    "--mode",
    default="one-to-one",
    show_default=True,
    type=click.Choice(MODES),
    help="Matching rule for the evaluation (when the store has ground truth).",
)
@click.option(
    "--plots",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Timeline pictures of the first N videos (timeline/*.png).",
)
@_execution_options
def spot(
    store,
    out,
    flow_size,
    me_window,
    mae_window,
    threshold,
    mode,
    plots,
    workers,
    executor,
    ray_address,
    progress,
):
    """Spot micro- and macro-expressions in every video of a long-video store (training-free:
    flow over AU regions, head motion compensated, eyes masked, talking suppressed)."""
    from merprep.spotting.classical import SpotConfig
    from merprep.spotting.run import run_spot

    config = SpotConfig(
        flow_size=flow_size, me_window=me_window, mae_window=mae_window, threshold=threshold
    )
    result = run_spot(
        store,
        out,
        config,
        workers=worker_count(workers),
        executor=executor,
        address=ray_address,
        mode=mode,
        command=command_line("merprep"),
        progress=progress,
    )
    if plots:
        for path in timelines(out, limit=plots):
            click.echo(f"wrote {path}")
    click.echo(result.summary())


@click.command("spot-eval", epilog=example("merprep spot-eval spots/casme2 spots/samm"))
@click.argument("spots", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mode",
    default="one-to-one",
    show_default=True,
    type=click.Choice(MODES),
    help="Matching rule (megc2020_baseline reproduces the official baseline's counting).",
)
@click.option(
    "--iou",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, min_open=True),
    help="IoU a spotted interval needs to match.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the tables as JSON here.",
)
def spot_eval(spots, mode, iou, out):
    """MEGC spotting tables (TP/FP/FN pooled over every video, P/R/F1 for ME, MaE and overall,
    per dataset and combined) of one or more spots.json; several are pooled as one result."""
    from merprep.spotting.run import format_table, load_spots, video_results

    videos = [v for path in spots for v in video_results(load_spots(path))]
    result = evaluate(videos, mode=mode, threshold=iou)
    result.pop("matches")
    click.echo(format_table(result))
    if out:
        atomic_write(out, json.dumps(result, indent=1) + "\n")
        click.echo(f"wrote {out}")
