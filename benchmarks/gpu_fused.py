"""One short GPU call: the fused MLP kernel's tile settings, then gd.sweep with it against XLA's batched products.

``python -m benchmarks.gpu_fused [--configs 16384] [--tiles 32,8 64,8,reload] [--counts 16384]
[--kernels xla xla-ff fused fused-grad]
[--parts sweeps bounds micro] [--json PATH]``

1. One training step's loss and gradient for ``--configs`` MLPs at batch 128 (MNIST-1D
   rows): XLA (``jax.value_and_grad`` of gdlab's objective, vmapped) against the fused
   kernel (``gdlab.engine.fused_mlp``) at each (row block, warps, weights held or reloaded), in JAX's default
   precision (TF32) and with bfloat16 products; TFLOP/s (6 x batch x weights per config)
   and the largest difference from XLA's gradient. Then the widest and deepest MLPs
   the kernel takes (128 wide, 3 and 5 layers) at the default tiles: do they compile, how fast.
2. The bare SGD step of ``benchmarks.sweep_bound`` over 10 epochs of ``--configs``: written in
   XLA (``step``) and as the fused kernel with the update folded in (``fused``): how much the
   engine would gain by folding the update into the kernel.
3. ``gd.sweep`` of the MNIST-1D MLP, ``--epochs`` (50), at each of ``--counts`` configs, with each
   of ``--kernels`` (the fused one at its default tiles, gdlab's ``TILES``, with the SGD
   update folded into the kernel; ``fused-grad``: the kernel's gradient, XLA's update; ``xla-ff``:
   XLA with the activations features-first, the layout gd.sweep takes on a CPU), TF32 and
   bfloat16, each in a fresh process (``benchmarks.sweep_peers``): wall and median-epoch
   TFLOP/s, test accuracies.
Each line prints as soon as it is measured; a setting that fails prints its error.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from typing import Any

from benchmarks.sweep import MNIST_MLP, run_peer
from benchmarks.sweep_peers import flops_per_config_epoch

PARTS = ("micro", "bounds", "sweeps")
"""The three measurements of the module docstring, in its order."""

TILES = ((32, 8), (128, 8), (32, 8, 0), (64, 8, 0), (128, 8, 0), (32, 4, 0), (64, 4, 0))
"""(row block, warps) settings tried, with a third entry 0: weights loaded at each use, not held."""


def _step_inputs(sizes: tuple[int, ...], configs: int) -> tuple[Any, Any, Any]:
    import jax
    import numpy as np

    import gdlab as gd
    from benchmarks.workload import load_arrays

    arrays = load_arrays()
    model = gd.models.mlp(hidden=sizes[1:-1])
    keys = jax.random.split(jax.random.PRNGKey(0), configs)
    params = jax.jit(jax.vmap(lambda k: model.init(k, sizes[0], sizes[-1])))(keys)
    x = np.asarray(arrays.x_train[:128], np.float32)
    x = jax.device_put(np.tile(x, (1, -(-sizes[0] // x.shape[1])))[:, : sizes[0]])  # wider inputs repeat columns
    y = jax.device_put(np.asarray(arrays.y_train[:128], np.int32))
    return params, x, y


def _time(fn: Any, *args: Any, reps: int = 10) -> tuple[float, Any]:
    import jax
    import numpy as np

    out = jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(reps):
        tick = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - tick)
    return float(np.median(times)), out


def micro(sizes: tuple[int, ...], configs: int, mode: str, tiles: tuple[tuple[int, ...], ...]) -> list[dict[str, Any]]:
    """Seconds per step of XLA's vmapped gradient and of the kernel at each tile setting."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import gdlab as gd
    from gdlab.engine.fused_mlp import fused_value_and_grad
    from gdlab.engine.objective import model_objective

    params, x, y = _step_inputs(sizes, configs)
    compute = "bfloat16" if mode == "bfloat16" else None
    flops = configs * 6.0 * 128 * sum(a * b for a, b in itertools.pairwise(sizes))
    name = f"{'-'.join(map(str, sizes))} x{configs} {mode}"
    xla_step = model_objective(gd.models.mlp(hidden=sizes[1:-1]).apply, "cross_entropy", True, compute)
    reference = jax.jit(jax.vmap(jax.value_and_grad(xla_step.loss), in_axes=(0, None, None)))
    seconds, (ref_loss, ref_grads) = _time(reference, params, x, y)
    rows = [{"label": f"{name} xla", "seconds": seconds, "tflops": flops / seconds / 1e12}]
    print(f"{rows[-1]['label']}: {seconds * 1e3:.3f} ms/step {rows[-1]['tflops']:.2f} TFLOP/s", flush=True)
    for block, warps, *held in tiles:
        resident = bool(held[0]) if held else True
        label = f"{name} fused rows {block} warps {warps}{'' if resident else ' reload'}"
        try:
            step = fused_value_and_grad("relu", compute, block, warps, resident_weights=resident)
            fused = jax.jit(jax.vmap(step, in_axes=(0, None, None)))
            seconds, (loss, grads) = _time(fused, params, x, y)
        except Exception as err:  # noqa: BLE001 -- a setting Triton cannot compile: report it, try the next
            print(f"{label}: failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}", flush=True)
            continue
        diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads)))
        rows.append({"label": label, "rows": block, "warps": warps, "resident": resident, "seconds": seconds,
                     "tflops": flops / seconds / 1e12, "grad_diff": diff,
                     "loss_diff": float(np.max(np.abs(np.asarray(loss) - np.asarray(ref_loss))))})
        print(f"{label}: {seconds * 1e3:.3f} ms/step {rows[-1]['tflops']:.2f} TFLOP/s "
              f"(max |grad - xla| {diff:.2e}, |loss - xla| {rows[-1]['loss_diff']:.2e})", flush=True)
    return rows


def _sweeps(counts: list[int], kernels: list[str], epochs: int, tests: list[int], rows: list[dict[str, Any]]) -> None:
    import numpy as np

    base = {"epochs": epochs, "batch_size": 128, "sizes": list(MNIST_MLP), "device": "gpu", "lr_range": [1e-3, 0.5]}
    for configs in counts:
        flops = configs * flops_per_config_epoch(MNIST_MLP)
        for mode, kernel, test_every in itertools.product(("default", "bfloat16"), kernels, tests):
            label = f"gd.sweep {'-'.join(map(str, MNIST_MLP))} x{configs} {mode} kernel={kernel}"
            label += f" test_every={test_every}" if test_every != 1 else ""
            peer = {**base, "configs": [configs], "mode": mode, "kernel": kernel.split("-")[0],
                    "fused_update": kernel != "fused-grad", "features_first": kernel == "xla-ff",
                    "test_every": test_every}
            try:
                (r,) = run_peer("gdlab_sweep", peer)
            except RuntimeError as err:
                print(f"{label}: failed: {str(err).splitlines()[-1][:300]}", flush=True)
                continue
            r.update(label=label, tflops=flops / r["epoch_seconds"] / 1e12,
                     median_tflops=flops / r["median_epoch_seconds"] / 1e12)
            acc = np.asarray(r.get("test_accuracy", [np.nan]), float)
            print(f"{label}: {r['epoch_seconds']:.4f} s/epoch {r['tflops']:.2f} TFLOP/s (median epoch "
                  f"{r['median_tflops']:.2f}), compile+1 epoch {r.get('warmup_seconds', float('nan')):.1f} s, "
                  f"test accuracy median {np.nanmedian(acc):.4f} max {np.nanmax(acc):.4f}, "
                  f"diverged {r.get('diverged')}", flush=True)
            rows.append(r)


def _bounds(configs: int, rows: list[dict[str, Any]]) -> None:
    import numpy as np

    flops = configs * flops_per_config_epoch(MNIST_MLP)
    base = {"configs": [configs], "epochs": 10, "batch_size": 128, "sizes": list(MNIST_MLP), "device": "gpu",
            "lr_range": [1e-3, 0.5]}
    for mode in ("default", "bfloat16"):
        for part in ("step", "fused"):
            label = f"bare step {'-'.join(map(str, MNIST_MLP))} x{configs} {mode} {part}"
            try:
                (r,) = run_peer("sweep_bound", {**base, "mode": mode, "part": part})
            except RuntimeError as err:
                print(f"{label}: failed: {str(err).splitlines()[-1][:300]}", flush=True)
                continue
            r.update(label=label, tflops=flops / r["epoch_seconds"] / 1e12)
            print(f"{label}: {r['epoch_seconds']:.4f} s/epoch {r['tflops']:.2f} TFLOP/s, test accuracy median "
                  f"{np.nanmedian(np.asarray(r['test_accuracy'], float)):.4f}", flush=True)
            rows.append(r)


def _pairs(text: str) -> tuple[int, ...]:
    """ROWS,WARPS (weights held for the whole kernel) or ROWS,WARPS,reload (loaded at each use)."""
    rows, warps, *reload = text.split(",")
    return (int(rows), int(warps), *([0] if reload == ["reload"] else []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=16384, help="configs of the one-step measurements")
    parser.add_argument("--tiles", nargs="+", type=_pairs, default=list(TILES),
                        help="ROWS,WARPS or ROWS,WARPS,reload settings to try")
    parser.add_argument("--counts", nargs="+", type=int, default=[16384], help="configs of the gd.sweep runs")
    parser.add_argument("--epochs", type=int, default=50, help="epochs of each gd.sweep run (issue 4's workload: 50)")
    parser.add_argument("--test-every", nargs="+", type=int, default=[1],
                        help="gd.sweep's test_every settings to run (the --epochs value: the test pass at the end "
                             "only; the TFLOP/s count training FLOPs, which the test pass, ~8%% of them, is not)")
    parser.add_argument("--kernels", nargs="+", choices=("xla", "xla-ff", "fused", "fused-grad"),
                        default=["xla", "xla-ff", "fused", "fused-grad"],
                        help="fused-grad: the kernel computes the gradient only, XLA the update; xla-ff: XLA with "
                             "the activations features-first (Model.apply_vmapped), the CPU's layout")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="which of the three measurements to make, in this order (default: 1, 2, 3)")
    parser.add_argument("--json", help="save every number to this file (rewritten after each part)")
    args = parser.parse_args()
    import jax

    from gdlab.engine.fused_mlp import TILES as DEFAULT_TILES

    print(f"device: {jax.devices()[0].device_kind}, jax {jax.__version__}", flush=True)
    rows: list[dict[str, Any]] = []
    for part in args.parts:
        if part == "micro":
            for mode in ("default", "bfloat16"):
                rows += micro(MNIST_MLP, args.configs, mode, tuple(args.tiles))
            for sizes in ((128, 128, 128, 128), (128,) * 6):
                for mode in ("default", "bfloat16"):
                    tile = DEFAULT_TILES["bfloat16" if mode == "bfloat16" else "float32"]
                    rows += micro(sizes, max(args.configs // 4, 1), mode, (tile, (*tile, 0)))
        elif part == "bounds":
            _bounds(args.configs, rows)
        else:
            _sweeps(args.counts, args.kernels, args.epochs, args.test_every, rows)
        if args.json:  # after each part: a time limit that ends the call keeps what came before
            with open(args.json, "w") as f:
                json.dump([compact(r) for r in rows], f, indent=1)
    return 0


def compact(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its per-config test accuracies summed up (16384 of them make megabytes)."""
    import numpy as np

    accuracies = row.get("test_accuracy")
    if not isinstance(accuracies, list) or len(accuracies) <= 16:
        return row
    a = np.asarray(accuracies, float)
    return {**row, "test_accuracy": {"count": len(a), "median": float(np.nanmedian(a)), "min": float(np.nanmin(a)),
                                     "max": float(np.nanmax(a))}}


if __name__ == "__main__":
    raise SystemExit(main())
