"""The ``merprep`` command line: a thin click layer over the library.

Commands live in ``merprep/commands/`` and are imported only when used, so the CLI starts fast
(nothing here imports TensorFlow or MediaPipe).
"""

from __future__ import annotations

import os

import click

from merprep import __version__, quiet, stages
from merprep.clitools import LazyGroup, setup_logging
from merprep.registry import Registry

#: the commands, imported when first used (``merprep --help`` imports none of them)
COMMANDS: Registry[click.Command] = Registry("command")
COMMANDS.register_lazy("sample", "merprep.commands.sample:sample")
COMMANDS.register_lazy("extract", "merprep.commands.extract:extract")
COMMANDS.register_lazy("info", "merprep.commands.store:info")
COMMANDS.register_lazy("validate", "merprep.commands.store:validate")
COMMANDS.register_lazy("show", "merprep.commands.show:show")
# the commands of the later stages are named after them (merprep.stages: "merprep crop-au", ...)
COMMANDS.register_lazy(stages.CROP_AU.name, "merprep.commands.crop_au:crop_au")
COMMANDS.register_lazy(stages.FLOW.name, "merprep.commands.flow:flow")
COMMANDS.register_lazy(stages.MAGNIFY.name, "merprep.commands.flow:magnify")
COMMANDS.register_lazy("extract-long", "merprep.commands.spot:extract_long")
COMMANDS.register_lazy("spot", "merprep.commands.spot:spot")
COMMANDS.register_lazy("spot-eval", "merprep.commands.spot:spot_eval")
COMMANDS.register_lazy("analyze", "merprep.commands.analyze:analyze")


@click.group(
    cls=LazyGroup, commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="merprep")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Preprocess micro-expression datasets into versioned HDF5 clip stores.

    Data flows: sample -> extract -> store -> crop-au / flow -> store -> mertrain.
    """
    if verbose:
        os.environ[quiet.VERBOSE_ENV] = "1"  # native libraries' own logs too (workers inherit)
    setup_logging(verbose)


def main() -> None:
    cli(prog_name="merprep")


if __name__ == "__main__":
    main()
