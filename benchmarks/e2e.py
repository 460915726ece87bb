"""Whole-process timing: ``gdlab fit --no-progress`` against ``python benchmarks/e2e_torch.py``.

    python -m benchmarks.e2e [--runs 10] [--warmup 2] [--timer auto|hyperfine|loop] [--json PATH]

Both train the MNIST-1D MLP for 30 epochs at batch size 32 with plain SGD
(learning rate 0.1) and measure the full-data train loss, gradient norm, test
loss and accuracy after every epoch; the wall time covers the whole process
(interpreter start, imports, data loading, compiling, training, printing).
The PyTorch script runs twice: with torch's default threads, and with
OMP_NUM_THREADS=1. Timing uses hyperfine (``apt-get install hyperfine``) when it
is on PATH, else (or with ``--timer loop``) a loop over ``subprocess.run`` with
``time.perf_counter`` in which the commands alternate run by run, so a drift
in the machine's load hits them alike.
After the warm-up runs gdlab's on-disk compilation cache is warm, as in any
repeated use of ``gdlab fit``. The commands run in a scratch directory, from
which files ``gdlab fit`` leaves (its run records) are removed before each run.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks.machine import machine_info, versions

TORCH_SCRIPT = str(Path(__file__).resolve().with_name("e2e_torch.py"))
RUN_FILES = ("gdlab.db", "gdlab.db-wal", "gdlab.db-shm")
"""What `gdlab fit` may leave in its working directory (run records); removed before every run."""
TARGET = 2.0
"""gdlab's median wall time must be at most 1/TARGET of the PyTorch script's."""


class Command(NamedTuple):
    """A timed command: a short name and its argument list."""

    name: str
    argv: tuple[str, ...]


COMMANDS = (
    Command("gdlab", ("gdlab", "fit", "--no-progress")),
    Command("torch", (sys.executable, TORCH_SCRIPT)),
    Command("torch_1thread", ("env", "OMP_NUM_THREADS=1", sys.executable, TORCH_SCRIPT)),
)


def final_accuracy(command: Command, workdir: Path) -> float:
    """Run the command once (untimed) and read the final test accuracy it prints."""
    _clean(workdir)
    done = subprocess.run(command.argv, cwd=workdir, capture_output=True, text=True, check=False)
    match = re.search(r"test_accuracy\D*([0-9.]+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(
            f"{shlex.join(command.argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return float(match.group(1))


def hyperfine_times(
    commands: tuple[Command, ...], runs: int, warmup: int, workdir: Path
) -> dict[str, list[float]]:
    """Wall seconds of each run, measured by hyperfine (no intermediate shell)."""
    out = workdir / "hyperfine.json"
    argv = ["hyperfine", "-N", "--style", "basic", "--warmup", str(warmup), "--runs", str(runs)]
    argv += ["--export-json", str(out), "--prepare", shlex.join(("rm", "-f", *RUN_FILES))]
    argv += [a for c in commands for a in ("-n", c.name, shlex.join(c.argv))]
    subprocess.run(argv, cwd=workdir, check=True, stdout=sys.stderr)
    results = json.loads(out.read_text())["results"]
    return {r["command"]: [float(t) for t in r["times"]] for r in results}


def loop_times(
    commands: tuple[Command, ...], runs: int, warmup: int, workdir: Path
) -> dict[str, list[float]]:
    """Wall seconds of each run, measured here; the commands alternate run by run."""
    times: dict[str, list[float]] = {c.name: [] for c in commands}
    for i in range(warmup + runs):
        for c in commands:
            _clean(workdir)
            tick = time.perf_counter()
            subprocess.run(c.argv, cwd=workdir, check=True, capture_output=True)
            if i >= warmup:
                times[c.name].append(time.perf_counter() - tick)
    return times


def _clean(workdir: Path) -> None:
    for name in RUN_FILES:
        (workdir / name).unlink(missing_ok=True)


def summarise(times: dict[str, list[float]], accuracy: dict[str, float]) -> list[dict[str, Any]]:
    """Median, min and max seconds per command, and its ratio to gdlab's median."""
    reference = statistics.median(times["gdlab"])
    return [
        {
            "command": c.name,
            "argv": shlex.join(c.argv),
            "median_seconds": statistics.median(times[c.name]),
            "min_seconds": min(times[c.name]),
            "max_seconds": max(times[c.name]),
            "runs": len(times[c.name]),
            "ratio_vs_gdlab": statistics.median(times[c.name]) / reference,
            "final_test_accuracy": accuracy[c.name],
        }
        for c in COMMANDS
    ]


def render(rows: list[dict[str, Any]], timer: str) -> str:
    """A Markdown table of the runs, and the verdict on the target."""
    lines = [
        f"timer: {timer}",
        "",
        "| command | median s | min s | max s | runs | ratio vs gdlab | final test acc |",
        "| ------- | -------- | ----- | ----- | ---- | -------------- | -------------- |",
    ]
    for r in rows:
        lines.append(
            f"| `{_display(r['argv'])}` | {r['median_seconds']:.2f} | "
            f"{r['min_seconds']:.2f} | {r['max_seconds']:.2f} | {r['runs']} | "
            f"{r['ratio_vs_gdlab']:.2f}x | {r['final_test_accuracy']:.3f} |"
        )
    torch = next(r for r in rows if r["command"] == "torch")
    verdict = "PASS" if torch["ratio_vs_gdlab"] >= TARGET else "MISS"
    lines += [
        "",
        (
            f"{verdict}  gdlab fit {torch['ratio_vs_gdlab']:.2f}x faster than the PyTorch script "
            f"(target >= {TARGET:g}x)"
        ),
    ]
    if verdict == "MISS":
        lines[-1] += f"; short by a factor {TARGET / torch['ratio_vs_gdlab']:.3f}"
    return "\n".join(lines)


def _display(argv: str) -> str:
    return argv.replace(sys.executable, "python").replace(TORCH_SCRIPT, "benchmarks/e2e_torch.py")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.e2e", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument(
        "--timer",
        choices=("auto", "hyperfine", "loop"),
        default="auto",
        help="hyperfine (each command's runs in a row), loop (commands alternate run by run), "
        "auto: hyperfine when installed (default)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write the numbers to this JSON file"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Check the commands once, time them in a scratch directory, print the table and verdict."""
    args = _parse(argv)
    if args.runs < 1 or args.warmup < 0:
        raise SystemExit(
            f"error: runs must be >= 1 and warmup >= 0; got {args.runs} and {args.warmup}."
        )
    timer = args.timer
    if timer == "auto":
        timer = "hyperfine" if shutil.which("hyperfine") else "loop"
    timing = hyperfine_times if timer == "hyperfine" else loop_times
    info = {"machine": machine_info(), "versions": versions()}
    with tempfile.TemporaryDirectory(prefix="gdlab-e2e-") as tmp:
        workdir = Path(tmp)
        accuracy = {c.name: final_accuracy(c, workdir) for c in COMMANDS}  # gdlab makes the cache
        rows = summarise(timing(COMMANDS, args.runs, args.warmup, workdir), accuracy)
    print(render(rows, timer))
    if args.json:
        args.json.write_text(json.dumps({**info, "timer": timer, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
