"""The CLI's CPU devices: one per core before JAX starts, overridable, never changed once JAX runs."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import pytest

from gdlab.commands.cpu_devices import arrange_cpu_devices

SCRIPT = """
import gdlab  # importing JAX does not start its backends: the count can still be set
from gdlab.commands.cpu_devices import arrange_cpu_devices
print(arrange_cpu_devices())
import jax
print(len(jax.devices("cpu")))
"""


def _run(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "GDLAB_CPU_DEVICES")}
    return subprocess.run([sys.executable, "-c", SCRIPT], env={**env, **env_overrides}, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"GDLAB_CPU_DEVICES": "3"}, ["3", "3"]),
    ({"GDLAB_CPU_DEVICES": "1"}, ["None", "1"]),
    ({"GDLAB_CPU_DEVICES": "3", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, ["None", "2"]),
    ({}, [str(len(os.sched_getaffinity(0))) if len(os.sched_getaffinity(0)) > 1 else "None",
          str(len(os.sched_getaffinity(0)))]),
])
def test_the_cli_gives_sweeps_one_cpu_device_per_core_unless_told(overrides, expected) -> None:
    done = _run(overrides)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected


def test_a_bad_device_count_is_a_clear_error() -> None:
    done = _run({"GDLAB_CPU_DEVICES": "many"})
    assert done.returncode != 0
    assert "GDLAB_CPU_DEVICES must be an integer >= 1 (CPU devices for sweeps); got 'many'." in done.stderr


def test_once_jax_runs_nothing_changes() -> None:
    jax.devices()
    environ = {"GDLAB_CPU_DEVICES": "4"}
    assert arrange_cpu_devices(environ) is None and environ == {"GDLAB_CPU_DEVICES": "4"}
