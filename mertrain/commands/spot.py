"""``mertrain analyze`` (merprep analyze with recognition) and ``mertrain spot-eval`` (MEGC
spotting tables plus the spot-then-recognise score with a trained model)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from merprep.clitools import example
from merprep.commands.analyze import analyze_options
from merprep.fsio import atomic_write
from mertrain.spotting.recognize import load_recognizer, str_score

MODES = ("one-to-one", "greedy", "megc2020_baseline")


def _model_option(f, required: bool):
    f = click.option(
        "--fold",
        default=None,
        help="With a run directory: one fold (index or name) instead of the mean of all.",
    )(f)
    return click.option(
        "--model",
        required=required,
        type=click.Path(exists=True, path_type=Path),
        help="A saved model folder or a run directory trained with --save-weights (face-clip models).",
    )(f)


@click.command(
    epilog=example("mertrain analyze interview.mp4 --model runs/casme2 -o interview_analysis")
)
@analyze_options
@lambda f: _model_option(f, required=False)
def analyze(video, out, fps, threshold, flow_size, landmarks, progress, model, fold):
    """Spot micro- and macro-expressions in VIDEO and recognise each micro-expression with a
    trained model: analysis.json (intervals, class probabilities), timeline.png, montages/."""
    from merprep.analyze import analyze_video
    from merprep.spotting.classical import SpotConfig

    recognizer = None
    if model is not None:
        recognizer = load_recognizer(model, fold)
    spot = SpotConfig(flow_size=flow_size, threshold=threshold)
    result = analyze_video(
        video,
        out,
        recognizer=recognizer,
        spot=spot,
        fps=fps,
        landmarks=landmarks,
        progress=progress,
    )
    click.echo(result.summary())


@click.command(
    "spot-eval", epilog=example("mertrain spot-eval spots/classical --model runs/casme2")
)
@click.argument("spots", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mode",
    default="one-to-one",
    show_default=True,
    type=click.Choice(MODES),
    help="Matching rule of the spotting evaluation.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tables (and STRS) as JSON here.",
)
@lambda f: _model_option(f, required=False)
def spot_eval(spots, mode, out, model, fold):
    """MEGC spotting tables of a spots.json and, with --model, the STR score (ME spotting F1 x
    analysis F1 over correctly spotted MEs, clips cut from the dataset's own frames)."""
    from merprep.spotting.run import evaluation_of, format_table, load_spots

    doc = load_spots(spots)
    result = {"spotting": evaluation_of(doc, mode=mode)}
    click.echo(format_table(result["spotting"]))
    if model is not None:
        strs = str_score(doc, load_recognizer(model, fold), mode=mode)
        result["str"] = strs
        click.echo(f"STR with {strs['model']} (classes {', '.join(strs['classes'])}):")
        for name, t in list(strs["datasets"].items()) + [("combined", strs["combined"])]:
            a = t["analysis"]
            click.echo(
                f"  {name:<14} spotting F1 (ME) {t['spotting_f1_me']:.4f} x analysis F1 {a['f1']:.4f} "
                f"({a['n_pairs']} TP MEs; UF1 {a['uf1']:.4f}, UAR {a['uar']:.4f}) = STRS {t['strs']:.4f}"
                + (
                    f"; {t['tp_left_out']} TP without a model class left out"
                    if t["tp_left_out"]
                    else ""
                )
            )
    if out:
        atomic_write(out, json.dumps(result, indent=1) + "\n")
        click.echo(f"wrote {out}")
