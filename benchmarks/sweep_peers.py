"""The peers of the sweep benchmark, one per process: ``python -m benchmarks.sweep_peers NAME ARGS_JSON``.

Every peer trains ``configs`` copies of one MLP, each with its own learning rate
(log-spaced over ``lr_range``), from the same initial weights, with plain SGD at
batch size ``batch_size`` for ``epochs`` epochs: per epoch one shuffled pass with a
running sum of the batch losses, then the test loss and accuracy (what
``gd.sweep(..., metrics="running")`` does; the gdlab peers take ``test_every``, default 1,
to test every n-th epoch and the last only). Each config-epoch is
6 x 4000 x (sum of fan_in x fan_out) FLOPs of matrix products.

A peer first runs a one-epoch warm-up of the same shapes (compiling, CUDA
context, first-call costs) and then times the whole training of every config.
It prints one JSON line: per config count, the wall seconds (and seconds per
epoch of all configs), final test accuracies per config, and peak memory
(device bytes on a GPU, resident set size on the CPU).

Peers: ``gdlab_sweep`` (one ``gd.sweep`` call, vmapped; ``mode`` picks the
precision: "default", "highest" or "bfloat16"; an optional ``max_memory`` is passed on), ``gdlab_fits`` (one ``gd.fit``
per config, one after another), ``torch_loop`` (one PyTorch model per config, one
after another: preloaded tensors, ``x[perm[i:i+b]]`` indexing, ``torch.optim.SGD``),
``torch_func`` (PyTorch's model-ensembling recipe: the stacked params
``stack_module_state`` makes, ``vmap(grad_and_value(functional_call ...))`` over
them, one SGD update on the stacked tensors; ``mode`` "tf32" allows TF32 matmuls), ``sweep_bound``
(``part`` "step" or "matmuls", ``mode`` "default" or "bfloat16": the bare programs of ``benchmarks.sweep_bound`` that bound any
vmapped sweep from above; no test pass per epoch).
"""

from __future__ import annotations

import itertools
import json
import resource
import sys
import time
from typing import Any

import numpy as np

from benchmarks.workload import N_TRAIN, initial_weights, load_arrays


def flops_per_config_epoch(sizes: tuple[int, ...]) -> float:
    """6 x n_train x sum(fan_in x fan_out): forward 2 and backward 4 FLOPs per weight per sample."""
    return 6.0 * N_TRAIN * sum(a * b for a, b in itertools.pairwise(sizes))


def learning_rates(configs: int, lr_range: tuple[float, float]) -> list[float]:
    return [float(v) for v in np.geomspace(lr_range[0], lr_range[1], configs)]


def host_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _gdlab_workload(gd: Any, sizes: tuple[int, ...]) -> tuple[Any, Any, Any]:
    """The MLP of these layer sizes, MNIST-1D, and the shared initial weights as gdlab params."""
    params = tuple({"w": w, "b": b} for w, b in initial_weights(sizes=sizes))
    return gd.models.mlp(hidden=sizes[1:-1]), gd.datasets.load("mnist1d"), params


def run_gdlab_sweep(args: dict[str, Any]) -> list[dict[str, Any]]:
    """gd.sweep over the learning rates: one compiled, vmapped program (config counts ascending)."""
    import jax

    import gdlab as gd

    model, data, params = _gdlab_workload(gd, tuple(args["sizes"]))
    compute = "bfloat16" if args["mode"] == "bfloat16" else None
    precision = "highest" if args["mode"] == "highest" else None
    if args.get("fused_tiles") or args.get("fused_update") is False:
        _fused_kernel(args.get("fused_tiles"), args.get("fused_update", True))
    if args.get("features_first"):  # the CPU's layout (Model.apply_vmapped) on any device, all configs at once
        import gdlab.engine.sweep as sweep_module

        sweep_module._cpu_layout = lambda: True  # type: ignore[attr-defined]
        sweep_module.config_block = lambda *args: 0  # type: ignore[attr-defined]
    out = []
    with jax.default_matmul_precision(precision):
        for configs in args["configs"]:
            grid = {"learning_rate": learning_rates(configs, args["lr_range"]), "batch_size": [args["batch_size"]],
                        "metrics": "running", "params": params, "compute_dtype": compute, "max_memory": args.get("max_memory"),
                        "kernel": args.get("kernel", "xla"), "test_every": args.get("test_every", 1)}
            tick = time.perf_counter()
            gd.sweep(model, data, epochs=1, **grid)
            warmup = time.perf_counter() - tick
            tick = time.perf_counter()
            result = gd.sweep(model, data, epochs=args["epochs"], **grid)
            accuracies = [r.get("final_test_accuracy", float("nan")) for r in result.rows]
            seconds = time.perf_counter() - tick
            row = _outcome(configs, seconds, seconds / args["epochs"], warmup, accuracies,
                           sum(r["status"] == "diverged" for r in result.rows), _device_peak(jax))
            group = result.groups[0]  # epoch_time is per chunk: an epoch of every config is the sum over chunks
            widths = [np.shape(jax.tree.leaves(chunk)[0])[1] for chunk in group.chunk_params]
            starts = np.cumsum([0, *widths])[:-1]
            row["chunks"] = len(widths)
            row["median_epoch_seconds"] = float(np.median(group.history["epoch_time"][1:, 0, starts].sum(axis=1)))
            out.append(row)
    return out


def _fused_kernel(tiles: list[int] | None, update: bool) -> None:
    """Benchmark only: the fused kernel's (row block, warps) for this process (gdlab's TILES when None),
    and whether plain SGD's update runs in it (False: the kernel gives the gradient, XLA updates)."""
    import functools

    from gdlab.engine import fused_mlp, objective

    settings = {"row_block": tiles[0], "num_warps": tiles[1]} if tiles else {}
    objective.fused_value_and_grad = functools.partial(fused_mlp.fused_value_and_grad, **settings)  # type: ignore[assignment]
    objective.fused_sgd_step = (  # type: ignore[assignment]
        functools.partial(fused_mlp.fused_sgd_step, **settings) if update else lambda *args, **kwargs: None)
    objective.model_objective.cache_clear()


def run_gdlab_fits(args: dict[str, Any]) -> list[dict[str, Any]]:
    """One gd.fit per learning rate, one after another (learning rates are traced: one compile)."""
    import jax

    import gdlab as gd

    model, data, params = _gdlab_workload(gd, tuple(args["sizes"]))
    common = {"batch_size": args["batch_size"], "metrics": "running", "params": params, "check_stability": False,
                  "test_every": args.get("test_every", 1)}
    out = []
    for configs in args["configs"]:
        rates = learning_rates(configs, args["lr_range"])
        tick = time.perf_counter()
        gd.fit(model, data, gd.sgd(rates[0]), epochs=1, **common)
        warmup = time.perf_counter() - tick
        tick = time.perf_counter()
        results = [gd.fit(model, data, gd.sgd(lr), epochs=args["epochs"], **common) for lr in rates]
        seconds = time.perf_counter() - tick
        out.append(_outcome(configs, seconds, seconds / args["epochs"], warmup,
                            [float(r.history["test_accuracy"][-1]) for r in results],
                            sum(r.status == "diverged" for r in results), _device_peak(jax)))
    return out


def run_torch_loop(args: dict[str, Any]) -> list[dict[str, Any]]:
    """One nn.Sequential per learning rate, trained one after another with torch.optim.SGD."""
    import torch
    import torch.nn.functional as F

    from benchmarks.peers_torch import torch_model

    device = _torch_device(torch, args)
    x, y, x_test, y_test = (torch.from_numpy(a).to(device) for a in load_arrays())
    weights = initial_weights(sizes=tuple(args["sizes"]))
    b = args["batch_size"]

    def train(lr: float, epochs: int) -> float:
        model = torch_model(weights).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for _ in range(epochs):
            order = torch.randperm(N_TRAIN, device=device)
            total = torch.zeros((), device=device)
            for i in range(0, N_TRAIN, b):
                idx = order[i : i + b]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * idx.numel()
            with torch.no_grad():
                accuracy = (model(x_test).argmax(1) == y_test).float().mean()
        return float(accuracy)

    torch.manual_seed(0)
    out = []
    for configs in args["configs"]:
        tick = time.perf_counter()
        train(1e-2, 1)
        warmup = time.perf_counter() - tick
        tick = time.perf_counter()
        accuracies = [train(lr, args["epochs"]) for lr in learning_rates(configs, args["lr_range"])]
        seconds = time.perf_counter() - tick
        out.append(_outcome(configs, seconds, seconds / args["epochs"], warmup, accuracies,
                            sum(not np.isfinite(a) for a in accuracies), _torch_peak(torch, device)))
    return out


def run_torch_func(args: dict[str, Any]) -> list[dict[str, Any]]:
    """torch.func ensembling: vmap(grad_and_value(functional_call)) over stacked params, one SGD update."""
    import torch
    import torch.nn.functional as F
    from torch.func import functional_call, grad_and_value, vmap

    from benchmarks.peers_torch import torch_model

    device = _torch_device(torch, args)
    if args["mode"] == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = True
    x, y, x_test, y_test = (torch.from_numpy(a).to(device) for a in load_arrays())
    base = torch_model(initial_weights(sizes=tuple(args["sizes"]))).to(device)
    skeleton = torch_model(initial_weights(sizes=tuple(args["sizes"]))).to("meta")
    b = args["batch_size"]

    def loss_fn(params: dict[str, Any], xb: Any, yb: Any) -> Any:
        return F.cross_entropy(functional_call(skeleton, params, (xb,)), yb)

    step = vmap(grad_and_value(loss_fn), in_dims=(0, None, None))
    evaluate = vmap(lambda p, xt: functional_call(skeleton, p, (xt,)).argmax(1), in_dims=(0, None))

    def train(rates: list[float], epochs: int) -> Any:
        # the dict stack_module_state returns for len(rates) copies of the same model
        params = {k: v.detach().unsqueeze(0).repeat(len(rates), *[1] * v.ndim) for k, v in base.named_parameters()}
        lr = torch.tensor(rates, device=device)
        for _ in range(epochs):
            order = torch.randperm(N_TRAIN, device=device)
            total = torch.zeros(len(rates), device=device)
            for i in range(0, N_TRAIN, b):
                idx = order[i : i + b]
                grads, loss = step(params, x[idx], y[idx])
                with torch.no_grad():
                    for k, weights in params.items():
                        weights -= lr.view(-1, *[1] * (weights.ndim - 1)) * grads[k]
                total += loss.detach() * idx.numel()
            with torch.no_grad():
                accuracy = (evaluate(params, x_test) == y_test).float().mean(1)
        return accuracy.cpu().numpy()

    out = []
    for configs in args["configs"]:
        rates = learning_rates(configs, args["lr_range"])
        tick = time.perf_counter()
        train(rates, 1)
        warmup = time.perf_counter() - tick
        tick = time.perf_counter()
        accuracies = [float(a) for a in train(rates, args["epochs"])]
        seconds = time.perf_counter() - tick
        out.append(_outcome(configs, seconds, seconds / args["epochs"], warmup, accuracies,
                            sum(not np.isfinite(a) for a in accuracies), _torch_peak(torch, device)))
    return out


def run_sweep_bound(args: dict[str, Any]) -> list[dict[str, Any]]:
    """A bare vmapped sweep (benchmarks.sweep_bound): ``part`` "step", "matmuls" or "matmuls-ff", configs over
    every device (``block`` at a time on each, where given)."""
    import jax
    import jax.numpy as jnp

    from benchmarks.sweep_bound import accuracy, epoch_program, starting_point

    a = load_arrays()
    x, y = jnp.asarray(a.x_train), jnp.asarray(a.y_train, jnp.int32)
    dtype = jnp.bfloat16 if args["mode"] == "bfloat16" else None
    epoch = epoch_program(args["part"], x, y, args["batch_size"], dtype, args.get("block", 0))
    out = []
    for configs in args["configs"]:
        start, lr = starting_point(tuple(args["sizes"]), learning_rates(configs, args["lr_range"]))
        tick = time.perf_counter()
        jax.block_until_ready(epoch(start, lr, jax.random.PRNGKey(0)))
        warmup = time.perf_counter() - tick
        tick = time.perf_counter()
        params = start
        for e in range(args["epochs"]):
            params = epoch(params, lr, jax.random.PRNGKey(e + 1))
        jax.block_until_ready(params)
        seconds = time.perf_counter() - tick
        accuracies = ([float(v) for v in accuracy(params, jnp.asarray(a.x_test), jnp.asarray(a.y_test, jnp.int32))]
                      if args["part"] in ("step", "fused") else [float("nan")] * configs)
        out.append(_outcome(configs, seconds, seconds / args["epochs"], warmup, accuracies, 0, _device_peak(jax)))
    return out


def _outcome(configs: int, seconds: float, epoch_seconds: float, warmup: float, accuracies: list[float],
             diverged: int, peak_bytes: int) -> dict[str, Any]:
    return {"configs": configs, "seconds": seconds, "epoch_seconds": epoch_seconds, "warmup_seconds": warmup,
            "test_accuracy": accuracies, "diverged": int(diverged), "peak_bytes": peak_bytes}


def _device_peak(jax: Any) -> int:
    stats = jax.devices()[0].memory_stats() if jax.devices()[0].platform != "cpu" else None
    return int(stats.get("peak_bytes_in_use", 0)) if stats else host_peak_bytes()


def _torch_device(torch: Any, args: dict[str, Any]) -> Any:
    return torch.device("cuda" if args.get("device") == "gpu" and torch.cuda.is_available() else "cpu")


def _torch_peak(torch: Any, device: Any) -> int:
    if device.type == "cuda":
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated())
    return host_peak_bytes()


PEERS = {"gdlab_sweep": run_gdlab_sweep, "gdlab_fits": run_gdlab_fits,
         "torch_loop": run_torch_loop, "torch_func": run_torch_func, "sweep_bound": run_sweep_bound}


if __name__ == "__main__":
    print(json.dumps(PEERS[sys.argv[1]](json.loads(sys.argv[2]))))
