"""`duplexgen generate` against a real two-node Ray cluster on loopback.

The head and a second node are started with `ray start` (each `--block`, in their own process group,
with a random auth token), the driver is a separate `duplexgen generate ... ray.address=...` process,
and the manifest records which node wrote each shard.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from duplexgen.core.shards import find_shard_dirs, load_shards
from duplexgen.pipeline.validate import validate_dir

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


@pytest.fixture
def two_node_cluster(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    common = ["--block", "--num-cpus=1", "--disable-usage-stats"]
    procs = []
    try:
        procs.append(subprocess.Popen(
            [ray_bin(), "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
            env=env, start_new_session=True, stdout=open(tmp_path / "head.log", "wb"), stderr=subprocess.STDOUT,
        ))
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while subprocess.run([ray_bin(), "status", f"--address={address}"], env=env, capture_output=True).returncode != 0:
            assert procs[0].poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the head node did not come up"
            time.sleep(1)
        procs.append(subprocess.Popen(
            [ray_bin(), "start", f"--address={address}", '--resources={"second_node": 1}', *common],
            env=env, start_new_session=True, stdout=open(tmp_path / "worker.log", "wb"), stderr=subprocess.STDOUT,
        ))
        probe = f"import ray; ray.init(address='{address}'); print(len([n for n in ray.nodes() if n['Alive']]))"
        while subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout.strip() != "2":
            assert time.monotonic() < deadline + 60, "the second node did not join"
            time.sleep(1)
        yield address, env
    finally:
        # Worker node first, then the head. A node whose peer is already gone can spend its whole grace period
        # trying to reach it (CI measured 60 s of teardown with 30 s each); the cluster is disposable, so a
        # short grace and then SIGKILL to each node's process group.
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
            except ProcessLookupError:
                pass


def test_generate_spreads_over_two_nodes(two_node_cluster, tmp_path: Path):
    address, env = two_node_cluster
    cfg = tmp_path / "cfg.yaml"
    # Each node has 1 CPU, so the render pool (2 actors) has one actor per node. generate starts work only once
    # both are up and gives each one chunk at a time, so a chunk that arrives while one actor renders goes to the
    # other: with 6 chunks both nodes write shards, however slowly the second node's actor starts (it used to
    # miss out when the first actor, started earlier, took every chunk: flaky on a loaded 2-core machine).
    cfg.write_text("sources:\n  - recipe: alpaca\n    max_rows: 12\n")
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "duplexgen.pipeline.cli", "generate", str(cfg), f"output_dir={out}", "shard_size=2", f"ray.address={address}"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conversations"] == 12 and summary["shards"] == 6
    nodes = {json.loads(p.read_text())["node_id"] for p in (out / "manifest").glob("*.json")}
    assert len(nodes) == 2, f"shards were written by {nodes}: expected both nodes"
    assert validate_dir(out / "shards").violations == []
    assert sum(1 for d in find_shard_dirs(out / "shards") for _ in load_shards(d)) == 12
