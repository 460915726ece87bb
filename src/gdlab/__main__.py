"""``python -m gdlab``: the gdlab program (``gdlab.cli.run``), for an environment without the console script."""

from gdlab.cli import run

run()
