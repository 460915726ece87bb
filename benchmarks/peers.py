"""Seconds per epoch of the MNIST-1D MLP in gdlab and its peers, at batch sizes 1, 32, 128 and full.

    python -m benchmarks.peers            # full run (a few minutes)
    python -m benchmarks.peers --quick    # smoke test: fewer epochs
    python -m benchmarks.peers --json out.json

Each (batch size, peer) cell runs in its own fresh Python process, so no
other framework's thread pool shares its process; the peers of one batch size
run back to back. This process collects the numbers and prints one table.
With the full-batch cell each peer also runs an agreement check: 3 full-batch
epochs from the shared initial weights, whose losses must match gdlab's
(full-batch gradient descent does not depend on the sample order).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks.machine import machine_info, matmul_peaks, versions
from benchmarks.peers_table import REFERENCE, build_rows, markdown_table, verdict_lines, verdicts
from benchmarks.workload import (
    FLOPS_PER_EPOCH,
    FULL_PLAN,
    N_TRAIN,
    QUICK_PLAN,
    Plan,
    Runner,
    batch_label,
    initial_weights,
    load_arrays,
)

AGREEMENT = Plan(N_TRAIN, 3)
AGREEMENT_TOLERANCE = 1e-4


class Peer(NamedTuple):
    """A peer: its table label, and the module and function that run it."""

    label: str
    module: str
    runner: str


PEERS = {
    "gdlab": Peer("gdlab gd.fit", "benchmarks.peers_gdlab", "run_gdlab"),
    "torch_dataloader": Peer(
        "PyTorch DataLoader", "benchmarks.peers_torch", "run_torch_dataloader"
    ),
    "torch_dataloader_1t": Peer(
        "PyTorch DataLoader 1 thread", "benchmarks.peers_torch", "run_torch_dataloader_one_thread"
    ),
    "torch_randperm": Peer("PyTorch randperm", "benchmarks.peers_torch", "run_torch_randperm"),
    "jax_optax": Peer("JAX+optax jit step", "benchmarks.peers_jax", "run_jax_optax"),
    "sklearn": Peer("sklearn partial_fit", "benchmarks.peers_sklearn", "run_sklearn"),
}


def run_cell(name: str, plan: Plan, check: bool) -> dict[str, Any]:
    """In this process: one peer at one plan, then (if check) the agreement run."""
    peer = PEERS[name]
    module = importlib.import_module(peer.module)
    runner: Runner = getattr(module, peer.runner)
    arrays, weights = load_arrays(), initial_weights()
    info = module.info()  # before the runs, which may change settings

    def cell(p: Plan) -> dict[str, Any]:
        run = runner(arrays, weights, p.batch_size, p.epochs)
        return {"batch_size": p.batch_size, "epochs": p.epochs, **run._asdict()}

    result = {"info": info, "run": cell(plan)}
    if check:
        result["agreement"] = cell(AGREEMENT)
    return result


def run_cell_process(name: str, plan: Plan, check: bool) -> dict[str, Any]:
    """run_cell in a fresh Python process; its JSON is the last line it prints."""
    command = [sys.executable, "-m", "benchmarks.peers", "--worker", name]
    command += ["--batch-size", str(plan.batch_size), "--epochs", str(plan.epochs)]
    command += ["--agreement"] if check else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"peer {name} failed (exit {done.returncode}):\n{done.stderr.strip()[-3000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_peers(plan: tuple[Plan, ...]) -> dict[str, dict[str, Any]]:
    """Every (batch size, peer) cell in its own process, batch size by batch size.

    The peers of one batch size run back to back (forward, then backward for the
    next batch size), so the ratios within a batch size see the same machine.
    The last batch size's processes also run the agreement check.
    """
    results: dict[str, dict[str, Any]] = {name: {"runs": []} for name in PEERS}
    for i, p in enumerate(plan):
        check = i == len(plan) - 1
        for name in list(PEERS)[:: 1 if i % 2 == 0 else -1]:
            print(f"batch {batch_label(p.batch_size)}: {name}", file=sys.stderr, flush=True)
            out = run_cell_process(name, p, check)
            results[name]["info"] = out["info"]
            results[name]["runs"].append(out["run"])
            if check:
                results[name]["agreement"] = out["agreement"]
    return results


def run_benchmark(quick: bool) -> dict[str, Any]:
    """Machine facts, matmul peaks, every peer's cells, the rows and the target verdicts."""
    report: dict[str, Any] = {"machine": machine_info(), "versions": versions(), "quick": quick}
    report["matmul_gflops"] = matmul_peaks()
    results = run_peers(QUICK_PLAN if quick else FULL_PLAN)
    labels = {name: peer.label for name, peer in PEERS.items()}
    one_core_peak = report["matmul_gflops"]["one_core"]["best"]
    report["rows"] = build_rows(results, labels, one_core_peak)
    report["targets"] = verdicts(report["rows"])
    report["agreement"] = agreement(results)
    report["peer_info"] = {name: r["info"] for name, r in results.items()}
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


def agreement(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each peer's losses after the full-batch agreement run, and the largest gap to gdlab's."""
    losses = {
        name: {key: r["agreement"][key] for key in ("train_loss", "test_loss", "test_accuracy")}
        for name, r in results.items()
    }
    reference = losses[REFERENCE]
    gap = max(
        abs(values[key] - reference[key])
        for values in losses.values()
        for key in ("train_loss", "test_loss")
    )
    return {"losses": losses, "max_gap": gap, "ok": gap <= AGREEMENT_TOLERANCE}


def render(report: dict[str, Any]) -> str:
    """The printed report: versions, machine, peaks, the table, targets, agreement, notes."""
    m, peaks = report["machine"], report["matmul_gflops"]
    lines = [
        "versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        (
            f"machine: {m['cpu_model']}, nproc {m['nproc']}, {m['platform']}, "
            f"load average (1, 5, 15 min) at start {m['load_average_at_start']}, "
            f"at end {m['load_average_at_end']}, {m['date_utc']}"
        ),
        (
            f"float32 matmul 2048x2048 (jax.jit jnp.dot), best / median of 20: "
            f"all cores {peaks['all_cores']['best']:.1f} / {peaks['all_cores']['median']:.1f} GFLOP/s; "
            f"one core {peaks['one_core']['best']:.1f} / {peaks['one_core']['median']:.1f} GFLOP/s "
            "(the one-core best is the peak below)"
        ),
        f"one epoch = 6 * 4000 * 15000 = {FLOPS_PER_EPOCH / 1e9:.2f} GFLOP; times are medians "
        "over the timed epochs (the warm-up epoch is left out)"
        + ("; QUICK run, too few epochs for stable numbers" if report["quick"] else ""),
        "",
        markdown_table(report["rows"], report["targets"]),
        "",
        *verdict_lines(report["targets"]),
        "",
        _agreement_line(report["agreement"]),
        *(f"{name}: {info}" for name, info in report["peer_info"].items()),
    ]
    return "\n".join(lines)


def _agreement_line(result: dict[str, Any]) -> str:
    losses = ", ".join(f"{name} {v['test_loss']:.6f}" for name, v in result["losses"].items())
    status = "OK" if result["ok"] else f"MISMATCH (tolerance {AGREEMENT_TOLERANCE:g})"
    return (
        f"agreement, {AGREEMENT.epochs} full-batch epochs from the same weights: test loss {losses}; "
        f"largest gap to gdlab {result['max_gap']:.2e} {status}"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer epochs: a smoke test, not a measurement"
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="also write every number to this JSON file"
    )
    parser.add_argument("--worker", choices=sorted(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--agreement", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --worker, one cell of one peer) and print the report."""
    args = _parse(argv)
    if args.worker:
        plan = Plan(args.batch_size, args.epochs)
        print(json.dumps(run_cell(args.worker, plan, args.agreement)))
        return 0
    report = run_benchmark(args.quick)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
