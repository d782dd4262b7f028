"""``mertrain models``: list the registered models and what each needs from the clip store."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from mertrain.models import get_model, list_models
from mertrain.recipe import describe_loss, loss_from_dict, parse_schedule


def describe_models(params: bool = True, name: str | None = None) -> list[dict]:
    """One dict per registered model (the data behind ``mertrain models``).

    ``params=True`` builds each Keras model at its default configuration to count parameters
    (imports TensorFlow; a few seconds in all); sklearn models report ``None``.
    """
    specs = [get_model(name)] if name else list_models()
    rows = []
    for spec in specs:
        cfg = spec.make_config()
        shapes = spec.input_shapes(cfg)
        row: dict[str, Any] = {
            "name": spec.name,
            "family": spec.family,
            "kind": spec.kind,
            "description": spec.description,
            "inputs": [
                {
                    "name": i.name,
                    "source": i.source,
                    "command": i.command,
                    "rank": i.rank,
                    "extract": i.extract_hint(
                        getattr(cfg, "frames", None), getattr(cfg, "size", None)
                    ),
                    "shape": list(shapes[i.name]),
                    "channels": i.channels if i.source != "flow" else 3,
                }
                for i in spec.required_inputs(cfg)
            ],
            "presets": sorted(spec.presets),
            "recipe": spec.recipe.to_dict() if spec.kind == "keras" else None,
            "params": None,
            "expected_params": (
                {k: {"count": v[0], "rel_tol": v[1]} for k, v in spec.expected_params.items()}
                if spec.expected_params
                else None
            ),
            "reference": spec.reference,
        }
        if params and spec.kind == "keras":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            import keras

            model, _ = spec.build(3, config=cfg)
            row["params"] = int(model.count_params())
            row["params_n_classes"] = 3
            del model
            keras.backend.clear_session()
        rows.append(row)
    return rows


def _fmt_params(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n:,}"


@click.command("models")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
@click.option(
    "--no-params",
    is_flag=True,
    help="Skip parameter counts (they build each model, which imports TensorFlow).",
)
def models(name: str | None, as_json: bool, no_params: bool) -> None:
    """List the registered models (or one, NAME): kind, inputs with the store content and the
    merprep command that writes it, default input shape, parameters at defaults (3 classes),
    presets and reference."""
    try:
        rows = describe_models(params=not no_params, name=name)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['name']}  [{row['kind']}, {row['family']}]  params: {_fmt_params(row['params'])}"
        )
        click.echo(f"  {row['description']}")
        for i in row["inputs"]:
            shape = "x".join(str(s) for s in i["shape"])
            click.echo(
                f"  input {i['name']:<5} {shape:<14} store: {i['source']:<5} <- {i['command']}"
            )
            click.echo(f"        make it with: {i['extract']}")
        if row["recipe"]:
            r = row["recipe"]
            click.echo(
                f"  recipe: adam lr {r['lr']:g}, {r['epochs']} epochs x batch "
                f"{r['batch_size']}, schedule {parse_schedule(r['schedule']).spec}, "
                f"loss {describe_loss(loss_from_dict(r['loss']))}"
            )
        if row["presets"]:
            click.echo(f"  presets: {', '.join(row['presets'])}")
        click.echo(f"  reference: {row['reference']}")
        click.echo("")
