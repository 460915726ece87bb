"""The peers report: rows of (batch size, peer), the speed targets, and the printed text."""

from __future__ import annotations

import statistics
from typing import Any, NamedTuple

from benchmarks.workload import FLOPS_PER_EPOCH, N_TRAIN, batch_label

REFERENCE = "gdlab"
VARIANTS = {"torch_dataloader": "torch_dataloader_1t"}
"""A target's peer -> the same peer with another setting, whose ratio is shown beside it."""


class Target(NamedTuple):
    """gdlab must be at least `factor` times faster per epoch than `peer` at `batch_size`."""

    batch_size: int
    peer: str
    factor: float


TARGETS = (
    Target(1, "torch_dataloader", 50.0),
    Target(1, "jax_optax", 10.0),
    Target(32, "torch_dataloader", 7.0),
    Target(32, "jax_optax", 1.3),
    Target(128, "torch_dataloader", 5.0),
)

COLUMNS = (
    "batch",
    "peer",
    "epochs (timed)",
    "ms/epoch",
    "samples/s",
    "GFLOP/s (1-core peak)",
    "test acc",
    "peer/gdlab",
    "target",
)


def build_rows(
    results: dict[str, dict[str, Any]], labels: dict[str, str], one_core_peak: float
) -> list[dict[str, Any]]:
    """One row per (batch size, peer), in plan order, with the time ratio to gdlab's."""
    rows = []
    for run in results[REFERENCE]["runs"]:
        batch_size = run["batch_size"]
        reference = statistics.median(run["epoch_seconds"])
        for name, result in results.items():
            peer_run = next(r for r in result["runs"] if r["batch_size"] == batch_size)
            rows.append(_row(name, labels[name], peer_run, reference, one_core_peak))
    return rows


def verdicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PASS/MISS for each target with the achieved ratio (and the shortfall when missed)."""
    found = []
    for target in TARGETS:
        ratio = _ratio(rows, target.batch_size, target.peer)
        variant = VARIANTS.get(target.peer)
        found.append(
            {
                **target._asdict(),
                "ratio": ratio,
                "verdict": "PASS" if ratio >= target.factor else "MISS",
                "shortfall": max(target.factor / ratio, 1.0),
                "variant": variant,
                "variant_ratio": _ratio(rows, target.batch_size, variant) if variant else None,
            }
        )
    return found


def _ratio(rows: list[dict[str, Any]], batch_size: int, peer: str) -> float:
    row = next(r for r in rows if r["batch_size"] == batch_size and r["peer"] == peer)
    return float(row["ratio_vs_gdlab"])


def markdown_table(rows: list[dict[str, Any]], checks: list[dict[str, Any]]) -> str:
    """The report as one Markdown table (it reads as plain text too)."""
    cells = [[_cell(row, column, checks) for column in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    lines = [_line(COLUMNS, widths), _line(tuple("-" * w for w in widths), widths)]
    lines += [_line(tuple(r), widths) for r in cells]
    return "\n".join(lines)


def verdict_lines(checks: list[dict[str, Any]]) -> list[str]:
    """One line per target: PASS/MISS, the achieved and the wanted ratio."""
    lines = []
    for c in checks:
        line = (
            f"{c['verdict']}  batch {batch_label(c['batch_size'])}: gdlab vs {c['peer']} "
            f"{c['ratio']:.2f}x faster (target >= {c['factor']:g}x)"
        )
        if c["verdict"] == "MISS":
            line += f"; short by a factor {c['shortfall']:.3f}"
        if c["variant"]:
            line += f" [vs {c['variant']}: {c['variant_ratio']:.2f}x]"
        lines.append(line)
    return lines


def _row(
    name: str, label: str, run: dict[str, Any], reference: float, one_core_peak: float
) -> dict[str, Any]:
    seconds = statistics.median(run["epoch_seconds"])
    gflops = FLOPS_PER_EPOCH / seconds / 1e9
    return {
        "batch_size": run["batch_size"],
        "peer": name,
        "label": label,
        "epochs": run["epochs"],
        "timed_epochs": len(run["epoch_seconds"]),
        "ms_per_epoch": seconds * 1e3,
        "samples_per_second": N_TRAIN / seconds,
        "gflops": gflops,
        "one_core_peak_fraction": gflops / one_core_peak,
        "test_accuracy": run["test_accuracy"],
        "test_loss": run["test_loss"],
        "train_loss": run["train_loss"],
        "warmup_seconds": run["warmup_seconds"],
        "ratio_vs_gdlab": seconds / reference,
        "epoch_seconds": run["epoch_seconds"],
    }


def _cell(row: dict[str, Any], column: str, checks: list[dict[str, Any]]) -> str:
    if column == "batch":
        return batch_label(row["batch_size"])
    if column == "peer":
        return row["label"]
    if column == "epochs (timed)":
        return f"{row['epochs']} ({row['timed_epochs']})"
    if column == "ms/epoch":
        return f"{row['ms_per_epoch']:.1f}"
    if column == "samples/s":
        return f"{row['samples_per_second']:,.0f}"
    if column == "GFLOP/s (1-core peak)":
        return f"{row['gflops']:.2f} ({row['one_core_peak_fraction']:.1%})"
    if column == "test acc":
        return f"{row['test_accuracy']:.3f}"
    if column == "peer/gdlab":
        return f"{row['ratio_vs_gdlab']:.2f}x"
    return _target_cell(row, checks)


def _target_cell(row: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    for c in checks:
        if c["batch_size"] == row["batch_size"] and c["peer"] == row["peer"]:
            return f">= {c['factor']:g}x {c['verdict']}"
    return ""


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
