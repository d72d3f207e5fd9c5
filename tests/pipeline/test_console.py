"""What `duplexgen generate` prints: one progress bar, Ray's output in a log file, error lines still shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from duplexgen.core.records import ManifestEntry
from duplexgen.pipeline.console import JobProgress, is_error_line
from duplexgen.pipeline.stages import ChunkTask

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Lines as Ray writes them (copied from a `generate demo` run's stderr), and whether a person must see them.
RAY_LINES = [
    ("2026-12-03 09:25:31,423\tINFO logging_progress.py:231 -- Map(_LLMActor): 3/11", False),
    ("2026-12-03 09:24:45,616\tWARNING authentication_token_setup.py:85 -- Token authentication is enabled for this Ray cluster.", False),
    ("\x1b[36m(MapWorker(Map(_LLMActor)) pid=13757)\x1b[0m Converting and de-quantizing GGUF tensors...:  13%|#3 | 35/272", False),
    ("[2026-12-03 09:24:50,880 E 13440 13440] core_worker.cc:2465: Actor with class name: 'MapWorker(Map(_LLMActor))' and ID: "
     "'8ba5' has constructor arguments in the object store and max_restarts > 0. If the arguments in the object store go out "
     "of scope or are lost, the actor restart will fail.", False),
    ("[2026-12-03 09:30:01,002 E 2211 2240] core_worker.cc:812: Failed to connect to the GCS", True),
    ("2026-12-03 09:30:02,100\tERROR streaming_executor.py:500 -- Exception occurred in operator Map(_AudioActor)", True),
    ("(raylet) A worker died or was killed while executing a task by an unexpected system error.", True),
    ("Traceback (most recent call last):", True),
]


@pytest.mark.parametrize("line,shown", RAY_LINES)
def test_which_ray_lines_reach_the_terminal(line, shown):
    assert is_error_line(line) is shown


SCRIPT = r"""
import logging, os, subprocess, sys, time
from duplexgen.pipeline.console import ray_output_to_log
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
shown = []
with ray_output_to_log(sys.argv[1], show=shown.append) as terminal:
    print("python stdout line")
    print("python stderr line", file=sys.stderr)
    logging.getLogger("ray.data").error("an ERROR record from a logger")
    logging.getLogger("ray.data").info("an INFO record from a logger")
    os.write(2, b"[2026-12-03 09:24:50,880 E 1 1] core_worker.cc:2465: x has constructor arguments in the object store and max_restarts > 0.\n")
    os.write(2, b"[2026-12-03 09:30:01,002 E 2211 2240] core_worker.cc:812: Failed to connect to the GCS\n")
    # a child process inherits the descriptors (Ray's raylet and workers are children)
    subprocess.run([sys.executable, "-c", "import sys; print('child stdout'); print('(raylet) worker killed: OOM', file=sys.stderr)"], check=True)
    terminal.write("progress: for the person\n")
    time.sleep(0.5)
print("after the block")
print("SHOWN", shown, file=sys.stderr)
"""


def test_everything_goes_to_the_log_and_only_error_lines_are_shown(tmp_path):
    log = tmp_path / "logs" / "ray.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    text = log.read_text()
    for want in ("python stdout line", "python stderr line", "an ERROR record", "an INFO record", "max_restarts > 0",
                 "Failed to connect to the GCS", "child stdout", "(raylet) worker killed"):
        assert want in text, want
    shown = r.stderr.split("SHOWN", 1)[1]
    assert "Failed to connect to the GCS" in shown and "(raylet) worker killed" in shown and "an ERROR record" in shown
    assert "max_restarts" not in shown and "INFO record" not in shown and "child stdout" not in shown
    # the terminal saw only what was written to it; the descriptors are back after the block
    assert r.stderr.split("SHOWN", 1)[0] == "progress: for the person\n"
    assert r.stdout == "after the block\n"


def test_on_a_terminal_the_progress_is_one_bar_redrawn_in_place():
    import pty

    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    tasks = [ChunkTask("alpaca", "alpaca", "x", s, s + 2, k, seed=1) for k, s in enumerate(range(0, 8, 2))]
    progress = JobProgress(tasks, stream=stream)
    for k in range(4):
        progress.update(ManifestEntry("alpaca", k, 2, 30.0, [{"reason": "r"}] if k == 1 else [], {}, 0.0))
    progress.note("stages: a line above the bar")
    progress.close()
    stream.flush()
    data = b""
    while True:
        import select

        if not select.select([master], [], [], 0.5)[0]:
            break
        data += os.read(master, 65536)
    stream.close()
    os.close(master)
    screen = data.decode("utf-8", "replace")
    assert "\r" in screen and screen.count("\n") <= 4, screen  # redrawn in place, not one line per shard
    assert "8/8 rows" in screen and "8 conversations, 0.033 h audio" in screen and "1 reject" in screen
    assert "stages: a line above the bar" in screen


@pytest.mark.slow
def test_generate_shows_one_progress_line_and_keeps_ray_output_in_its_log(tmp_path):
    """The real command on a real local Ray: stderr (not a terminal here) has the progress and the summary
    but none of Ray's progress blocks or its core_worker line; the log file has Ray's output."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("sources:\n  - recipe: alpaca\n    max_rows: 6\n")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run(
        [sys.executable, "-m", "duplexgen.pipeline.cli", "generate", str(cfg), f"output_dir={out}", "shard_size=2",
         "ray.num_cpus=2", "ray.render_workers=1"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "progress: 6/6 rows (100%), 3/3 shards, 6 conversations" in r.stderr, r.stderr
    for noise in ("logging_progress", "core_worker", "Token authentication", "streaming_executor"):
        assert noise not in r.stderr and noise not in r.stdout, (noise, r.stderr)
    logs = list((out / "logs").glob("generate-*.log"))
    assert len(logs) == 1 and f"ray log: {logs[0]}" in r.stdout
    text = logs[0].read_text()
    assert "Dataset" in text and "execution finished" in text  # Ray Data's own lines went there
    assert r.stderr.count("\n") < 15, r.stderr  # a handful of lines, whatever Ray prints
