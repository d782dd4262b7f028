"""The ``mertrain`` command line: a thin click layer over the library.

TensorFlow is imported only by commands that train or build models.
"""

from __future__ import annotations

import os

import click

from merprep.clitools import LazyGroup, setup_logging
from mertrain import __version__

#: command name -> "module:attribute"
COMMANDS = {
    "run": "mertrain.commands.run:run",
    "splits": "mertrain.commands.splits:splits",
    "report": "mertrain.commands.report:report",
    "models": "mertrain.commands.models:models",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mertrain")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Train and evaluate micro-expression models on merprep clip stores."""
    from mertrain import tfenv

    # TensorFlow logs CUDA plugin registration errors even on CPU-only machines: its import is
    # made quiet (mertrain.tfenv) unless -v asks for its logs.
    if verbose:
        os.environ[tfenv.VERBOSE_ENV] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if verbose == 0 else "1")
    tfenv.install_quiet_import()
    setup_logging(verbose)


def main() -> None:
    cli(prog_name="mertrain")


if __name__ == "__main__":
    main()
