"""Shared click plumbing for the ``merprep`` and ``mertrain`` command lines."""

from __future__ import annotations

import logging
import shlex
import sys
from typing import Any

import click

from merprep.errors import MerprepError
from merprep.registry import Registry


class LazyGroup(click.Group):
    """A click group whose subcommands come from a :class:`~merprep.registry.Registry` of lazy
    ``"module:attribute"`` entries, imported on first use, so ``--help`` and light commands
    never import TensorFlow or MediaPipe.

    User errors (:class:`MerprepError`) print one line and exit non-zero; tracebacks are for bugs.
    """

    def __init__(self, *args: Any, commands: Registry[click.Command] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.registry: Registry[click.Command] = commands or Registry("command")

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.registry.names())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.registry:
            return None
        return self.registry.get(name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MerprepError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo(self._interrupted(ctx), err=True)
            sys.exit(130)

    def _interrupted(self, ctx: click.Context) -> str:
        """One line; for a command that can resume, how to go on from where it stopped."""
        name = ctx.invoked_subcommand
        command = self.get_command(ctx, name) if name else None
        if command is not None and any(p.name == "resume" for p in command.params):
            return (
                f"interrupted: rerun the same `{ctx.command_path} {name}` command with "
                "--resume to continue from where it stopped"
            )
        return "interrupted"


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def workers_option(f: Any) -> Any:
    """``-j/--workers N``, one meaning in every command: worker processes, 0 = one per CPU."""
    return click.option(
        "-j",
        "--workers",
        default=0,
        show_default=True,
        type=click.IntRange(min=0),
        help="Worker processes (0 = one per CPU this process may use).",
    )(f)


def progress_option(f: Any) -> Any:
    """``--progress/--no-progress``: bars on a terminal unless told otherwise."""
    return click.option(
        "--progress/--no-progress", default=None, help="Progress bar (default: on a tty)."
    )(f)


def example(line: str) -> str:
    """A command's epilog: one example line at the end of its ``--help``, never rewrapped."""
    return f"\b\nExample: {line}"


def command_line(prog: str) -> str:
    """The exact command as typed, recorded in every store or run it writes."""
    return " ".join(shlex.quote(a) for a in [prog, *sys.argv[1:]])
