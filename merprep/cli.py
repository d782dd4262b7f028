"""The ``merprep`` command line: a thin click layer over the library.

Commands live in ``merprep/commands/`` and are imported only when used, so the CLI starts fast
(nothing here imports TensorFlow or MediaPipe).
"""

from __future__ import annotations

import click

from merprep import __version__
from merprep.clitools import LazyGroup, setup_logging

#: command name -> "module:attribute"
COMMANDS = {
    "sample": "merprep.commands.sample:sample",
    "extract": "merprep.commands.extract:extract",
    "info": "merprep.commands.store:info",
    "validate": "merprep.commands.store:validate",
    "show": "merprep.commands.show:show",
    "crop-au": "merprep.commands.crop_au:crop_au",
    "flow": "merprep.commands.flow:flow",
    "magnify": "merprep.commands.flow:magnify",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="merprep")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Preprocess micro-expression datasets into versioned HDF5 clip stores.

    Data flows: sample -> extract -> store -> crop-au / flow -> store -> mertrain.
    """
    setup_logging(verbose)


def main() -> None:
    cli(prog_name="merprep")


if __name__ == "__main__":
    main()
