"""`duplexgen bench`: how fast, how much, and how cost grows, measured side by side in one run.

Every figure is measured on this machine in one invocation, so that ratios (pipeline vs espeak-ng alone,
1 vs 2 workers, N vs 10N rows) compare runs that saw the same load. CPU time (process + reaped children
+ every Ray process, sampled with psutil) gives the per-core-hour figures; wall time gives throughput;
peak RSS gives memory. Sections (``--only`` picks some):

* ``efficiency`` -- conversation hours per core-hour of the whole pipeline (in-process and on Ray; on Ray
  also the steady state, from the difference of an N-row and a 10N-row run, and the fixed start-up) against
  espeak-ng alone replaying exactly the synthesis calls the pipeline made without any reset (the physical
  limit of this backend); also the default per-text fresh-library reset alone and ``tts.espeak_isolate=true``
  (a helper process), and a projection of the shipped 26.7k-hour mixture on a 64-core cluster.
* ``stages``     -- where the pipeline's CPU goes: the real stage code runs in-process
  (``generate(cfg, ray_data=False)``) with timers wrapped around its functions at run time (no hook
  in the pipeline code; exclusive times, nested calls subtracted).
* ``scaling``    -- 1 vs 2 render workers on Ray, N vs 10N rows (wall, CPU, driver and worker peak RSS),
  and the cost of reading a chunk at the start vs the end of a large source file.
* ``memory``     -- peak RSS of the driver (``getrusage``) and of the Ray workers (psutil sampling).

The trainer's side (loader throughput, step time) is ``duplexgen bench-train`` (:mod:`duplexgen.training.bench`).

Rows are a synthetic Alpaca file made by cycling the shipped sample (each row gets a two-word tag such as
"Alpha bravo." so no two rows share text and the TTS cache cannot hide work; no digits, so the number
normalizer runs only where the sample itself has numbers). Results go to ``OUT/bench.json`` and
``OUT/bench.md``.

Example::

    duplexgen bench --out out/bench                 # the full bench (~6-10 min on 2 cores)
    duplexgen bench --tiny --only efficiency,stages # a smoke run (CI)
    res = run_bench(BenchConfig(tiny=True, out="out/bench"))
    res["efficiency"]["headline"]["pipeline_overhead_vs_espeak"]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from duplexgen.core.config import help_field
from duplexgen.core.measure import machine_facts, markdown_table, median, peak_rss_mb, process_cpu_seconds

SECTIONS = ("efficiency", "stages", "scaling", "memory")
#: Rows of the real Alpaca (tatsu-lab/alpaca): the scale at which a chunk's read offset matters.
ALPACA_ROWS = 52002


@dataclass
class BenchConfig:
    """`duplexgen bench`: sizes and repeats of every measurement."""

    out: str = help_field("folder for bench.json, bench.md and the scratch runs (work/ is deleted at the end)", "out/bench")
    tiny: bool = help_field("smoke sizes for CI (seconds, not minutes); the numbers are not meaningful", False)
    only: tuple = help_field("sections to run (default: all)", SECTIONS)
    rows: int = help_field("rows of the in-process efficiency/stage runs", 24)
    ray_rows: int = help_field("rows N of the Ray runs (1 vs 2 workers, and N vs 10N)", 16)
    shard_size: int = help_field("rows per shard in every run", 8)
    repeats: int = help_field("repeats of every small measurement (medians are reported)", 3)
    ray_repeats: int = help_field("repeats of the Ray runs (N rows with 1 and 2 workers, 10N rows with 2; interleaved)", 2)
    big_rows: int = help_field("rows of the large source file for the read-offset measurement", ALPACA_ROWS)
    seed: int = help_field("generation seed", 1234)
    gpu_tts_rtf: float = help_field("projection only: seconds of speech one GPU TTS server makes per second (an input: no GPU here)", 100.0)
    keep_work: bool = help_field("keep the scratch runs under OUT/work", False)

    def __post_init__(self):
        if isinstance(self.only, str):
            self.only = tuple(s.strip() for s in self.only.split(",") if s.strip())
        bad = [s for s in self.only if s not in SECTIONS]
        if bad or not self.only:
            raise ValueError(f"bench --only must list sections among {SECTIONS}, got {list(self.only)}")
        for k in ("rows", "ray_rows", "shard_size", "repeats", "ray_repeats", "big_rows"):
            if getattr(self, k) < 1:
                raise ValueError(f"bench.{k} must be >= 1, got {getattr(self, k)}")
        if not self.gpu_tts_rtf > 0:
            raise ValueError(f"bench.gpu_tts_rtf must be > 0 (seconds of speech per second of one GPU server), got {self.gpu_tts_rtf}")

    @classmethod
    def tiny_sizes(cls, **kw) -> "BenchConfig":
        base = dict(tiny=True, rows=2, ray_rows=1, shard_size=2, repeats=1, ray_repeats=1, big_rows=200)
        base.update(kw)
        return cls(**base)


# ---------------------------------------------------------------- clocks and machine facts


def cpu_seconds() -> float:
    """CPU seconds of this process, its reaped children and its espeak helper process (``tts.espeak_isolate``)."""
    from duplexgen.tts.espeak import helper_cpu_seconds

    return process_cpu_seconds() + helper_cpu_seconds()


# ---------------------------------------------------------------- stage timers (no change to the pipeline code)


class StageTimers:
    """Exclusive wall and CPU seconds per label for functions wrapped at run time.

    A wrapped call's time minus the time of wrapped calls inside it goes to its label, so nested stages
    (``write_shard`` -> FLAC ``save_audio``) are not counted twice."""

    def __init__(self, wall_clock: Callable[[], float] = time.perf_counter, cpu_clock: Optional[Callable[[], float]] = None):
        self.wall_clock = wall_clock
        self.cpu_clock = cpu_clock or cpu_seconds
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[float]] = []  # per active call: [child wall, child cpu]
        self.recorded: dict[str, list] = {}

    def wrap(self, label: str, fn: Callable, record: bool = False) -> Callable:
        timers = self

        def timed(*args, **kwargs):
            if record:
                timers.recorded.setdefault(label, []).append((args, kwargs))
            timers._stack.append([0.0, 0.0])
            w0, c0 = timers.wall_clock(), timers.cpu_clock()
            try:
                return fn(*args, **kwargs)
            finally:
                dw, dc = timers.wall_clock() - w0, timers.cpu_clock() - c0
                child_w, child_c = timers._stack.pop()
                timers.wall[label] = timers.wall.get(label, 0.0) + dw - child_w
                timers.cpu[label] = timers.cpu.get(label, 0.0) + dc - child_c
                timers.calls[label] = timers.calls.get(label, 0) + 1
                if timers._stack:
                    timers._stack[-1][0] += dw
                    timers._stack[-1][1] += dc

        timed.__wrapped__ = fn
        return timed


def stage_targets() -> list[tuple[str, Any, str]]:
    """(label, owner, attribute) of every function timed in the stage breakdown, in pipeline order."""
    import duplexgen.augment as augment_pkg
    import duplexgen.pipeline.generate as generate_mod
    import duplexgen.pipeline.index as index_mod
    import duplexgen.pipeline.shards as shards_mod
    import duplexgen.pipeline.stages as stages_mod
    import duplexgen.pipeline.summary as summary_mod
    import duplexgen.tts.espeak as espeak_mod
    import duplexgen.tts.render as render_mod
    from duplexgen.tts.cache import RenderCache
    from duplexgen.tts.espeak_fresh import FreshLibrary

    assemble_mod = sys.modules["duplexgen.augment.assemble"]  # the package attribute is the function
    return [
        ("plan: count rows (driver)", generate_mod, "plan_chunks"),
        ("source: read + normalize", stages_mod.SourceStage, "process"),
        ("llm", stages_mod.LLMChunkStage, "process"),
        ("augment: plan (text)", augment_pkg, "plan_conversation"),
        ("tts: espeak synthesis", espeak_mod.EspeakBackend, "synthesize"),
        ("tts: espeak reset (fresh library per text)", FreshLibrary, "reset"),
        ("tts: word timings", espeak_mod, "words_from_events"),
        ("tts: levels + trim", render_mod, "check_levels"),
        ("tts: levels + trim", render_mod, "trim_silence"),
        ("tts: levels + trim", render_mod, "fade_edges"),
        ("resampling (soxr)", render_mod, "resample"),
        ("tts: cache read/write", RenderCache, "get"),
        ("tts: cache read/write", RenderCache, "put"),
        ("tts: renderer other (clean, quantize)", render_mod.Renderer, "render"),
        ("assembly: layout, barge-in, backchannels", augment_pkg, "assemble"),
        ("augmentation: user stream", assemble_mod, "augment_user_stream"),
        ("cut: supervisions + int16 streams", shards_mod, "shard_cut"),
        ("FLAC encoding", shards_mod, "flac_bytes"),
        ("shard writing: tar, gzip, fsync, rename", shards_mod, "write_shard"),
        ("manifest entry", stages_mod, "write_manifest_entry"),
        ("audio stage other (cut stats, JSON)", stages_mod.AudioStage, "process"),
        ("driver: summary, index, NeMo cfg", summary_mod, "summarize"),
        ("driver: summary, index, NeMo cfg", index_mod, "write_index"),
        ("driver: summary, index, NeMo cfg", generate_mod, "write_nemo_input_cfg"),
    ]


#: The issue's coarse buckets: stage label prefix -> bucket.
BUCKETS = {
    "plan": "source reading", "source": "source reading", "llm": "LLM", "augment: plan": "assembly/augmentation",
    "tts": "TTS", "resampling": "resampling", "assembly": "assembly/augmentation", "augmentation": "assembly/augmentation",
    "cut": "assembly/augmentation", "FLAC": "FLAC encoding", "shard writing": "shard writing", "manifest": "shard writing",
    "audio stage other": "other", "driver": "other",
}


def bucket_of(label: str) -> str:
    return next((b for prefix, b in BUCKETS.items() if label.startswith(prefix)), "other")


@contextlib.contextmanager
def instrumented(timers: StageTimers, record: tuple[str, ...] = ()) -> Iterator[StageTimers]:
    """Wrap every :func:`stage_targets` function with ``timers`` for the duration of the block."""
    saved = []
    try:
        for label, owner, attr in stage_targets():
            original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
            saved.append((owner, attr, original))
            setattr(owner, attr, timers.wrap(label, original, record=label in record))
        yield timers
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)


# ---------------------------------------------------------------- inputs


#: Words that make each synthetic row unique without digits (digits would send every turn through the
#: number normalizer, which real rows mostly skip).
TAG_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike",
             "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu")


def row_tag(i: int) -> str:
    """A unique spoken tag for row ``i``: base-26 in NATO words ("alpha alpha", "alpha bravo", ...)."""
    words = []
    for _ in range(2 if i < 26**2 else 4):
        i, r = divmod(i, len(TAG_WORDS))
        words.append(TAG_WORDS[r])
    return " ".join(reversed(words))


def write_synthetic_alpaca(path: Path, rows: int) -> Path:
    """``rows`` Alpaca rows cycled from the shipped sample, each made unique by an "Item <tag>." prefix."""
    from duplexgen.recipes import get_recipe

    sample = json.loads(Path(get_recipe("alpaca").default_path()).read_text())
    out = []
    for i in range(rows):
        r = sample[i % len(sample)]
        tag = row_tag(i).capitalize()
        out.append({"instruction": f"{tag}. {r['instruction']}", "input": r.get("input", ""), "output": f"{tag}. {r['output']}"})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return path


#: The generate config of every bench run: one Alpaca source (the path and row count come as overrides).
BENCH_CONFIG_YAML = """\
# duplexgen bench: one Alpaca source, espeak-ng, local Ray
output_dir: out/bench/run
seed: 1234
shard_size: 8
sources:
  - recipe: alpaca
    path: null
    max_rows: null
"""


def write_bench_config(work: Path) -> Path:
    path = work / "bench_alpaca.yaml"
    path.write_text(BENCH_CONFIG_YAML)
    return path


def generate_overrides(out_dir: Path, source: Path, rows: int, cfg: BenchConfig, **extra: Any) -> list[str]:
    """The config file first, then key=value overrides: what ``duplexgen generate`` takes."""
    o = [str(Path(source).parent / "bench_alpaca.yaml"), f"output_dir={out_dir}", f"sources.0.path={source}",
         f"sources.0.max_rows={rows}", f"shard_size={cfg.shard_size}", f"seed={cfg.seed}"]
    return o + [f"{k}={v}" for k, v in extra.items()]


def load_bench_generate_config(args: list[str]):
    from duplexgen.pipeline.config import load_generate_config

    return load_generate_config(args[0], args[1:])


def generate_command(args: list[str]) -> str:
    return "duplexgen generate " + " ".join(args)


# ---------------------------------------------------------------- efficiency and stages (in-process)


def run_in_process(overrides: list[str], record_synth: bool = False) -> dict[str, Any]:
    """One ``generate(cfg, ray_data=False)`` with stage timers; CPU = this process + reaped children."""
    from duplexgen.pipeline.generate import generate

    cfg = load_bench_generate_config(overrides)
    shutil.rmtree(cfg.output_dir, ignore_errors=True)
    timers = StageTimers()
    with instrumented(timers, record=("tts: espeak synthesis",) if record_synth else ()):
        w0, c0 = time.perf_counter(), cpu_seconds()
        with contextlib.redirect_stderr(open(os.devnull, "w")):
            summary = generate(cfg, ray_data=False)
        wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
    calls = [(a[1], a[2]) for a, _ in timers.recorded.get("tts: espeak synthesis", [])]  # (text, voice)
    return {"wall_s": wall, "cpu_s": cpu, "hours": summary["hours"], "conversations": summary["conversations"],
            "rejects": summary["rejects"], "timers": timers, "synth_calls": calls, "output_dir": cfg.output_dir}


def replay_espeak(calls: list[tuple[str, Any]], fresh_library: bool) -> dict[str, Any]:
    """espeak-ng alone: the same synthesize(text, voice) calls the pipeline made, nothing around them, in this
    process; ``fresh_library=False`` is espeak-ng's own cost (the limit), True adds the per-text reset."""
    from duplexgen.tts.espeak import EspeakBackend

    backend = EspeakBackend(isolate=False, fresh_library=fresh_library)
    w0, c0 = time.perf_counter(), cpu_seconds()
    audio_s = 0.0
    for text, voice in calls:
        try:
            audio_s += backend.synthesize(text, voice).duration
        except Exception:  # noqa: BLE001 - a text the pipeline rejected costs the same here
            pass
    return {"wall_s": time.perf_counter() - w0, "cpu_s": cpu_seconds() - c0, "speech_s": audio_s, "calls": len(calls)}


#: Efficiency runs: key -> row label of the table.
EFFICIENCY_RUNS = {
    "pipeline_default": "pipeline in-process, default (espeak in this process, fresh library per text)",
    "pipeline_espeak_helper": "pipeline in-process, tts.espeak_isolate=true (espeak in a helper process)",
    "espeak_fresh": "espeak-ng alone, fresh library per text (what the pipeline's renders cost)",
    "espeak_in_process": "espeak-ng alone, no reset (the limit)",
}


def bench_in_process(cfg: BenchConfig, work: Path, source: Path) -> tuple[dict, dict, list]:
    """Sections ``efficiency`` (in-process part) and ``stages``: interleaved repeats, medians; also the
    pipeline's synthesis calls (text, voice), replayed next to the Ray runs."""
    # Warm-up: imports, Arrow cache of the source file, espeak's data files.
    run_in_process(generate_overrides(work / "warmup", source, 1, cfg))
    runs: dict[str, list[dict]] = {k: [] for k in EFFICIENCY_RUNS}
    overrides = {
        "pipeline_default": generate_overrides(work / "inproc", source, cfg.rows, cfg),
        "pipeline_espeak_helper": generate_overrides(work / "inproc", source, cfg.rows, cfg, **{"tts.espeak_isolate": "true"}),
    }
    stage_runs = []
    for _ in range(cfg.repeats):
        default = run_in_process(overrides["pipeline_default"], record_synth=True)
        runs["pipeline_default"].append(default)
        stage_runs.append(default["timers"])
        runs["pipeline_espeak_helper"].append(run_in_process(overrides["pipeline_espeak_helper"]))
        runs["espeak_fresh"].append(replay_espeak(default["synth_calls"], fresh_library=True))
        runs["espeak_in_process"].append(replay_espeak(default["synth_calls"], fresh_library=False))
    hours = runs["pipeline_default"][0]["hours"]
    speech_h = runs["espeak_in_process"][0]["speech_s"] / 3600
    speech = speech_stats(Path(runs["pipeline_default"][-1]["output_dir"]) / "shards")

    def summary(name: str) -> dict[str, Any]:
        rs = runs[name]
        cpu, wall = median([r["cpu_s"] for r in rs]), median([r["wall_s"] for r in rs])
        return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "cpu_s_all": [round(r["cpu_s"], 3) for r in rs],
                "conv_hours_per_core_hour": round(hours / (cpu / 3600), 1), "realtime_x_per_core": round(hours * 3600 / cpu, 1)}

    table = {name: summary(name) for name in runs}
    limit, fresh = table["espeak_in_process"]["cpu_s"], table["espeak_fresh"]["cpu_s"]
    pipe, pipe_helper = table["pipeline_default"]["cpu_s"], table["pipeline_espeak_helper"]["cpu_s"]
    # Paired per-repeat ratios are steadier than ratios of medians on a shared machine.
    overhead_pairs = [1 - e["cpu_s"] / p["cpu_s"] for e, p in zip(runs["espeak_in_process"], runs["pipeline_default"])]
    efficiency = {
        "rows": cfg.rows, "conversations": runs["pipeline_default"][0]["conversations"], "conversation_hours": round(hours, 5),
        "speech_hours_synthesised": round(speech_h, 5), "synthesize_calls": runs["espeak_in_process"][0]["calls"],
        "runs": table, "speech": speech,
        "commands": {k: generate_command(v) + " --no-ray" for k, v in overrides.items()},
        "headline": {
            "pipeline_conv_hours_per_core_hour": table["pipeline_default"]["conv_hours_per_core_hour"],
            "espeak_alone_conv_hours_per_core_hour": table["espeak_in_process"]["conv_hours_per_core_hour"],
            "pipeline_overhead_vs_espeak": round(1 - limit / pipe, 3),
            "pipeline_overhead_vs_espeak_paired_median": round(median(overhead_pairs), 3),
            "pipeline_efficiency_vs_espeak": round(limit / pipe, 3),
            "fresh_library_cost_espeak_x": round(fresh / limit, 3),
            "pipeline_overhead_espeak_helper": round(1 - limit / pipe_helper, 3),
            "espeak_helper_cost_pipeline_x": round(pipe_helper / pipe, 2),
        },
    }
    stages = stage_table(stage_runs, table["pipeline_default"]["cpu_s"], table["pipeline_default"]["wall_s"])
    stages["command"] = efficiency["commands"]["pipeline_default"] + "   (timers wrapped around the stage functions)"
    return efficiency, stages, runs["pipeline_default"][0]["synth_calls"]


def speech_stats(shard_root: Path) -> dict[str, float]:
    """Per role: seconds of speech (supervisions) and characters of text in the shards, and the conversation
    seconds, read from the cut manifests (for the projection: speech and LLM text per conversation hour)."""
    import gzip

    out = {"conversation_s": 0.0, "user_speech_s": 0.0, "agent_speech_s": 0.0, "user_chars": 0, "agent_chars": 0}
    for path in sorted(shard_root.rglob("cuts.*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                cut = json.loads(line)
                out["conversation_s"] += cut["duration"]
                for sup in cut["supervisions"]:
                    role = "agent" if sup["speaker"] == "agent" else "user"
                    out[f"{role}_speech_s"] += sup["duration"]
                    out[f"{role}_chars"] += len(sup.get("text") or "")
    return {k: round(v, 3) for k, v in out.items()}


def ray_steady_state(small: dict[str, Any], big: dict[str, Any], limit_rate: float) -> dict[str, Any]:
    """Marginal cost on Ray from two run sizes: the difference of their CPU seconds and conversation hours (fixed
    start-up cancels), and the start-up itself (each CPU figure extrapolated to zero rows)."""
    dh = big["hours"] - small["hours"]
    marginal = dh / ((big["total_cpu_s"] - small["total_cpu_s"]) / 3600)

    def intercept(key: str) -> float:
        return round(small[key] - small["hours"] * (big[key] - small[key]) / dh, 2)

    return {"marginal_conv_hours_per_core_hour": round(marginal, 1), "marginal_overhead_vs_espeak": round(1 - marginal / limit_rate, 3),
            "marginal_efficiency_vs_espeak": round(marginal / limit_rate, 3),
            "startup_cpu_s": intercept("total_cpu_s"), "startup_driver_cpu_s": intercept("driver_cpu_s"),
            "startup_worker_cpu_s": intercept("worker_cpu_s"), "startup_ray_system_cpu_s": intercept("ray_system_cpu_s")}


#: The shipped mixture the projection sizes, and the cluster it assumes.
PROJECTION_CONFIG = "salm_duplex_mixture"
PROJECTION_CORES = 64
#: Characters per LLM token for English text (BPE tokenizers average about 4).
CHARS_PER_TOKEN = 4.0


def projection(ray: dict[str, Any], limit_rate: float, speech: dict[str, float], gpu_tts_rtf: float,
               cores: int = PROJECTION_CORES, config: str = PROJECTION_CONFIG) -> dict[str, Any]:
    """Core-hours, wall time, GPU-hours and LLM tokens for the shipped mixture, from the measured per-core figures.

    Per conversation hour (Ray steady state, Alpaca rows, both sides spoken by espeak): ``pipeline`` core-hours,
    of which ``tts`` is espeak-ng alone and ``other`` the rest. A text source costs ``pipeline``; ASR-QA (real
    user speech, LLM-written agent turns) costs ``other`` + ``tts`` x the agent's share of the speech; real
    conversations cost ``other`` (no TTS). With a GPU TTS server the CPU side is ``other`` for every source and
    the server needs the synthesised speech hours / ``gpu_tts_rtf`` GPU-hours (an input, not measured here).
    LLM output tokens: the characters of the LLM-written turns (agent turns of ASR-QA, both sides of topic
    dialogs) per hour as measured in the bench's conversations, / ``CHARS_PER_TOKEN``; prompts come on top."""
    from duplexgen.pipeline.config import load_generate_config
    from duplexgen.recipes import get_recipe

    pipeline = 1 / ray["marginal_conv_hours_per_core_hour"]
    tts = 1 / limit_rate
    other = max(pipeline - tts, 0.0)
    conv = max(speech["conversation_s"], 1e-9)
    speech_per_h = (speech["user_speech_s"] + speech["agent_speech_s"]) / conv
    agent_share = speech["agent_speech_s"] / max(speech["user_speech_s"] + speech["agent_speech_s"], 1e-9)
    chars_per_speech_h = (speech["user_chars"] + speech["agent_chars"]) / max(speech["user_speech_s"] + speech["agent_speech_s"], 1e-9) * 3600
    cfg = load_generate_config(config, [])
    rows = []
    for src in cfg.sources:
        hours = (src.hours or 0.0) * cfg.mixture_scale
        recipe = get_recipe(src.recipe)
        if src.recipe == "real_conversations":
            tts_fraction, llm_fraction = 0.0, 0.0
        elif recipe.needs_audio:  # real user speech, spoken agent turns
            tts_fraction, llm_fraction = agent_share, agent_share if recipe.needs_llm else 0.0
        else:
            tts_fraction, llm_fraction = 1.0, 1.0 if recipe.needs_llm else 0.0
        tts_h = hours * speech_per_h * tts_fraction
        espeak_core_h = hours * (other + tts * tts_fraction)
        tokens = hours * speech_per_h * llm_fraction * chars_per_speech_h / CHARS_PER_TOKEN
        rows.append({"source": src.name, "recipe": src.recipe, "hours": hours, "tts_speech_hours": round(tts_h, 1),
                     "llm_output_tokens_M": round(tokens / 1e6, 1), "espeak_core_hours": round(espeak_core_h, 1),
                     "espeak_wall_h": round(espeak_core_h / cores, 2), "gpu_server_cpu_core_hours": round(hours * other, 1),
                     "gpu_server_wall_h": round(max(hours * other / cores, tts_h / gpu_tts_rtf), 2), "gpu_hours": round(tts_h / gpu_tts_rtf, 1)})
    total = {k: round(sum(r[k] for r in rows), 1) for k in rows[0] if isinstance(rows[0][k], (int, float))}
    total["espeak_wall_h"] = round(total["espeak_core_hours"] / cores, 2)
    return {"config": config, "cores": cores, "gpu_tts_rtf": gpu_tts_rtf, "rows": rows, "total": total,
            "per_conversation_hour": {"pipeline_core_h": round(pipeline, 5), "espeak_core_h": round(tts, 5), "other_core_h": round(other, 5),
                                      "speech_h": round(speech_per_h, 3), "agent_share_of_speech": round(agent_share, 3),
                                      "llm_chars_per_speech_h": round(chars_per_speech_h)}}


def stage_table(timer_runs: list[StageTimers], total_cpu: float, total_wall: float) -> dict[str, Any]:
    labels = list(dict.fromkeys(label for label, _, _ in stage_targets()))
    rows = []
    for label in labels:
        cpu = median([t.cpu.get(label, 0.0) for t in timer_runs])
        wall = median([t.wall.get(label, 0.0) for t in timer_runs])
        calls = timer_runs[0].calls.get(label, 0)
        rows.append({"stage": label, "bucket": bucket_of(label), "cpu_s": round(cpu, 4), "wall_s": round(wall, 4), "calls": calls})
    attributed = sum(r["cpu_s"] for r in rows)
    rows.append({"stage": "unattributed (generate loop, imports, GC)", "bucket": "other", "cpu_s": round(max(total_cpu - attributed, 0.0), 4),
                 "wall_s": round(max(total_wall - sum(r["wall_s"] for r in rows), 0.0), 4), "calls": 0})
    total = sum(r["cpu_s"] for r in rows) or 1e-9
    for r in rows:
        r["cpu_share"] = round(r["cpu_s"] / total, 4)
    buckets: dict[str, float] = {}
    for r in rows:
        buckets[r["bucket"]] = buckets.get(r["bucket"], 0.0) + r["cpu_s"]
    bucket_shares = {b: round(v / total, 4) for b, v in buckets.items()}
    return {"rows": rows, "buckets": bucket_shares, "total_cpu_s": round(total, 3),
            "headline": {"tts_share": bucket_shares.get("TTS", 0.0), "non_tts_share": round(1 - bucket_shares.get("TTS", 0.0), 4)}}


# ---------------------------------------------------------------- Ray runs in child processes


#: Ray processes that are part of every node, whatever the job (the rest are workers: tasks, actors, idle).
RAY_SYSTEM_TITLES = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def ray_process_kind(cmdline: list[str]) -> str:
    """"worker" for a Ray worker process (title ``ray::...`` or a ``default_worker.py`` that has not set its
    title yet), else "ray_system" (gcs_server, raylet, dashboard, agents, monitors). Only argv[0]/argv[1]
    count: raylet's arguments name default_worker.py too."""
    first = cmdline[0] if cmdline else ""
    if first.startswith("ray::"):
        return "ray_system" if first.split()[0] in RAY_SYSTEM_TITLES else "worker"
    if len(cmdline) > 1 and Path(cmdline[1]).name == "default_worker.py":
        return "worker"
    return "ray_system"


class TreeSampler(threading.Thread):
    """Samples CPU times and RSS of every descendant process (Ray's gcs/raylet/workers) every ``interval`` s.

    A worker counts its own CPU plus its reaped children; children of a worker are not sampled on their own
    (they would count twice once reaped; the bench's runs render espeak in the worker itself, with no child). CPU is counted from the first sample (processes left
    over from an earlier run in the same Ray session count only what they do now); a process that dies
    keeps its last sample, so up to ``interval`` s of a dying process is lost."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        import psutil

        self.psutil = psutil
        self.root = psutil.Process()
        self.interval = interval
        self.base: dict[int, float] = {}
        self.cpu: dict[int, float] = {}
        self.rss: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.peak_total_rss_mb = 0.0
        self.peak_workers = 0
        self.own_cpu = 0.0
        self._halt = threading.Event()
        self.sample(baseline=True)

    def sample(self, baseline: bool = False) -> None:
        t0 = time.thread_time()
        try:
            procs = self.root.children(recursive=True)
        except self.psutil.Error:
            return
        workers = {p for p, k in self.kind.items() if k == "worker"}
        total_rss, n_workers = self.root.memory_info().rss / 2**20, 0
        for p in procs:
            try:
                with p.oneshot():
                    if p.ppid() in workers:
                        continue  # counted in its worker's children times once reaped
                    if self.kind.get(p.pid) != "worker":
                        self.kind[p.pid] = ray_process_kind(p.cmdline())
                    t = p.cpu_times()
                    c = t.user + t.system + (t.children_user + t.children_system if self.kind[p.pid] == "worker" else 0.0)
                    rss = p.memory_info().rss / 2**20
            except self.psutil.Error:
                continue
            if baseline:
                self.base[p.pid] = c
            self.cpu[p.pid] = c
            self.rss[p.pid] = max(self.rss.get(p.pid, 0.0), rss)
            total_rss += rss
            n_workers += self.kind[p.pid] == "worker"
        self.peak_total_rss_mb = max(self.peak_total_rss_mb, total_rss)
        self.peak_workers = max(self.peak_workers, n_workers)
        self.own_cpu += time.thread_time() - t0

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()

    def totals(self) -> dict[str, float]:
        by = {"worker": 0.0, "ray_system": 0.0}
        rss = {"worker": 0.0, "ray_system": 0.0}
        for pid, c in self.cpu.items():
            by[self.kind[pid]] += c - self.base.get(pid, 0.0)
            rss[self.kind[pid]] = max(rss[self.kind[pid]], self.rss.get(pid, 0.0))
        return {"worker_cpu_s": by["worker"], "ray_system_cpu_s": by["ray_system"], "worker_peak_rss_mb": rss["worker"],
                "ray_system_peak_rss_mb": rss["ray_system"], "peak_total_rss_mb": self.peak_total_rss_mb,
                "worker_processes_started": sum(1 for p, k in self.kind.items() if k == "worker" and p not in self.base),
                "peak_live_worker_processes": self.peak_workers}


def measured_generate(overrides: list[str]) -> dict[str, Any]:
    """One ``generate`` on Ray with every Ray process sampled (Ray is started here unless it already runs)."""
    from duplexgen.pipeline.generate import generate, init_ray

    cfg = load_bench_generate_config(overrides)
    shutil.rmtree(cfg.output_dir, ignore_errors=True)
    sampler = TreeSampler(interval=0.2)  # a process that exits loses at most its last interval
    w_start, c_start, rss_start = time.perf_counter(), cpu_seconds(), peak_rss_mb()
    sampler.start()
    init_ray(cfg)
    w_ray = time.perf_counter()
    summary = generate(cfg)
    w_end = time.perf_counter()
    sampler.stop()
    result = {
        "wall_s": w_end - w_start, "wall_after_ray_init_s": w_end - w_ray, "ray_init_s": w_ray - w_start,
        "driver_cpu_s": cpu_seconds() - c_start - sampler.own_cpu, **sampler.totals(),
        "driver_peak_rss_mb": peak_rss_mb(), "driver_peak_rss_before_mb": rss_start,
        "hours": summary["hours"], "conversations": summary["conversations"], "shards": summary["shards"],
        "rejects": summary["rejects"], "sampler_cpu_s": sampler.own_cpu, "command": generate_command(overrides),
    }
    result["total_cpu_s"] = result["driver_cpu_s"] + result["worker_cpu_s"] + result["ray_system_cpu_s"]
    return result


def child_generate(spec_path: str) -> int:
    """Entry point of measured Ray runs in a fresh process: one run per process gives the driver's own peak
    RSS; several runs (``--tiny``) share one Ray session to save start-up time. After the runs, espeak-ng alone
    replays the in-process run's synthesis calls here too: the limit measured minutes apart can differ by tens
    of percent on a shared machine, so each Ray figure is compared with a limit measured next to it."""
    spec = json.loads(Path(spec_path).read_text())
    results = [measured_generate(ov) for ov in spec["runs"]]
    import ray

    ray.shutdown()
    calls = [(text, voice_from_json(v)) for text, v in spec.get("espeak_calls", [])]
    if calls:
        limit = replay_espeak(calls, fresh_library=False)
        for r in results:
            r["espeak_limit_cpu_s"] = limit["cpu_s"]
    Path(spec["result"]).write_text(json.dumps(results))
    return 0


def voice_to_json(voice) -> list:
    return [voice.name, voice.backend, [list(kv) for kv in voice.params]]


def voice_from_json(data: list):
    from duplexgen.tts.base import Voice

    name, backend, params = data
    return Voice(name, backend, tuple(tuple(kv) for kv in params))


def run_ray_child(work: Path, name: str, runs: list[list[str]], timeout_s: float = 1200,
                  espeak_calls: Optional[list] = None) -> list[dict[str, Any]]:
    spec = {"runs": runs, "result": str(work / f"{name}.result.json"),
            "espeak_calls": [(text, voice_to_json(v)) for text, v in espeak_calls or []]}
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    log = work / f"{name}.log"
    with open(log, "w") as f:
        proc = subprocess.run([sys.executable, "-m", "duplexgen.pipeline.bench", "--child", str(spec_path)],
                              stdout=f, stderr=subprocess.STDOUT, timeout=timeout_s, env={**os.environ, "RAY_DEDUP_LOGS": "1"})
    if proc.returncode != 0 or not Path(spec["result"]).exists():
        raise RuntimeError(f"bench run {name} failed (exit {proc.returncode}); log: {log}\n{log.read_text()[-3000:]}")
    return json.loads(Path(spec["result"]).read_text())


def bench_ray(cfg: BenchConfig, work: Path, source: Path, sections: set[str], espeak_calls: Optional[list] = None) -> dict[str, Any]:
    """1 vs 2 workers on N rows and 2 workers on 10N rows, repeats interleaved, each run in a fresh process
    (``--tiny``: all in one process and one Ray session); ``espeak_calls`` are replayed in each process after its run."""
    n, big = cfg.ray_rows, 10 * cfg.ray_rows
    base = {"ray.num_cpus": 2}
    plan: list[tuple[str, list[str]]] = []
    worker_counts = (1, 2) if "scaling" in sections else (2,)
    for rep in range(cfg.ray_repeats):
        for w in worker_counts:
            plan.append((f"N_{w}w", generate_overrides(work / f"ray_N_{w}w", source, n, cfg, **base, **{"ray.render_workers": w})))
        plan.append(("10N_2w", generate_overrides(work / "ray_10N_2w", source, big, cfg, **base, **{"ray.render_workers": 2})))
    if cfg.tiny:
        results = run_ray_child(work, "ray_all", [ov for _, ov in plan], espeak_calls=espeak_calls)
    else:
        results = [run_ray_child(work, f"{name}_{i}", [ov], espeak_calls=espeak_calls)[0] for i, (name, ov) in enumerate(plan)]
    runs: dict[str, list[dict]] = {}
    for (name, _), r in zip(plan, results):
        runs.setdefault(name, []).append(r)
    keys = ("wall_s", "wall_after_ray_init_s", "ray_init_s", "total_cpu_s", "driver_cpu_s", "worker_cpu_s", "ray_system_cpu_s",
            "driver_peak_rss_mb", "worker_peak_rss_mb", "ray_system_peak_rss_mb", "peak_total_rss_mb", "worker_processes_started",
            "peak_live_worker_processes", "hours", "conversations", "shards")
    table = {}
    for name, rs in runs.items():
        table[name] = {k: round(median([r[k] for r in rs]), 4) for k in keys}
        table[name]["repeats"] = len(rs)
        table[name]["command"] = rs[0]["command"]
        table[name]["wall_after_ray_init_s_all"] = [round(r["wall_after_ray_init_s"], 2) for r in rs]
        table[name]["total_cpu_s_all"] = [round(r["total_cpu_s"], 2) for r in rs]
        if "espeak_limit_cpu_s" in rs[0]:
            table[name]["espeak_limit_cpu_s_all"] = [round(r["espeak_limit_cpu_s"], 3) for r in rs]
    return {"rows_N": n, "rows_10N": big, "runs": table, "one_process": cfg.tiny,
            "shard_dir": str(work / "ray_10N_2w" / "shards" / "alpaca")}


def scaling_section(ray: dict[str, Any], source_offset: dict[str, Any]) -> dict[str, Any]:
    t = ray["runs"]
    one, two, big = t.get("N_1w"), t["N_2w"], t["10N_2w"]
    head = {
        "time_growth_10x_rows": round(big["wall_after_ray_init_s"] / two["wall_after_ray_init_s"], 2),
        "cpu_growth_10x_rows": round(big["total_cpu_s"] / two["total_cpu_s"], 2),
        "audio_growth_10x_rows": round(big["hours"] / two["hours"], 2),
        "driver_peak_rss_growth_10x_rows": round(big["driver_peak_rss_mb"] / two["driver_peak_rss_mb"], 3),
        "all_processes_peak_rss_growth_10x_rows": round(big["peak_total_rss_mb"] / two["peak_total_rss_mb"], 3),
        "worker_peak_rss_growth_10x_rows": round(big["worker_peak_rss_mb"] / two["worker_peak_rss_mb"], 3),
        "ray_conv_hours_per_core_hour_10N": round(big["hours"] / (big["total_cpu_s"] / 3600), 1),
    }
    if one:
        head["speedup_2_vs_1_workers"] = round(one["wall_after_ray_init_s"] / two["wall_after_ray_init_s"], 2)
        head["cpu_ratio_2_vs_1_workers"] = round(two["total_cpu_s"] / one["total_cpu_s"], 2)
    head["source_read_last_vs_first_chunk_x"] = source_offset["last_vs_first_x"]
    return {"rows_N": ray["rows_N"], "rows_10N": ray["rows_10N"], "runs": t, "source_offset": source_offset, "headline": head}


def bench_source_offset(cfg: BenchConfig, work: Path) -> dict[str, Any]:
    """Seconds to read one chunk at the start vs at the end of a large source (chunks re-scan from row 0)."""
    from duplexgen.pipeline.stages import ChunkTask, SourceStage
    from duplexgen.recipes import get_recipe

    path = write_synthetic_alpaca(work / f"alpaca_{cfg.big_rows}.json", cfg.big_rows)
    w0 = time.perf_counter()
    n = sum(1 for _ in get_recipe("alpaca").read_rows(str(path)))  # the driver's count (and the Arrow cache)
    count_s = time.perf_counter() - w0
    size = cfg.shard_size

    def chunk_s(start: int) -> float:
        task = ChunkTask("alpaca", "alpaca", str(path), start, start + size, start // size, cfg.seed)
        c0 = cpu_seconds()
        SourceStage().process(task)
        return cpu_seconds() - c0

    chunk_s(0)  # warm-up: the first load_dataset of a file in a process costs extra
    first = median([chunk_s(0) for _ in range(cfg.repeats)])
    last = median([chunk_s(n - size) for _ in range(cfg.repeats)])
    chunks = -(-n // size)
    return {"rows": n, "rows_per_chunk": size, "count_rows_s": round(count_s, 3), "first_chunk_cpu_s": round(first, 4),
            "last_chunk_cpu_s": round(last, 4), "last_vs_first_x": round(last / max(first, 1e-6), 1),
            "estimated_total_read_cpu_s": round(chunks * (first + last) / 2, 1), "chunks": chunks}


# ---------------------------------------------------------------- the whole bench


def run_bench(cfg: Optional[BenchConfig] = None, **kw: Any) -> dict[str, Any]:
    """Run the selected sections; write ``OUT/bench.json`` and ``OUT/bench.md``; return the results."""
    cfg = cfg or BenchConfig(**kw)
    out = Path(cfg.out).resolve()
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    saved_env = os.environ.get("DUPLEXGEN_DATASETS_CACHE")
    os.environ["DUPLEXGEN_DATASETS_CACHE"] = str(work / "datasets_cache")  # a fresh Arrow cache, same for every run
    try:
        return _run_sections(cfg, out, work)
    finally:
        if saved_env is None:
            os.environ.pop("DUPLEXGEN_DATASETS_CACHE", None)
        else:
            os.environ["DUPLEXGEN_DATASETS_CACHE"] = saved_env
        if not cfg.keep_work:
            shutil.rmtree(work, ignore_errors=True)


def _run_sections(cfg: BenchConfig, out: Path, work: Path) -> dict[str, Any]:
    sections = set(cfg.only)
    t0 = time.perf_counter()
    laps: dict[str, float] = {}

    def lap(name: str) -> None:
        laps[name] = round(time.perf_counter() - t0 - sum(laps.values()), 1)
    res: dict[str, Any] = {"machine": machine_facts(), "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}}
    source = write_synthetic_alpaca(work / "alpaca_synthetic.json", max(cfg.rows, 10 * cfg.ray_rows))
    calls: list = []
    write_bench_config(work)
    if sections & {"efficiency", "stages"}:
        eff, stages, calls = bench_in_process(cfg, work, source)
        if "efficiency" in sections:
            res["efficiency"] = eff
        if "stages" in sections:
            res["stages"] = stages
        lap("efficiency+stages")
    if sections & {"scaling", "memory"}:
        ray_res = bench_ray(cfg, work, source, sections, espeak_calls=calls if "efficiency" in res else None)
        two, big = ray_res["runs"]["N_2w"], ray_res["runs"]["10N_2w"]
        if "efficiency" in res:
            eff = res["efficiency"]
            ray_rate = round(big["hours"] / (big["total_cpu_s"] / 3600), 1)
            # espeak alone on the same calls, replayed in each Ray run's process right after the run (the machine's
            # speed drifts over minutes); the in-process limit only when the children measured none.
            limits = [c for r in ray_res["runs"].values() for c in r.get("espeak_limit_cpu_s_all", [])]
            limit_rate = (round(eff["conversation_hours"] / (median(limits) / 3600), 1) if limits
                          else eff["runs"]["espeak_in_process"]["conv_hours_per_core_hour"])
            eff["ray"] = {"conv_hours_per_core_hour": ray_rate, "overhead_vs_espeak": round(1 - ray_rate / limit_rate, 3),
                          **ray_steady_state(two, big, limit_rate), "espeak_limit_conv_hours_per_core_hour": limit_rate,
                          "espeak_limit_cpu_s_all": limits, "command_N": two["command"], "command": big["command"],
                          "note": "Ray runs (2 workers) vs espeak alone replaying the in-process run's synthesis calls in each Ray "
                                  "run's process after the run (median); marginal = from the difference of the N and 10N runs; "
                                  "start-up = every CPU figure extrapolated to 0 rows"}
            eff["headline"]["ray_overhead_vs_espeak"] = eff["ray"]["overhead_vs_espeak"]
            eff["headline"]["ray_marginal_overhead_vs_espeak"] = eff["ray"]["marginal_overhead_vs_espeak"]
            eff["headline"]["ray_startup_cpu_s"] = eff["ray"]["startup_cpu_s"]
            if eff["ray"]["marginal_conv_hours_per_core_hour"] > 0:  # --tiny runs share one Ray session: no steady state
                eff["projection"] = projection(eff["ray"], limit_rate, eff["speech"], cfg.gpu_tts_rtf)
        lap("ray runs")
        if "scaling" in sections:
            res["scaling"] = scaling_section(ray_res, bench_source_offset(cfg, work))
            lap("source offset")
        if "memory" in sections:
            res["memory"] = {
                "command_N": two["command"], "command_10N": big["command"],
                "headline": {"driver_peak_rss_mb_N": two["driver_peak_rss_mb"], "driver_peak_rss_mb_10N": big["driver_peak_rss_mb"],
                             "worker_peak_rss_mb_N": two["worker_peak_rss_mb"], "worker_peak_rss_mb_10N": big["worker_peak_rss_mb"],
                             "ray_system_peak_rss_mb": big["ray_system_peak_rss_mb"],
                             "all_processes_peak_rss_mb_N": two["peak_total_rss_mb"], "all_processes_peak_rss_mb_10N": big["peak_total_rss_mb"],
                             "worker_processes_started_N": two["worker_processes_started"],
                             "worker_processes_started_10N": big["worker_processes_started"]},
            }
    res["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    res["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    res["section_wall_s"] = laps
    res["bench_command"] = "duplexgen bench" + (" --tiny" if cfg.tiny else "") + f" --out {cfg.out}" + (
        "" if set(cfg.only) == set(SECTIONS) else " --only " + ",".join(cfg.only))
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(res, indent=1, default=str))
    (out / "bench.md").write_text(format_markdown(res))
    return res


# ---------------------------------------------------------------- markdown


def format_markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    parts = [f"# duplexgen bench\n\nCommand: `{res['bench_command']}` ({res['bench_wall_s']} s). Machine: {m['nproc']} CPUs, "
             f"{m['cpu_model']}, {m['ram_gib']} GiB RAM, Python {m['python']}; load average {m['load_avg_start']} at start, "
             f"{m.get('load_avg_end')} at end. Seconds per section: {res.get('section_wall_s')}. Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "."]
    if "efficiency" in res:
        e = res["efficiency"]
        rows = [[EFFICIENCY_RUNS[k], r["cpu_s"], r["wall_s"], r["conv_hours_per_core_hour"], r["realtime_x_per_core"]] for k, r in e["runs"].items()]
        if "ray" in e:
            rows.append(["pipeline on Ray, 2 workers, 10N rows (all Ray processes, start-up included)", "", "", e["ray"]["conv_hours_per_core_hour"], ""])
            rows.append(["pipeline on Ray, 2 workers, steady state (10N minus N rows)", "", "", e["ray"]["marginal_conv_hours_per_core_hour"], ""])
        h = e["headline"]
        parts.append(f"## 1. Efficiency ({e['rows']} rows, {e['conversations']} conversations, {e['conversation_hours']} h of "
                     f"conversation, {e['synthesize_calls']} synthesis calls, {e['speech_hours_synthesised']} h of speech)\n\n"
                     + markdown_table(["run", "CPU s (median)", "wall s", "conv h / core-h", "x real time / core"], rows)
                     + f"\n\nPipeline overhead around TTS (1 - espeak alone / pipeline CPU), default settings in-process: "
                     f"**{h['pipeline_overhead_vs_espeak']:.1%}** (efficiency {h['pipeline_efficiency_vs_espeak']:.3f}; paired median overhead "
                     f"{h['pipeline_overhead_vs_espeak_paired_median']:.1%}; with the espeak helper process {h['pipeline_overhead_espeak_helper']:.1%})"
                     + (f"; on Ray {h['ray_overhead_vs_espeak']:.1%} for the 10N run, **{h['ray_marginal_overhead_vs_espeak']:.1%}** at steady state; "
                        f"Ray start-up **{h['ray_startup_cpu_s']} CPU s**" if "ray_overhead_vs_espeak" in h else "")
                     + f". The fresh library per text costs x{h['fresh_library_cost_espeak_x']} of espeak alone; the helper process "
                     f"x{h['espeak_helper_cost_pipeline_x']} of the pipeline.")
        if "ray" in e:
            r = e["ray"]
            parts.append("### Ray steady state and start-up\n\n"
                         + markdown_table(["figure", "value"], [
                             ["marginal conversation h per core-h (10N minus N)", r["marginal_conv_hours_per_core_hour"]],
                             ["espeak-ng alone, same calls, replayed in the Ray runs' processes: conversation h per core-h",
                              r["espeak_limit_conv_hours_per_core_hour"]],
                             ["marginal overhead vs espeak alone", f"{r['marginal_overhead_vs_espeak']:.1%}"],
                             ["start-up CPU s, all processes (extrapolated to 0 rows)", r["startup_cpu_s"]],
                             ["  of which driver", r["startup_driver_cpu_s"]], ["  of which Ray workers", r["startup_worker_cpu_s"]],
                             ["  of which Ray system processes", r["startup_ray_system_cpu_s"]]]))
        if "projection" in e:
            pj = e["projection"]
            rows = [[r["source"], r["hours"], r["tts_speech_hours"], r["llm_output_tokens_M"], r["espeak_core_hours"], r["espeak_wall_h"],
                     r["gpu_server_cpu_core_hours"], r["gpu_hours"], r["gpu_server_wall_h"]] for r in pj["rows"]]
            t = pj["total"]
            rows.append(["**total**", t["hours"], t["tts_speech_hours"], t["llm_output_tokens_M"], t["espeak_core_hours"], t["espeak_wall_h"],
                         t["gpu_server_cpu_core_hours"], t["gpu_hours"], ""])
            pc = pj["per_conversation_hour"]
            parts.append(f"### Projection: `{pj['config']}` on a {pj['cores']}-core cluster\n\n"
                         + markdown_table(["source", "conversation h", "synthesised speech h", "LLM output tokens (M)", "espeak: core-h",
                                           f"espeak: wall h on {pj['cores']} cores", "GPU TTS: CPU core-h", "GPU TTS: GPU-h",
                                           f"GPU TTS: wall h ({pj['cores']} cores, 1 GPU)"], rows)
                         + f"\n\nFrom this run's figures per conversation hour: pipeline {pc['pipeline_core_h']} core-h (Ray steady state), "
                         f"of which espeak-ng alone {pc['espeak_core_h']} and the rest {pc['other_core_h']}; {pc['speech_h']} h of speech, "
                         f"{pc['agent_share_of_speech']:.0%} of it agent; {pc['llm_chars_per_speech_h']} characters of text per hour of speech. "
                         f"Text sources cost the pipeline figure; ASR-QA the rest + espeak for the agent's share; real conversations the rest "
                         f"only. GPU TTS: the CPU side is the rest (HTTP client costs not measured) and the server makes {pj['gpu_tts_rtf']:g} s "
                         f"of speech per s (`--gpu-tts-rtf`, an input: no GPU here). LLM tokens: output only, "
                         f"{CHARS_PER_TOKEN:g} characters per token; prompts come on top.")
    if "stages" in res:
        s = res["stages"]
        rows = [[r["stage"], r["bucket"], r["cpu_s"], f"{r['cpu_share']:.1%}", r["wall_s"], r["calls"]] for r in s["rows"]]
        buckets = ", ".join(f"{b} {v:.1%}" for b, v in sorted(s["buckets"].items(), key=lambda kv: -kv[1]))
        parts.append("## 2. Stage breakdown (in-process, CPU s, medians)\n\n" + markdown_table(["stage", "bucket", "CPU s", "share", "wall s", "calls"], rows)
                     + f"\n\nBuckets: {buckets}.")
    if "scaling" in res:
        sc = res["scaling"]
        rows = [[k, r["repeats"], r["conversations"], round(r["hours"], 4), r["wall_after_ray_init_s"], r["ray_init_s"], r["total_cpu_s"],
                 r["driver_cpu_s"], r["worker_cpu_s"], r["ray_system_cpu_s"], r["driver_peak_rss_mb"], r["worker_peak_rss_mb"],
                 r["peak_total_rss_mb"], r["worker_processes_started"]]
                for k, r in sc["runs"].items()]
        so = sc["source_offset"]
        parts.append(f"## 3. Scaling on Ray (N = {sc['rows_N']} rows, 10N = {sc['rows_10N']})\n\n"
                     + markdown_table(["run", "repeats", "conversations", "audio h", "wall s (after ray.init)", "ray.init s", "CPU s (all)", "driver CPU s",
                               "worker CPU s", "Ray system CPU s", "driver peak RSS MiB", "worker peak RSS MiB",
                               "all processes peak RSS MiB", "worker processes started"], rows)
                     + "\n\n" + "\n".join(f"- {k}: {v}" for k, v in sc["headline"].items())
                     + f"\n\nSource read offset ({so['rows']} rows, {so['rows_per_chunk']} per chunk): first chunk {so['first_chunk_cpu_s']} CPU s, "
                     f"last chunk {so['last_chunk_cpu_s']} CPU s (x{so['last_vs_first_x']}); all {so['chunks']} chunks ~{so['estimated_total_read_cpu_s']} CPU s; "
                     f"counting the rows in the driver {so['count_rows_s']} s.")
    if "memory" in res:
        parts.append("## 4. Peak memory\n\n" + "\n".join(f"- {k}: {v}" for k, v in res["memory"]["headline"].items()))
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- CLI


def cmd_bench(args: argparse.Namespace) -> int:
    only = tuple(s.strip() for s in args.only.split(",")) if args.only else SECTIONS
    kw = {"out": args.out, "only": only, "keep_work": args.keep_work, "gpu_tts_rtf": args.gpu_tts_rtf}
    cfg = BenchConfig.tiny_sizes(**kw) if args.tiny else BenchConfig(**kw)
    res = run_bench(cfg)
    print(Path(cfg.out, "bench.md").read_text())
    print(f"wrote {Path(cfg.out, 'bench.json')} and bench.md in {res['bench_wall_s']} s")
    return 0


def register(sub) -> None:
    b = sub.add_parser(
        "bench", help="measure the generation pipeline: cost per corpus hour, stage shares, scaling, memory",
        description="Benchmarks measured side by side in one run on this machine (ratios, medians of repeats): "
        "pipeline vs espeak-ng alone, stage breakdown, 1 vs 2 workers, N vs 10N rows, driver/worker memory. "
        "Writes OUT/bench.json and OUT/bench.md. The trainer's side is `duplexgen bench-train`.",
    )
    b.add_argument("--tiny", action="store_true", help="smoke sizes (CI): seconds, numbers not meaningful")
    b.add_argument("--out", default="out/bench", help="output folder for bench.json and bench.md")
    b.add_argument("--only", default="", help=f"comma-separated sections among {','.join(SECTIONS)} (default: all)")
    b.add_argument("--keep-work", action="store_true", help="keep the scratch runs under OUT/work")
    b.add_argument("--gpu-tts-rtf", type=float, default=100.0,
                   help="projection only: seconds of speech one GPU TTS server makes per second (not measured here)")
    b.set_defaults(func=cmd_bench)


if __name__ == "__main__":  # the measured child of a Ray run (run_ray_child); people run `duplexgen bench`
    if len(sys.argv) != 3 or sys.argv[1] != "--child":
        sys.exit("usage: python -m duplexgen.pipeline.bench --child SPEC.json (run `duplexgen bench` instead)")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    sys.exit(child_generate(sys.argv[2]))
