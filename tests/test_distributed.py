"""Training across processes: two real processes on loopback (gloo CPU collectives) equal one process."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

import gdlab as gd

TWO_PROCESSES = textwrap.dedent("""
    import json, sys
    import numpy as np
    import gdlab as gd
    gd.distributed.initialize(f"127.0.0.1:{sys.argv[2]}", num_processes=2, process_id=int(sys.argv[1]),
                              timeout=120)
    import jax
    d = gd.datasets.load("mnist1d", cache_path=sys.argv[3])
    small = gd.datasets.from_arrays(d.x_train[:600], d.y_train[:600], test_fraction=0.25, seed=1)
    part = gd.distributed.shard(small)  # this process's 225 of the 450 training rows
    store = gd.store.open(sys.argv[4]) if jax.process_index() == 0 else None
    r = gd.fit(gd.models.mlp(hidden=(24,)), part, gd.sgd(0.1, momentum=0.9), batch_size=60, epochs=3,
               seed=5, record=None if store is None else store.recorder(1))
    print(json.dumps({"process": jax.process_index(), "devices": jax.device_count(), "rows": part.n_train,
                      "params": [np.asarray(a).ravel().tolist() for a in jax.tree.leaves(r.params)],
                      "history": {k: v.tolist() for k, v in r.history.items()}}))
""")


def _free_port() -> int:
    """A port free now, below the ephemeral range (which the OS hands to every outgoing connection and
    bind to port 0), so that nothing but an explicit bind can take it before JAX's coordinator binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    below = range(20000, min(ephemeral, 32768))
    for port in random.Random().sample(below, min(200, len(below))) or [0]:  # 0: the OS picks (a wide range)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port below the ephemeral range")


def test_two_processes_each_holding_half_the_data_equal_one_process(mnist1d, data_cache, tmp_path) -> None:
    port, db = _free_port(), tmp_path / "runs.db"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device per process
    procs = [subprocess.Popen([sys.executable, "-c", TWO_PROCESSES, str(i), str(port), str(data_cache), str(db)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in (0, 1)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [o["process"] for o in outs] == [0, 1] and outs[0]["devices"] == 2
    assert [o["rows"] for o in outs] == [225, 225]
    small = gd.datasets.from_arrays(mnist1d.x_train[:600], mnist1d.y_train[:600], test_fraction=0.25, seed=1)
    alone = gd.fit(gd.models.mlp(hidden=(24,)), small, gd.sgd(0.1, momentum=0.9), batch_size=60, epochs=3, seed=5)
    for out in outs:  # float32: two per-process means round differently from one mean
        for a, b in zip(jax.tree.leaves(alone.params), out["params"], strict=True):
            np.testing.assert_allclose(b, np.asarray(a).ravel(), rtol=1e-5, atol=1e-6)
        for name in ("train_loss", "grad_norm", "test_loss", "test_accuracy"):
            np.testing.assert_allclose(out["history"][name], alone.history[name], rtol=1e-5, atol=1e-6)
    with gd.store.open(db) as store:  # process 0 alone recorded the run
        runs = store.runs()
        assert len(runs) == 1 and runs[0].status == "max_epochs" and runs[0].config["n_train"] == 450


def test_an_unreachable_coordinator_is_a_clear_error_within_the_timeout() -> None:
    port = _free_port()  # bound and closed: nothing listens there
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=rf"coordinator 127.0.0.1:{port} could not be reached within 0.5 s"):
        gd.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=1, timeout=0.5)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("localhost", 2, 0), ValueError, r"coordinator must be HOST:PORT with a port in \[1, 65535\]; got 'localhost'"),
        (("localhost:70000", 2, 0), ValueError, "coordinator must be HOST:PORT"),
        (("localhost:1234", 0, 0), ValueError, r"num_processes must be an integer in \[1, inf\]; got 0"),
        (("localhost:1234", 2, 2), ValueError, r"process_id must be an integer in \[0, 1\]; got 2"),
    ],
)
def test_bad_distributed_arguments(args, error, match) -> None:
    with pytest.raises(error, match=match):
        gd.distributed.initialize(*args)


def test_each_process_gets_an_equal_block_of_rows() -> None:
    data = gd.datasets.load("linreg", n=100, test_fraction=0.2)
    parts = [gd.distributed.shard(data, process_id=i, num_processes=4) for i in range(4)]
    np.testing.assert_array_equal(np.concatenate([p.x_train for p in parts]), data.x_train)
    np.testing.assert_array_equal(np.concatenate([p.y_test for p in parts]), data.y_test)
    assert {p.n_train for p in parts} == {20}
    with pytest.raises(ValueError, match=r"n_train must be a multiple of the 3 processes .*got 80 \(drop 2 rows\)"):
        gd.distributed.shard(data, process_id=0, num_processes=3)


def test_cli_two_processes_record_once(tmp_path, data_cache) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["GDLAB_CACHE_DIR"] = str(data_cache)
    env["GDLAB_CPU_DEVICES"] = "1"  # one device per process (the CLI's default is one per core)
    args = ["fit", "--dataset", "linreg", "--model", "linear", "--epochs", "2", "--batch-size", "40",
            "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--json", "--no-progress"]
    procs = [subprocess.Popen([sys.executable, "-m", "gdlab.cli", *args, "--process-id", str(i),
                               "--db", str(tmp_path / f"p{i}.db")], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    summaries = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-3000:]
        summaries.append(json.loads(stdout.strip().splitlines()[-1]))
    assert summaries[0]["config"]["devices"] == 2
    assert summaries[0]["final_train_loss"] == summaries[1]["final_train_loss"]
    alone = gd.fit(gd.models.linear(), gd.datasets.load("linreg"), gd.sgd(0.1), batch_size=40, epochs=2)
    assert summaries[0]["final_train_loss"] == pytest.approx(alone.history["train_loss"][-1], rel=1e-5)
    assert summaries[0]["run_id"] is not None and summaries[1]["run_id"] is None
    assert (tmp_path / "p0.db").exists() and not (tmp_path / "p1.db").exists()


def test_cli_coordinator_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from gdlab.cli import main

    port = _free_port()
    code = main(["fit", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", "1",
                 "--coordinator-timeout", "0.3", "--no-record"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: coordinator 127.0.0.1:{port} could not be reached within 0.3 s")
    assert len(err.splitlines()) == 1
    code = main(["fit", "--coordinator", "127.0.0.1:1234", "--no-record"])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: --num-processes must be given with --coordinator, --process-id "
        "(--coordinator HOST:PORT --num-processes N --process-id I).\n"
    )
    code = main(["fit", "--coordinator", "127.0.0.1:1234", "--num-processes", "1", "--process-id", "0",
                 "--coordinator-timeout", "-1", "--no-record"])
    assert code == 2  # named by its flag (gd.distributed.initialize calls it timeout)
    assert capsys.readouterr().err == "error: --coordinator-timeout must be a float in (0, inf); got -1.0.\n"
