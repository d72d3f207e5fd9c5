"""`duplexgen bench --tiny`: the real bench command on smoke sizes (real espeak, real Ray, real Lhotse loader, tiny trainer).

Benchmarks are not tests: this only checks that every section runs and reports positive numbers."""

from __future__ import annotations

import json
import math

import pytest

from duplexgen.pipeline.bench import SECTIONS, BenchConfig, StageTimers, ray_process_kind


def _positive_numbers(d: dict) -> list[str]:
    """Keys of a headline dict whose value is not a positive finite number (ratios of shares may be 0 only if named so)."""
    bad = []
    for k, v in d.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
            bad.append(f"{k}={v!r}")
    return bad


@pytest.mark.timeout(600)
def test_bench_tiny_runs_every_section(tmp_path):
    from duplexgen.pipeline.cli import main

    out = tmp_path / "bench"
    assert main(["bench", "--tiny", "--out", str(out)]) == 0
    res = json.loads((out / "bench.json").read_text())
    assert (out / "bench.md").read_text().startswith("# duplexgen bench")
    assert not (out / "work").exists(), "scratch runs must be removed"
    assert set(SECTIONS) == {"efficiency", "stages", "scaling", "memory"}
    for section in SECTIONS:
        assert section in res, section
        head = res[section]["headline"]
        assert head, section
        # Overheads and shares can legitimately be small; everything else must be a positive measurement.
        checked = {k: v for k, v in head.items() if "overhead" not in k and "share" not in k}
        assert not _positive_numbers(checked), (section, _positive_numbers(checked))
    eff = res["efficiency"]
    assert eff["conversations"] > 0 and eff["synthesize_calls"] > 0
    assert 0 < eff["runs"]["espeak_in_process"]["cpu_s"] < eff["runs"]["pipeline_isolated"]["cpu_s"]
    stages = {r["stage"]: r for r in res["stages"]["rows"]}
    for name in ("tts: espeak synthesis", "resampling (soxr)", "FLAC encoding", "source: read + normalize",
                 "assembly: layout, barge-in, backchannels", "shard writing: tar, WAV decode, fsync, rename"):
        assert stages[name]["calls"] > 0 and stages[name]["cpu_s"] > 0, name
    assert abs(sum(r["cpu_share"] for r in res["stages"]["rows"]) - 1) < 0.01
    runs = res["scaling"]["runs"]
    assert runs["10N_2w"]["conversations"] == 10 * runs["N_2w"]["conversations"]
    assert runs["N_1w"]["worker_cpu_s"] > 0 and runs["10N_2w"]["driver_peak_rss_mb"] > 0


class FakeClock:
    """A clock that only moves when the code under test says so: exact expectations, no wall-clock windows."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds


def test_stage_timers_are_exclusive():
    wall, cpu = FakeClock(), FakeClock()

    def work(w: float, c: float) -> None:
        wall.spend(w)
        cpu.spend(c)

    t = StageTimers(wall_clock=wall, cpu_clock=cpu)
    inner = t.wrap("inner", lambda: work(0.05, 0.04))
    outer = t.wrap("outer", lambda: (work(0.01, 0.01), inner(), work(0.02, 0.005)))
    outer()
    inner()
    assert t.wall["inner"] == pytest.approx(0.10) and t.cpu["inner"] == pytest.approx(0.08)
    # the nested inner call is not counted twice: outer keeps only its own 0.03 s wall, 0.015 s CPU
    assert t.wall["outer"] == pytest.approx(0.03) and t.cpu["outer"] == pytest.approx(0.015)
    assert t.calls == {"inner": 2, "outer": 1}
    # an exception inside a wrapped call still books its time and leaves the stack clean
    boom = t.wrap("boom", lambda: (work(0.5, 0.1), 1 / 0))
    with pytest.raises(ZeroDivisionError):
        outer_boom = t.wrap("outer_boom", lambda: boom())
        outer_boom()
    assert t.wall["boom"] == pytest.approx(0.5) and t.wall["outer_boom"] == pytest.approx(0.0) and not t._stack


def test_ray_process_kind():
    assert ray_process_kind(["ray::IDLE"]) == "worker"
    assert ray_process_kind(["ray::_AudioActor.__call__()"]) == "worker"
    assert ray_process_kind(["ray::DashboardAgent"]) == "ray_system"
    assert ray_process_kind(["/venv/bin/python", "/venv/ray/_private/workers/default_worker.py", "--x"]) == "worker"
    # raylet names the worker script in its arguments: it is not a worker
    assert ray_process_kind(["/venv/ray/raylet", "--python_worker_command=python default_worker.py"]) == "ray_system"


def test_bench_config_errors_name_the_key():
    with pytest.raises(ValueError, match="--only"):
        BenchConfig(only="efficiency,nope")
    with pytest.raises(ValueError, match="bench.rows"):
        BenchConfig(rows=0)
