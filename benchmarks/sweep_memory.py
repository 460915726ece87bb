"""The sweep's memory estimate against XLA's own count of the compiled epoch, per setting.

``python -m benchmarks.sweep_memory --json mem.json`` compiles one epoch of gd.sweep (1 and
4 (learning rate, momentum) pairs, 1 and 3 seeds) for a linear model on tall data
(linreg, 16000 x 50: the data outweighs the configs; batch sizes 50, 8000, 10000 (one full
batch and a remainder) and all the data) and for the MNIST-1D MLP at batch sizes 1, 32, 128
and all the data, and prints XLA's count (temporaries, arguments and
outputs, less what they share and less the data the program is given) beside the estimate
that picks the chunk: ``group_copy_bytes`` (the copies of the training data each seed's
epochs read) + pairs x seeds x ``config_bytes``. A ratio over 1 is a chunk smaller than
it could be; under 1, the budget exceeded until measured_chunk's check shrinks it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import jax
import numpy as np

import gdlab as gd
from gdlab.core.batching import batch_plan
from gdlab.engine.epoch import batch_grad_rows
from gdlab.engine.epoch_program import _COMPILED
from gdlab.engine.sweep_memory import allocated_bytes, config_bytes, group_copy_bytes


def measure(data: gd.Dataset, model: Any, batch_size: int | str, seeds: int, pairs: int) -> dict[str, Any]:
    """XLA's count and the estimate for one group of `pairs` x `seeds` configs, one chunk."""
    _COMPILED.clear()
    gd.sweep(model, data, learning_rate=gd.logspace(1e-3, 1e-2, pairs), batch_size=[batch_size], seeds=seeds,
             epochs=1, max_memory=10**12)
    (program,) = _COMPILED.values()
    given = sum(int(np.asarray(a).nbytes) for a in (data.x_train, data.y_train, data.x_test, data.y_test))
    xla = allocated_bytes(program)
    size = data.n_train if batch_size == "full" else int(batch_size)
    params = model.init(jax.random.PRNGKey(0), data.input_shape, data.outputs)
    grad_rows = batch_grad_rows(batch_plan(data.n_train, size))
    copies = group_copy_bytes(data, np.float32, seeds, size, 1, grad_rows)
    estimate = copies + pairs * seeds * config_bytes(params, size, grad_rows=grad_rows)
    return {"data": data.name, "batch_size": batch_size, "seeds": seeds, "pairs": pairs,
            "xla_bytes": None if xla is None else xla - given, "estimate_bytes": estimate, "copies_bytes": copies,
            "ratio": None if xla is None else round(estimate / (xla - given), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="Write the rows to this file.")
    args = parser.parse_args()
    cases = [(gd.datasets.linreg(n=20000, features=50), gd.models.linear(), b) for b in (50, 8000, 10000, "full")]
    mnist = gd.datasets.load("mnist1d")
    cases += [(mnist, gd.models.mlp((100, 100)), b) for b in (1, 32, 128, "full")]
    rows = []
    print(f"{'data':8} {'batch':>6} {'seeds':>5} {'pairs':>5} {'XLA MB':>8} {'estimate MB':>11} {'copies MB':>9} "
          f"{'ratio':>6}  (jax {jax.__version__}, {jax.default_backend()})")
    for data, model, batch_size in cases:
        for seeds in (1, 3):
            for pairs in (1, 4):
                row = measure(data, model, batch_size, seeds, pairs)
                rows.append(row)
                xla = "n/a" if row["xla_bytes"] is None else f"{row['xla_bytes'] / 1e6:.2f}"
                print(f"{row['data']:8} {batch_size!s:>6} {seeds:5} {pairs:5} {xla:>8} "
                      f"{row['estimate_bytes'] / 1e6:11.2f} {row['copies_bytes'] / 1e6:9.2f} {row['ratio']!s:>6}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": jax.default_backend(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
