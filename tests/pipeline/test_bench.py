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
    assert 0 < eff["runs"]["espeak_in_process"]["cpu_s"] < eff["runs"]["pipeline_default"]["cpu_s"]
    assert {"pipeline_overhead_vs_espeak", "ray_overhead_vs_espeak", "ray_marginal_overhead_vs_espeak", "ray_startup_cpu_s"} <= set(eff["headline"])
    assert eff["speech"]["agent_speech_s"] > 0 and eff["speech"]["user_chars"] > 0
    stages = {r["stage"]: r for r in res["stages"]["rows"]}
    for name in ("tts: espeak synthesis", "tts: espeak reset (fresh library per text)", "resampling (soxr)", "FLAC encoding",
                 "source: read + normalize", "assembly: layout, barge-in, backchannels", "shard writing: tar, gzip, fsync, rename"):
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


def test_ray_steady_state_and_projection():
    """The marginal figure cancels a fixed start-up exactly; the projection adds up per source."""
    from duplexgen.pipeline.bench import projection, ray_steady_state

    small = {"hours": 0.05, "total_cpu_s": 12.0 + 0.05 * 36, "driver_cpu_s": 3.0 + 0.05 * 2, "worker_cpu_s": 6.0 + 0.05 * 33,
             "ray_system_cpu_s": 3.0 + 0.05 * 1}
    big = dict(small)
    big.update(hours=0.5, total_cpu_s=12.0 + 0.5 * 36, driver_cpu_s=3.0 + 0.5 * 2, worker_cpu_s=6.0 + 0.5 * 33, ray_system_cpu_s=3.0 + 0.5 * 1)
    r = ray_steady_state(small, big, limit_rate=200.0)
    assert r["marginal_conv_hours_per_core_hour"] == pytest.approx(100.0) and r["marginal_overhead_vs_espeak"] == pytest.approx(0.5)
    assert (r["startup_cpu_s"], r["startup_driver_cpu_s"], r["startup_worker_cpu_s"], r["startup_ray_system_cpu_s"]) == pytest.approx((12, 3, 6, 3))
    speech = {"conversation_s": 100.0, "user_speech_s": 30.0, "agent_speech_s": 60.0, "user_chars": 400, "agent_chars": 800}
    pj = projection(r, 200.0, speech, gpu_tts_rtf=100.0, cores=64)
    rows = {x["recipe"]: x for x in pj["rows"]}
    assert pj["total"]["hours"] == pytest.approx(26700)
    # a text source costs the whole pipeline figure, real conversations only what is around TTS
    assert rows["alpaca"]["espeak_core_hours"] == pytest.approx(200 / 100.0)
    assert rows["real_conversations"]["espeak_core_hours"] == pytest.approx(3000 * (1 / 100 - 1 / 200))
    assert rows["real_conversations"]["tts_speech_hours"] == 0 and rows["real_conversations"]["llm_output_tokens_M"] == 0
    # ASR-QA: espeak for the agent's two thirds of the speech; topic: the LLM writes both sides
    assert rows["asr_qa"]["tts_speech_hours"] == pytest.approx(20000 * 0.9 * 2 / 3, rel=1e-3)
    assert rows["topic"]["llm_output_tokens_M"] == pytest.approx(300 * 0.9 * (1200 / 90 * 3600) / 4 / 1e6, abs=0.1)
    assert rows["alpaca"]["llm_output_tokens_M"] == 0 and rows["alpaca"]["gpu_hours"] == pytest.approx(200 * 0.9 / 100, abs=0.1)


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
