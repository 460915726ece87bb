"""The gdlab program: the ``gdlab`` console script and ``python -m gdlab`` (``gdlab.cli.run``).

``import gdlab`` loads nothing heavy (its names load on first use), so a Ctrl-C while the CLI is imported
(JAX, a second or more) is caught here: one line and exit code 130, as any other interrupt of the CLI.
"""

from __future__ import annotations

import os
import sys


def run() -> None:
    """Import the CLI and run it (gdlab.cli.run); Ctrl-C while importing: 'error: interrupted', exit 130.

    The import runs with interrupts deferred (commands/interrupts.py): one inside jaxlib's extension module crashed
    the interpreter (signal 11); it is raised when the import ends."""
    from gdlab.commands.interrupts import INTERRUPTS

    INTERRUPTS.install()
    try:
        with INTERRUPTS.deferred():
            from gdlab.cli import run as run_cli
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # as gdlab.cli.run: no teardown of what the half-done imports started
    run_cli()


if __name__ == "__main__":
    run()
