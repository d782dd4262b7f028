"""``mertrain run``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mertrain.protocols.splits import PROTOCOLS
from mertrain.protocols.tasks import TASKS
from mertrain.report import SELECT_LABELS


def _split_list(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


#: --loss spelling -> ModelConfig.loss
LOSSES = {"ce": "ce", "weighted-ce": "weighted_ce", "logit-adjusted": "logit_adjusted",
          "focal": "focal"}


def _floats(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.UsageError(f"{flag} {text!r}: expected numbers separated by commas") from None


def _augment(text: str | None):
    """none | default | FILE.json (an object of AugmentConfig fields)."""
    if text is None or text.lower() in ("none", "default"):
        return None if text is None else text.lower()
    path = Path(text)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.UsageError(f"--augment {text!r}: expected none, default or a JSON file "
                               "(no such file)") from None
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"--augment {text}: unreadable JSON ({exc})") from None
    if not isinstance(value, dict):
        raise click.UsageError(f"--augment {text}: expected a JSON object of AugmentConfig "
                               "fields")
    return value


def _model_options(items: tuple[str, ...]) -> dict:
    """``--set gru_units=64 --set embed_units=[64,32]``: values parsed as JSON, else text."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


@click.command()
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", default="dual3dcnn-gru-ecbam", show_default=True,
              help="Registered model name (see `mertrain models`).")
@click.option("--protocol", type=click.Choice(list(PROTOCOLS)), default=None,
              help="Evaluation protocol (default loso, or the --splits file's).")
@click.option("--task", type=click.Choice(list(TASKS)), default=None,
              help="Emotion -> class mapping (default 3class, or the --splits file's).")
@click.option("--test-subjects", multiple=True, help="holdout: test subjects (repeat or "
              "comma-separate; casme2/sub01 or sub01).")
@click.option("--k", type=int, default=None, help="kfold: number of subject-grouped folds.")
@click.option("--splits", "splits_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Reuse a saved split (splits.json / `mertrain splits --json`).")
@click.option("--preset", default=None, help="The paper's settings for a dataset (casme2, samm, "
              "smic, casme3, deception).")
@click.option("--epochs", type=int, help="Override the model's epochs.")
@click.option("--batch-size", type=int, help="Override the model's batch size.")
@click.option("--lr", type=float, help="Override the model's learning rate.")
@click.option("--frames", type=int,
              help="Frames per clip the model sees (resampled from the store).")
@click.option("--size", type=int, help="Input size in pixels (resized from the store).")
@click.option("--lr-schedule", default=None, metavar="SCHEDULE",
              help="Learning-rate schedule: constant, step:F:N (x F every N epochs, e.g. "
              "step:0.9:40) or plateau:F:P (x F after P epochs without improvement of the "
              "inner-validation loss with --select inner-val, else of the training loss).")
@click.option("--loss", type=click.Choice(list(LOSSES)), default=None,
              help="Loss (default: the model's recipe). weighted-ce uses --class-weights, or "
              "the preset's, or else n/(K n_c) from each fold's training clips; logit-adjusted "
              "adds tau*log(prior of the training fold) to the logits; focal: "
              "(1-p)^gamma * CE, alpha = --class-weights if given.")
@click.option("--class-weights", default=None, metavar="W1,W2,...",
              help="Per-class weights in class order, e.g. 0.3,0.35,0.35 (weighted-ce, focal).")
@click.option("--tau", type=float, default=None, help="logit-adjusted: tau (default 1).")
@click.option("--focal-gamma", type=float, default=None, help="focal: gamma (default 2).")
@click.option("--augment", "augment", default=None, metavar="none|default|FILE.json",
              help="Augment training clips (never test/validation clips, never flow): default "
              "= mertrain.augment.AugmentConfig() (flip, 15 px shift, 13 deg rotation, noise), "
              "or a JSON object of AugmentConfig fields. New transforms every epoch, seeded by "
              "the fold seed.")
@click.option("--precision", default="float32", show_default=True,
              type=click.Choice(["float32", "mixed", "bf16"]),
              help="mixed: Keras mixed_float16 on a GPU (float32 on CPU, with a warning); "
              "bf16: mixed_bfloat16. Logits and loss stay float32.")
@click.option("--jit/--no-jit", default=None,
              help="XLA-compile the training step; needs --no-deterministic (default: Keras' "
              "auto: XLA on a GPU when not deterministic, never on CPU).")
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE",
              help="Any other model configuration field (value as JSON), e.g. --set gru_units=64.")
@click.option("--input", "input_mode", default="onset-diff", show_default=True,
              type=click.Choice(["onset-diff", "raw"]), help="Input normalisation.")
@click.option("--balance", is_flag=True, help="Class weights n/(K n_c) from each fold's "
              "training clips.")
@click.option("--select", default="last", show_default=True, type=click.Choice(list(SELECT_LABELS)),
              help="Epoch selection: last (fixed schedule), inner-val (best epoch on training "
              "subjects held out), oracle (best TEST epoch per fold: optimistic, for comparison).")
@click.option("--val-fraction", default=0.2, show_default=True, type=float,
              help="inner-val: share of each fold's training subjects held out.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--deterministic/--no-deterministic", default=True, show_default=True,
              help="TensorFlow deterministic kernels.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/<model>-<protocol>-<task>).")
@click.option("--folds", default=None, help="Run only these folds, e.g. 0-9,12 (a SLURM array "
              "can run one fold per task into the same --out).")
@click.option("--resume", is_flag=True, help="Keep the folds already finished in --out.")
@click.option("--executor", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="local: folds in this process; ray: one Ray task per fold.")
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local "
              "instance).")
@click.option("--tensorboard", is_flag=True, help="TensorBoard logs under RUN_DIR/tensorboard/.")
@click.option("--save-weights", is_flag=True, help="Each fold's final weights under "
              "RUN_DIR/weights/.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a tty).")
def run(stores, model, protocol, task, test_subjects, k, splits_file, preset, epochs, batch_size,
        lr, frames, size, lr_schedule, loss, class_weights, tau, focal_gamma, augment, precision,
        jit, options, input_mode, balance, select, val_fraction, seed, deterministic,
        out, folds, resume, executor, ray_address, tensorboard, save_weights, progress):
    """Train and evaluate MODEL on STORE(s) fold by fold; print UF1/UAR/ACC.

    Exits 1 when a fold failed (e.g. its loss became NaN; the other folds are still trained and
    scored), 2 on bad input (nothing trained)."""
    from merprep.clitools import command_line
    from mertrain.protocols import Splits
    from mertrain.report import format_table
    from mertrain.train import RunConfig, run as run_training

    if splits_file is not None:
        saved = Splits.load(splits_file)
        protocol = protocol or saved.protocol
        task = task or saved.task
    protocol = protocol or "loso"
    task = task or "3class"
    out = out or Path("runs") / f"{model}-{protocol}-{task}"
    try:
        config = RunConfig(
            stores=[str(s) for s in stores], out=str(out), model=model, protocol=protocol,
            task=task, test_subjects=_split_list(test_subjects), k=k,
            splits_file=str(splits_file) if splits_file else None, preset=preset, epochs=epochs,
            batch_size=batch_size, lr=lr, frames=frames, size=size, input=input_mode,
            balance=balance, select=select, val_fraction=val_fraction, seed=seed,
            deterministic=deterministic, lr_schedule=lr_schedule,
            loss=LOSSES[loss] if loss else None,
            class_weights=_floats(class_weights, "--class-weights"), logit_adjust_tau=tau,
            focal_gamma=focal_gamma, augment=_augment(augment), precision=precision, jit=jit,
            model_options=_model_options(options), folds=folds,
            resume=resume, executor=executor, ray_address=ray_address, tensorboard=tensorboard,
            save_weights=save_weights)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from None
    result = run_training(config, progress=progress, command=command_line("mertrain"))
    click.echo(result.recipe)
    click.echo(format_table(result.results))
    if not result.complete:
        r = result.results
        click.echo(f"{r['folds_done']}/{r['folds_total']} folds finished in {result.out}; run the "
                   "rest (--folds/--resume) or merge shards with `mertrain report --merge`")
    click.echo(f"run directory: {result.out}")
    failed = result.results.get("failed_folds") or {}
    if failed:
        for name, why in failed.items():
            click.echo(f"error: fold {name} failed: {why}", err=True)
        click.echo(f"error: {len(failed)} fold(s) failed; the pooled scores cover the "
                   f"{result.results['folds_done']} finished fold(s) only", err=True)
        raise SystemExit(1)
