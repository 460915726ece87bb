"""Load on the lab's surfaces endpoint: 50 concurrent clients x 100 requests on loopback.

    python -m benchmarks.lab_load                 # 50 clients x 100 requests
    python -m benchmarks.lab_load --clients 5 --requests 10   # a smoke run

The server is ``gdlab lab`` in a subprocess (one uvicorn worker, as a user runs it).
Each client moves the sliders: every request has its own learning rate, condition
number and rotation (the compiled programs are reused; the first requests, which
compile them, are sent before the clock starts). Prints the errors (must be 0),
p50/p90/p99/max latency and the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _body(rng: random.Random) -> dict[str, object]:
    """What the page sends when a slider moves (the page's own grid and step count)."""
    return {
        "surface": "quadratic",
        "condition": 10 ** rng.uniform(0, 2),
        "angle": rng.uniform(-90, 90),
        "learning_rate": 10 ** rng.uniform(-2, 0.4),
        "momentum": 0.9,
        "optimizers": rng.choice([["plain"], ["plain", "momentum", "nesterov"]]),
        "steps": 60,
        "grid": 90,
    }


async def _client(url: str, requests: int, seed: int, latencies: list[float], errors: list[str]) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(requests):
            start = time.perf_counter()
            try:
                response = await client.post("/api/surface", json=_body(rng))
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as err:
                errors.append(repr(err))
            latencies.append(time.perf_counter() - start)


async def _load(url: str, clients: int, requests: int) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(url, requests, seed, latencies, errors) for seed in range(clients)))
    return latencies, errors, time.perf_counter() - start


def _wait_until_up(url: str, server: subprocess.Popen[bytes], limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(url + "openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {limit_s} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory() as scratch:
        server = subprocess.Popen(
            [sys.executable, "-m", "gdlab.cli", "lab", "--port", str(port), "--db", str(Path(scratch) / "lab.db")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            _wait_until_up(url, server)
            tick = time.perf_counter()
            for optimizers in (["plain"], ["plain", "momentum", "nesterov"]):  # compile, off the clock
                httpx.post(url + "api/surface", json={**_body(random.Random(0)), "optimizers": optimizers},
                           timeout=120).raise_for_status()
            warm = time.perf_counter() - tick
            latencies, errors, wall = asyncio.run(_load(url, args.clients, args.requests))
        finally:
            server.terminate()
            server.wait(timeout=30)
    ms = np.asarray(latencies) * 1000
    print(f"gdlab lab /api/surface: {args.clients} clients x {args.requests} requests on loopback "
          f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f})")
    print(f"first requests (compiling): {warm:.2f} s")
    print(f"requests {len(ms)}, errors {len(errors)}, wall {wall:.1f} s, {len(ms) / wall:.0f} requests/s")
    print("latency ms: " + ", ".join(f"p{q} {np.percentile(ms, q):.0f}" for q in (50, 90, 99))
          + f", max {ms.max():.0f}")
    for error in errors[:5]:
        print("error:", error)
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
