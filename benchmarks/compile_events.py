"""Where a gdlab command's time goes before training: JAX's tracing, lowering and compiling, summed.

    python -m benchmarks.compile_events compare --no-record --no-progress --json --out /tmp/r.html

runs ``gdlab ARGS...`` in this process and prints, on stderr, the seconds and counts of JAX's
duration events (jaxpr tracing, lowering to MLIR, XLA compiling, persistent-cache reads) and the
command's wall time. Run it twice: the second run shows what a warm cache leaves.
"""

from __future__ import annotations

import collections
import sys
import time

from jax import monitoring


def main(args: list[str]) -> None:
    totals: dict[str, float] = collections.defaultdict(float)
    counts: collections.Counter[str] = collections.Counter()

    def listen(event: str, duration: float, **kwargs: object) -> None:
        totals[event] += duration
        counts[event] += 1

    monitoring.register_event_duration_secs_listener(listen)
    from gdlab.cli import run

    sys.argv = ["gdlab", *args]
    start = time.perf_counter()
    try:
        run()
    except SystemExit as end:
        if end.code not in (0, None):
            raise
    wall = time.perf_counter() - start
    for event in sorted(totals, key=totals.__getitem__, reverse=True):
        print(f"{totals[event]:8.2f} s {counts[event]:5d}  {event}", file=sys.stderr)
    print(f"{wall:8.2f} s wall", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
