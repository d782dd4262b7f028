"""Shared click plumbing for the ``merprep`` and ``mertrain`` command lines."""

from __future__ import annotations

import logging
import shlex
import sys
from importlib import import_module
from typing import Any, Mapping

import click

from merprep.errors import MerprepError


class LazyGroup(click.Group):
    """A click group whose subcommands (``name -> "module:attribute"``) are imported on first
    use, so ``--help`` and light commands never import TensorFlow or MediaPipe.

    User errors (:class:`MerprepError`) print one line and exit non-zero; tracebacks are for bugs.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy_commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = self.lazy_commands.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MerprepError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def command_line(prog: str) -> str:
    """The exact command as typed, recorded in every store or run it writes."""
    return " ".join(shlex.quote(a) for a in [prog, *sys.argv[1:]])
