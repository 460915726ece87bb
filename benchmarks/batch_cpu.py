"""CPU seconds of gd.fit and gd.sweep per batch size: does batch GD cost what a mini-batch epoch costs?

``taskset -c 1 python -m benchmarks.batch_cpu full 2000 1000 600 128`` trains the MNIST-1D MLP on one CPU
device: ``gd.fit`` (``sgd(0.1)``, 30 epochs) and ``gd.sweep`` (3 seeds x 8 log-spaced rates, 10 epochs),
``metrics="running"``, each after a compiling call, and prints the process's CPU seconds for each (the best of
``--repeats``): CPU time, not wall time, so a run beside other jobs still compares. Every batch size does the
same FLOPs per epoch.
"""

from __future__ import annotations

import argparse
import os
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch_sizes", nargs="+", help="batch sizes, or 'full'")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    import gdlab as gd

    data, model = gd.datasets.load("mnist1d"), gd.models.mlp([100, 100])
    rates = [float(v) for v in gd.logspace(0.01, 1, 8)]
    for text in args.batch_sizes:
        size: int | str = text if text == "full" else int(text)
        fit_seconds, sweep_seconds = [], []
        gd.fit(model, data, gd.sgd(0.1), batch_size=size, epochs=2, metrics="running")
        gd.sweep(model, data, learning_rate=rates, batch_size=[size], seeds=3, epochs=2, metrics="running")
        for _ in range(args.repeats):
            start = time.process_time()
            fit = gd.fit(model, data, gd.sgd(0.1), batch_size=size, epochs=30, metrics="running")
            fit_seconds.append(time.process_time() - start)
            start = time.process_time()
            sweep = gd.sweep(model, data, learning_rate=rates, batch_size=[size], seeds=3, epochs=10,
                             metrics="running")
            sweep_seconds.append(time.process_time() - start)
        print(f"batch {text}: gd.fit 30 epochs {min(fit_seconds):.3f} s (loss {fit.history['train_loss'][-1]:.5f}); "
              f"gd.sweep 24 configs x 10 epochs {min(sweep_seconds):.3f} s (loss {sweep.rows[3]['final_train_loss']:.5f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
