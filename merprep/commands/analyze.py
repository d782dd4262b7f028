"""``merprep analyze VIDEO``: spot expressions in one video of your own (library: merprep.analyze).

``mertrain analyze`` is the same command with ``--model`` (recognition of each spotted
micro-expression by a trained model); the options below are shared by both."""

from __future__ import annotations

from pathlib import Path

import click

from merprep.clitools import example, progress_option

FLOW_SIZE_RANGE = (16, 256)


def analyze_options(f):
    """The options of ``merprep analyze`` (and ``mertrain analyze``), outermost last."""
    for option in reversed(
        [
            click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
            click.option(
                "-o",
                "--out",
                required=True,
                type=click.Path(file_okay=False, path_type=Path),
                help="Folder for analysis.json, timeline.png and montages/.",
            ),
            click.option(
                "--fps",
                type=click.FloatRange(min=0, min_open=True),
                help="Frame rate, when the file does not say.",
            ),
            click.option(
                "--threshold",
                default=4.0,
                show_default=True,
                type=click.FloatRange(1.0, 100.0),
                help="Peaks above this many times the video's median motion score.",
            ),
            click.option(
                "--flow-size",
                default=96,
                show_default=True,
                type=click.IntRange(*FLOW_SIZE_RANGE),
                help="Side (px) of the face crop used for optical flow.",
            ),
            click.option(
                "--landmarks",
                default="dlib",
                show_default=True,
                type=click.Choice(("dlib", "mediapipe")),
                help="Landmark backend for the face.",
            ),
            progress_option,
        ]
    ):
        f = option(f)
    return f


@click.command(epilog=example("merprep analyze interview.mp4 -o interview_analysis"))
@analyze_options
def analyze(video, out, fps, threshold, flow_size, landmarks, progress):
    """Find the face, spot micro- and macro-expressions, and write analysis.json, a timeline
    picture and a montage per interval (spotting only; `mertrain analyze --model` also
    recognises each micro-expression)."""
    from merprep.analyze import analyze_video
    from merprep.spotting.classical import SpotConfig

    spot = SpotConfig(flow_size=flow_size, threshold=threshold)
    result = analyze_video(video, out, spot=spot, fps=fps, landmarks=landmarks, progress=progress)
    click.echo(result.summary())
