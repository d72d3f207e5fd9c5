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
    assert res["reading"]["audio_s_per_pass"] > 0 and res["trainer"]["device"] == "cpu"


def test_stage_timers_are_exclusive():
    import time

    t = StageTimers()
    inner = t.wrap("inner", lambda: time.sleep(0.05))
    outer = t.wrap("outer", lambda: (inner(), time.sleep(0.02)))
    outer()
    assert 0.045 < t.wall["inner"] < 0.2
    assert 0.015 < t.wall["outer"] < 0.045  # the inner call is not counted twice
    assert t.calls == {"inner": 1, "outer": 1}


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
