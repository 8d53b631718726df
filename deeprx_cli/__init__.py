"""The ``deeprx`` command line: a thin layer over the library, one module per command.

Every command reports what a user can fix (a bad option, a missing or
malformed file, results that would be overwritten: `click` usage errors
and `link_sim.errors.InputError`) as one line on stderr with exit code 2;
any other exception is a bug and keeps its traceback. Ctrl-C keeps what
finished and exits with 130. TensorFlow loads when a command runs, not
for ``--help``, and quietly unless ``deeprx --verbose``.
"""

from __future__ import annotations

import logging
import sys

import click

from deeprx_tf import __version__
from deeprx_cli.batch_norm import average, batch_norm_statistics
from deeprx_cli.distill import distill
from deeprx_cli.export import export
from deeprx_cli.profile import profile
from deeprx_cli.simulate import simulate
from deeprx_cli.sweep import sweep
from deeprx_cli.train import train
from link_sim.errors import InputError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deeprx")
@click.option("-v", "--verbose", is_flag=True,
              help="Show TensorFlow's start-up messages and warnings (hidden by default).")
def cli(verbose):
    """DeepRx for Sionna 5G NR links: simulate, train, distill, sweep, profile, export."""
    _show_library_progress(verbose)


class _EchoHandler(logging.Handler):
    """A log record as one line on stderr (looked up at each line, as click.echo does)."""

    def emit(self, record):
        click.echo(self.format(record), err=True)


def _show_library_progress(verbose: bool) -> None:
    """The library's progress messages (its INFO log) on stderr; with --verbose also its DEBUG
    log, which lets TensorFlow's converter print its own."""
    logger = logging.getLogger("deeprx_tf")
    if not any(isinstance(handler, _EchoHandler) for handler in logger.handlers):
        logger.addHandler(_EchoHandler())
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False  # printed once, here, whatever handlers TensorFlow's absl puts on the root


for _command in (simulate, train, distill, sweep, profile, export, batch_norm_statistics, average):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``deeprx`` console script."""
    try:
        cli.main(args=argv, prog_name="deeprx", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.ClickException, InputError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"deeprx: error: {message}", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("deeprx: interrupted; finished results were kept", err=True)
        sys.exit(130)
