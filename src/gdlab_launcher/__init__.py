"""The ``gdlab`` program's entry point, outside the gdlab package so that it runs before gdlab imports JAX.

A console script naming ``gdlab.cli:run`` imports gdlab (JAX, NumPy: a second or more) before any of
its code runs, so a Ctrl-C then printed a traceback; here it is one line and exit code 130, as any
other interrupt of the CLI.
"""

from __future__ import annotations

import os
import sys


def run() -> None:
    """Import the CLI and run it (gdlab.cli.run); Ctrl-C while importing: 'error: interrupted', exit 130."""
    try:
        from gdlab.cli import run as run_cli
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # as gdlab.cli.run: no teardown of what the half-done imports started
    run_cli()


if __name__ == "__main__":
    run()
