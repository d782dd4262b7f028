"""The ``mertrain`` command line: a thin click layer over the library.

TensorFlow is imported only by commands that train or build models.
"""

from __future__ import annotations

import os

import click

from merprep.clitools import LazyGroup, setup_logging
from merprep.registry import Registry
from mertrain import __version__, tfenv

#: the commands, imported when first used (``mertrain --help`` imports none of them)
COMMANDS: Registry[click.Command] = Registry("command")
COMMANDS.register_lazy("run", "mertrain.commands.run:run")
COMMANDS.register_lazy("rerun", "mertrain.commands.run:rerun")
COMMANDS.register_lazy("splits", "mertrain.commands.splits:splits")
COMMANDS.register_lazy("report", "mertrain.commands.report:report")
COMMANDS.register_lazy("models", "mertrain.commands.models:models")
COMMANDS.register_lazy("analyze", "mertrain.commands.spot:analyze")
COMMANDS.register_lazy("spot-eval", "mertrain.commands.spot:spot_eval")
COMMANDS.register_lazy("spot-train", "mertrain.commands.spot_train:spot_train")
COMMANDS.register_lazy("fit", "mertrain.commands.fit:fit")
COMMANDS.register_lazy("predict", "mertrain.commands.predict:predict")
COMMANDS.register_lazy("evaluate", "mertrain.commands.evaluate:evaluate")
COMMANDS.register_lazy("export", "mertrain.commands.export:export")
COMMANDS.register_lazy("explain", "mertrain.commands.explain:explain")


@click.group(
    cls=LazyGroup, commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="mertrain")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Train and evaluate micro-expression models on merprep clip stores."""
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
