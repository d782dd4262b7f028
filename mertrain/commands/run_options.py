"""The options of ``mertrain run`` (shared with ``mertrain rerun``), and how each becomes a
flat run option of :meth:`mertrain.config.RunConfig.from_options`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from merprep.clitools import progress_option
from mertrain.commands.recipe_options import LOSSES, AugmentParam, apply_recipe, check_model
from mertrain.config import EXECUTORS, PRECISIONS, SELECT_LABELS
from mertrain.protocols import PROTOCOLS, TASKS
from mertrain.recipes import recipe_names


def _split_list(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _floats(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.UsageError(f"{flag} {text!r}: expected numbers separated by commas") from None


def _augment(text: str | Mapping[str, Any] | None) -> Any:
    """none | default | FILE.json (an object of AugmentConfig fields); a named recipe gives the
    mapping itself."""
    if isinstance(text, Mapping):
        return dict(text)
    if text is None or text.lower() in ("none", "default"):
        return None if text is None else text.lower()
    path = Path(text)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.UsageError(
            f"--augment {text!r}: expected none, default or a JSON file (no such file)"
        ) from None
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"--augment {text}: unreadable JSON ({exc})") from None
    if not isinstance(value, dict):
        raise click.UsageError(f"--augment {text}: expected a JSON object of AugmentConfig fields")
    return value


def _read_from(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, source = item.partition("=")
        if not sep or not name.strip() or not source.strip():
            raise click.UsageError(f"--read {item!r}: expected INPUT=SOURCE, e.g. face=magnified")
        out[name.strip()] = source.strip()
    return out


def _pack(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise click.UsageError(f"--pack {text!r}: expected a number of folds or auto") from None


def _model_options(items: tuple[str, ...]) -> dict[str, Any]:
    """``--set gru_units=64 --set embed_units=[64,32]``: values parsed as JSON, else text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


#: click parameter -> (flat run option, how the flag's value becomes the option's)
FLAG_OPTIONS: dict[str, tuple[str, Any]] = {
    "model": ("model", None),
    "protocol": ("protocol", None),
    "task": ("task", None),
    "test_subjects": ("test_subjects", _split_list),
    "k": ("k", None),
    "splits_file": ("splits_file", lambda p: None if p is None else str(p)),
    "preset": ("preset", None),
    "epochs": ("epochs", None),
    "batch_size": ("batch_size", None),
    "lr": ("lr", None),
    "frames": ("frames", None),
    "size": ("size", None),
    "lr_schedule": ("lr_schedule", None),
    "loss": ("loss", lambda v: None if v is None else LOSSES[v]),
    "class_weights": ("class_weights", lambda v: _floats(v, "--class-weights")),
    "tau": ("logit_adjust_tau", None),
    "focal_gamma": ("focal_gamma", None),
    "augment": ("augment", _augment),
    "precision": ("precision", None),
    "jit": ("jit", None),
    "options": ("model_options", _model_options),
    "read_from": ("read_from", lambda items: _read_from(items)),
    "input_mode": ("input", None),
    "balance": ("balance", None),
    "select": ("select", None),
    "val_fraction": ("val_fraction", None),
    "seed": ("seed", None),
    "deterministic": ("deterministic", None),
    "out": ("out", lambda p: None if p is None else str(p)),
    "folds": ("folds", None),
    "resume": ("resume", None),
    "executor": ("executor", None),
    "pack": ("pack", lambda v: None if v in (None, "auto") else _pack(v)),
    "gpus_per_fold": ("gpus_per_fold", None),
    "ray_address": ("ray_address", None),
    "tensorboard": ("tensorboard", None),
    "save_weights": ("save_weights", None),
    "recipe": ("named_recipe", None),
    "seeds": ("seeds", None),
}


def run_options(f: Any) -> Any:
    """Every option of ``mertrain run`` (shared with ``rerun``)."""
    options = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Repeat a recorded run: RUN_DIR/config.json (flags typed here "
            "override it; STOREs replace its stores).",
        ),
        click.option(
            "--recipe",
            type=click.Choice(recipe_names()),
            default=None,
            metavar="NAME",
            is_eager=True,
            callback=apply_recipe,
            help="Train as a published reference script does (input, frames, preset, loss, "
            "class weights, schedule, epochs, batch; docs/models.md, Recipes): "
            "icip2024-{casme2,samm,smic}, icip2024-ext-{casme2,samm,smic,casme3,deception}, "
            "stcnn-{3dcnn,cnnlstm,convlstm2d,2dcnn-vote}-samm-{binary,7class}. Every flag "
            "typed beside it overrides that value. Without it: the project's own defaults "
            "(onset-diff input, the models' learnable defaults), which are no paper's.",
        ),
        click.option(
            "--model",
            default="dual3dcnn-gru-ecbam",
            show_default=True,
            callback=check_model,
            help="Registered model name (see `mertrain models`).",
        ),
        click.option(
            "--protocol",
            type=click.Choice(list(PROTOCOLS)),
            default=None,
            help="Evaluation protocol (default loso, or the --splits file's; `all` is "
            "`mertrain fit`'s final model, refused here); docs/protocols.md.",
        ),
        click.option(
            "--task",
            type=click.Choice(list(TASKS)),
            default=None,
            help="Emotion -> class mapping (default 3class, or the --splits file's).",
        ),
        click.option(
            "--test-subjects",
            multiple=True,
            help="holdout: test subjects (repeat or comma-separate; casme2/sub01 or sub01).",
        ),
        click.option(
            "--k",
            type=click.IntRange(min=2),
            default=None,
            help="kfold: number of subject-grouped folds.",
        ),
        click.option(
            "--splits",
            "splits_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Reuse a saved split (splits.json / `mertrain splits --json`).",
        ),
        click.option(
            "--preset",
            default=None,
            help="A dataset preset of the model (see "
            "`mertrain models NAME`), e.g. casme2, samm, smic.",
        ),
        click.option("--epochs", type=click.IntRange(min=1), help="Override the recipe's epochs."),
        click.option(
            "--batch-size", type=click.IntRange(min=1), help="Override the recipe's batch size."
        ),
        click.option(
            "--lr",
            type=click.FloatRange(min=0, min_open=True),
            help="Override the recipe's learning rate.",
        ),
        click.option(
            "--frames",
            type=click.IntRange(min=1),
            help="Frames per clip the model sees (resampled from the store).",
        ),
        click.option(
            "--size",
            type=click.IntRange(min=1),
            help="Input size in pixels (resized from the store).",
        ),
        click.option(
            "--lr-schedule",
            default=None,
            metavar="SCHEDULE",
            help="Learning-rate schedule: constant, step:F:N (x F every N epochs, e.g. "
            "step:0.9:40) or plateau:F:P[:MIN_LR] (x F after P epochs without improvement "
            "of the inner-validation loss with --select inner-val, else of the training "
            "loss; never below MIN_LR).",
        ),
        click.option(
            "--loss",
            type=click.Choice(list(LOSSES)),
            default=None,
            help="Loss (default: the model's recipe). weighted-ce uses --class-weights, "
            "or the preset's, or else n/(K n_c) from each fold's training clips; "
            "logit-adjusted adds tau*log(prior of the training fold) to the logits; "
            "focal: (1-p)^gamma * CE, alpha = --class-weights if given.",
        ),
        click.option(
            "--class-weights",
            default=None,
            metavar="W1,W2,...",
            help="Per-class weights in class order, e.g. 0.3,0.35,0.35 (ce/weighted-ce, focal).",
        ),
        click.option(
            "--tau",
            type=click.FloatRange(min=0),
            default=None,
            help="logit-adjusted: tau (default 1).",
        ),
        click.option(
            "--focal-gamma",
            type=click.FloatRange(min=0),
            default=None,
            help="focal: gamma (default 2).",
        ),
        click.option(
            "--augment",
            "augment",
            type=AugmentParam(),
            default=None,
            metavar="none|default|FILE.json",
            help="Augment training clips (never test/validation clips, never flow): default = "
            "flips, shifts of up to 15 px at 128 px scaled to the input (4 px at 32), 13 deg "
            "rotations, noise (mertrain.augment.AugmentConfig(size_reference=128)); or a JSON "
            "object of AugmentConfig fields. New transforms every epoch, seeded by the fold seed.",
        ),
        click.option(
            "--precision",
            default="float32",
            show_default=True,
            type=click.Choice(list(PRECISIONS)),
            help="mixed: Keras mixed_float16 on a GPU (float32 on CPU, with a warning); "
            "bf16: mixed_bfloat16. Logits and loss stay float32.",
        ),
        click.option(
            "--jit/--no-jit",
            default=None,
            help="XLA-compile the training step; needs --no-deterministic (default: "
            "Keras' auto: XLA on a GPU when not deterministic, never on CPU).",
        ),
        click.option(
            "--set",
            "options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Any other architecture field (value as JSON), e.g. --set gru_units=64.",
        ),
        click.option(
            "--read",
            "read_from",
            multiple=True,
            metavar="INPUT=SOURCE",
            help="Feed an input from another store source of its kind, e.g. --read "
            "face=magnified (the clips `merprep magnify` wrote).",
        ),
        click.option(
            "--input",
            "input_mode",
            default="onset-diff",
            show_default=True,
            type=click.Choice(["onset-diff", "raw"]),
            help="Input normalisation.",
        ),
        click.option(
            "--balance",
            is_flag=True,
            help="Class weights n/(K n_c) from each fold's training clips.",
        ),
        click.option(
            "--select",
            default="last",
            show_default=True,
            type=click.Choice(list(SELECT_LABELS)),
            help="Epoch selection: last (fixed schedule), inner-val (best epoch on "
            "training subjects held out), oracle (best TEST accuracy epoch per fold), "
            "oracle-per-subject (each test subject's best TEST epoch by the ICIP 2024 "
            "reference metric: the published protocol). Both oracles are optimistic, labelled "
            "so everywhere, and keep every epoch's test predictions for the as-published "
            "scores.",
        ),
        click.option(
            "--val-fraction",
            default=0.2,
            show_default=True,
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            help="inner-val: share of each fold's training subjects held out.",
        ),
        click.option(
            "--seed",
            default=0,
            show_default=True,
            type=click.IntRange(min=0),
            help="Run seed (each fold's seed derives from it and the fold's name).",
        ),
        click.option(
            "--seeds",
            default=1,
            show_default=True,
            type=click.IntRange(min=1),
            help="Repeat the run with N seeds (--seed, +1, ...): one run directory each, "
            "OUT/seed-S, and OUT/seeds.json with the mean, sd and intervals over seeds.",
        ),
        click.option(
            "--deterministic/--no-deterministic",
            default=True,
            show_default=True,
            help="TensorFlow deterministic kernels.",
        ),
        click.option(
            "-o",
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Run directory (default: runs/<model>-<protocol>-<task>).",
        ),
        click.option(
            "--folds",
            default=None,
            help="Run only these folds, e.g. 0-9,12 (a SLURM "
            "array can run one fold per task into the same --out).",
        ),
        click.option("--resume", is_flag=True, help="Keep the folds already finished in --out."),
        click.option(
            "--executor",
            default="local",
            show_default=True,
            type=click.Choice(list(EXECUTORS)),
            help="local: folds in this process; ray: one Ray task per fold; packed: several "
            "folds at once on this machine's GPU (--pack).",
        ),
        click.option(
            "--pack",
            default=None,
            metavar="K|auto",
            help="--executor packed: folds trained at once (default auto: as many as fit in "
            "the free GPU memory; 1 without a GPU).",
        ),
        click.option(
            "--gpus-per-fold",
            type=click.FloatRange(0, 8, min_open=True),
            default=None,
            help="--executor ray: GPUs each fold asks for, e.g. 0.125 for eight folds per GPU "
            "(default 1).",
        ),
        click.option(
            "--ray-address",
            default=None,
            help="Ray cluster address (default: start a local instance).",
        ),
        click.option(
            "--tensorboard", is_flag=True, help="TensorBoard logs under RUN_DIR/tensorboard/."
        ),
        click.option(
            "--save-weights", is_flag=True, help="Each fold's final model under RUN_DIR/weights/."
        ),
        progress_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f
