"""Training across processes (hosts): join them, and give each its shard of the data.

    gd.distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=i)  # before any JAX work
    shard = gd.distributed.shard(gd.datasets.load("mnist1d"))                    # rows i*n/2 .. (i+1)*n/2 - 1
    result = gd.fit(model, shard, gd.sgd(0.1), batch_size=64)                 # data parallel over every device

With several processes ``gd.fit`` treats its data as this process's shard
(all shards the same size), trains data parallel over every device of every
process, and only process 0 records the run. See docs/distributed.md.
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import replace

import jax

from gdlab.core.checks import check_int_range, check_positive_float
from gdlab.core.dataset import Dataset


def initialize(
    coordinator: str, num_processes: int, process_id: int, *, timeout: float = 60.0
) -> None:
    """Join the ``num_processes`` processes through the coordinator HOST:PORT (process 0 serves it).

    Call it before any other JAX work. A process other than 0 first waits up
    to ``timeout`` seconds for the coordinator's port to accept a connection
    and raises ``TimeoutError`` if it never does (JAX itself would abort the
    process). CPU collectives across processes use gloo.
    """
    host, port = parse_coordinator(coordinator)
    num_processes = check_int_range("num_processes", num_processes, 1)
    process_id = check_int_range("process_id", process_id, 0, num_processes - 1)
    timeout = check_positive_float("timeout", timeout)
    if num_processes == 1:
        return
    if process_id != 0:
        wait_for_coordinator(host, port, timeout)
    if "jax_cpu_collectives_implementation" in jax.config.values:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"{host}:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=max(1, math.ceil(timeout)),
    )


def parse_coordinator(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port), port in [1, 65535]."""
    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"coordinator must be HOST:PORT with a port in [1, 65535]; got {text!r}.")
    return host.strip("[]"), int(port)


def wait_for_coordinator(host: str, port: int, timeout: float) -> None:
    """Return once host:port accepts a TCP connection; TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(0.05, min(left, 1.0))):
                return
        except OSError as err:
            if time.monotonic() + 0.1 >= deadline:
                raise TimeoutError(
                    f"coordinator {host}:{port} could not be reached within {timeout:g} s ({err}); "
                    "start process 0 first, or check the address and that the port is open."
                ) from None
        time.sleep(0.1)


def shard(data: Dataset, process_id: int | None = None, num_processes: int | None = None) -> Dataset:
    """This process's rows of the training and test sets: block i of num_processes equal blocks.

    By default the process id and count are JAX's (after ``initialize``).
    Both splits must divide evenly (drop a few rows otherwise).
    """
    count = jax.process_count() if num_processes is None else check_int_range("num_processes", num_processes, 1)
    index = jax.process_index() if process_id is None else check_int_range("process_id", process_id, 0, count - 1)
    for name, n in (("n_train", data.n_train), ("n_test", data.n_test)):
        if n % count:
            raise ValueError(
                f"{name} must be a multiple of the {count} processes so each holds an equal shard; "
                f"got {n} (drop {n % count} rows)."
            )
    train, test = data.n_train // count, data.n_test // count
    rows, test_rows = slice(index * train, (index + 1) * train), slice(index * test, (index + 1) * test)
    return replace(
        data,
        x_train=data.x_train[rows], y_train=data.y_train[rows],
        x_test=data.x_test[test_rows], y_test=data.y_test[test_rows],
        info={**data.info, "shard": (index, count)},
    )
