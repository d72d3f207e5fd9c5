"""`duplexgen bench-train`: the trainer's side of the bench, measured side by side in one run.

* ``reading`` -- audio seconds per second through the trainer's loader (Lhotse Shar ->
  ``DynamicBucketingSampler`` -> NeMo's ``DuplexS2SDataset``) on a shard folder of your choice
  (e.g. the demo's, or a generation bench run kept with ``duplexgen bench --keep-work``).
* ``trainer`` -- ``python -m duplexgen.training.gpu_check --tiny`` (CPU): step time and audio
  seconds/s with codec codes computed on the fly vs precomputed.

The loader's headroom over the trainer (``reading`` audio s/s divided by the trainer's) says whether
data loading can keep the trainer busy. Results go to ``OUT/bench_train.json`` and ``OUT/bench_train.md``.

Example::

    duplexgen bench-train out/demo/shards --out out/bench
    duplexgen bench-train out/demo/shards --tiny        # a smoke run (CI)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from duplexgen.core.config import help_field
from duplexgen.core.measure import machine_facts, markdown_table, median, process_cpu_seconds

SECTIONS = ("reading", "trainer")


@dataclass
class TrainBenchConfig:
    """`duplexgen bench-train`: what to read and how many repeats and steps."""

    shards: str = help_field("shard folder (or URL) read by the loader bench", "out/demo/shards")
    out: str = help_field("folder for bench_train.json and bench_train.md", "out/bench")
    tiny: bool = help_field("smoke sizes for CI (seconds, not minutes); the numbers are not meaningful", False)
    only: tuple = help_field("sections to run (default: all)", SECTIONS)
    repeats: int = help_field("passes over the shards (medians are reported; at least 2: the first warms the page cache)", 3)
    train_steps: int = help_field("gpu_check steps (the first is a warm-up)", 5)

    def __post_init__(self):
        if isinstance(self.only, str):
            self.only = tuple(s.strip() for s in self.only.split(",") if s.strip())
        bad = [s for s in self.only if s not in SECTIONS]
        if bad or not self.only:
            raise ValueError(f"bench-train --only must list sections among {SECTIONS}, got {list(self.only)}")
        if self.repeats < 1:
            raise ValueError(f"bench-train repeats must be >= 1, got {self.repeats}")
        if self.train_steps < 2:
            raise ValueError(f"bench-train train_steps must be >= 2 (the first step is a warm-up), got {self.train_steps}")


def bench_reading(cfg: TrainBenchConfig) -> dict[str, Any]:
    """Audio seconds per second through the trainer's loader: Shar -> DynamicBucketingSampler -> DuplexS2SDataset."""
    from duplexgen.training.config import load_train_config
    from duplexgen.training.data import BatchStream
    from duplexgen.training.model import resolve_tokenizer_path
    from duplexgen.training.tokenizer import load_tokenizer

    overrides = [f"train_shards=[{cfg.shards}]", "infinite=false", "max_epochs=1"]
    tcfg = load_train_config("tiny_cpu", overrides)
    tokenizer = load_tokenizer(resolve_tokenizer_path(tcfg.model))
    runs = []
    for _ in range(max(2, cfg.repeats)):  # the first pass also warms the page cache; medians over all
        stream = BatchStream(tcfg, tokenizer, rank=0, world_size=1, num_workers=0)
        w0, c0, audio, batches = time.perf_counter(), process_cpu_seconds(), 0.0, 0
        for batch in stream:
            audio += batch["duration"]
            batches += 1
        runs.append({"wall_s": time.perf_counter() - w0, "cpu_s": process_cpu_seconds() - c0, "audio_s": audio, "batches": batches})
    wall, cpu = median([r["wall_s"] for r in runs]), median([r["cpu_s"] for r in runs])
    audio = runs[0]["audio_s"]
    if audio <= 0:
        raise ValueError(f"no audio read from {cfg.shards}: give a folder with duplexgen shards")
    return {"shard_dir": cfg.shards, "audio_s_per_pass": round(audio, 2), "batches": runs[0]["batches"],
            "batch_duration_s": tcfg.batch_duration, "wall_s_all": [round(r["wall_s"], 3) for r in runs],
            "command": "BatchStream(load_train_config('tiny_cpu', %r), tokenizer, rank=0, world_size=1, num_workers=0)" % overrides,
            "headline": {"audio_s_per_s": round(audio / wall, 1), "audio_s_per_cpu_s": round(audio / cpu, 1)}}


def bench_trainer(cfg: TrainBenchConfig) -> dict[str, Any]:
    """The tiny CPU trainer through ``training.gpu_check`` (the GPU numbers come from the same script on a GPU)."""
    cmd = [sys.executable, "-m", "duplexgen.training.gpu_check", "--tiny", "--steps", str(cfg.train_steps)]
    w0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"gpu_check failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    out = proc.stdout
    report = json.loads(out[out.rindex("\n{") + 1 if "\n{" in out else out.index("{"):])
    report["command"] = "python -m duplexgen.training.gpu_check --tiny --steps %d" % cfg.train_steps
    report["process_wall_s"] = round(time.perf_counter() - w0, 1)
    report["headline"] = {
        "step_s_on_the_fly": report["codec_on_the_fly"]["step_s"], "step_s_precomputed": report["precomputed_codes"]["step_s"],
        "audio_s_per_s_on_the_fly": report["codec_on_the_fly"]["audio_seconds_per_s"],
        "audio_s_per_s_precomputed": report["precomputed_codes"]["audio_seconds_per_s"],
        "precompute_speedup": report["precompute_speedup"],
    }
    return report


def run_train_bench(cfg: Optional[TrainBenchConfig] = None, **kw: Any) -> dict[str, Any]:
    """Run the selected sections; write ``OUT/bench_train.json`` and ``OUT/bench_train.md``; return the results."""
    cfg = cfg or TrainBenchConfig(**kw)
    t0 = time.perf_counter()
    res: dict[str, Any] = {"machine": machine_facts(), "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}}
    if "reading" in cfg.only:
        res["reading"] = bench_reading(cfg)
    if "trainer" in cfg.only:
        res["trainer"] = bench_trainer(cfg)
    if "reading" in res and "trainer" in res:
        need = res["trainer"]["headline"]["audio_s_per_s_on_the_fly"]
        res["reading"]["headline"]["headroom_vs_tiny_trainer_x"] = round(res["reading"]["headline"]["audio_s_per_s"] / need, 2)
    res["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    res["bench_command"] = f"duplexgen bench-train {cfg.shards}" + (" --tiny" if cfg.tiny else "") + f" --out {cfg.out}"
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_train.json").write_text(json.dumps(res, indent=1, default=str))
    (out / "bench_train.md").write_text(format_markdown(res))
    return res


def format_markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    parts = [f"# duplexgen bench-train\n\nCommand: `{res['bench_command']}` ({res['bench_wall_s']} s). Machine: {m['nproc']} CPUs, "
             f"{m['cpu_model']}, {m['ram_gib']} GiB RAM, Python {m['python']}."]
    if "reading" in res:
        r = res["reading"]
        parts.append(f"## Reading through the trainer's loader\n\n{r['audio_s_per_pass']} s of audio in {r['batches']} batches per pass; "
                     + ", ".join(f"{k}: {v}" for k, v in r["headline"].items()) + f". Passes (wall s): {r['wall_s_all']}.")
    if "trainer" in res:
        t = res["trainer"]
        parts.append(f"## Trainer (`{t['command']}`, device {t['device']}, {t['trainable_params_M']} M trainable parameters, "
                     f"{t['batch_audio_s']} s of audio per batch)\n\n"
                     + markdown_table(["codec", "step s", "audio s / s", "frames / s"],
                                      [["on the fly", t["codec_on_the_fly"]["step_s"], t["codec_on_the_fly"]["audio_seconds_per_s"], t["codec_on_the_fly"]["frames_per_s"]],
                                       ["precomputed", t["precomputed_codes"]["step_s"], t["precomputed_codes"]["audio_seconds_per_s"], t["precomputed_codes"]["frames_per_s"]]])
                     + f"\n\nPrecompute speed-up: x{t['precompute_speedup']}.")
    return "\n\n".join(parts) + "\n"


def cmd_bench_train(args: argparse.Namespace) -> int:
    kw: dict[str, Any] = {"shards": args.shards, "out": args.out, "tiny": args.tiny}
    if args.only:
        kw["only"] = args.only
    if args.tiny:
        kw.update(repeats=1, train_steps=2)
    cfg = TrainBenchConfig(**kw)
    res = run_train_bench(cfg)
    print(Path(cfg.out, "bench_train.md").read_text())
    print(f"wrote {Path(cfg.out, 'bench_train.json')} and bench_train.md in {res['bench_wall_s']} s")
    return 0


def register(sub) -> None:
    b = sub.add_parser(
        "bench-train", help="measure the trainer: loader throughput on shards, step time (codec on the fly vs precomputed)",
        description="The trainer's benchmarks in one run: audio seconds per second through the trainer's loader on SHARDS, "
        "and the tiny CPU trainer's step time. Writes OUT/bench_train.json and OUT/bench_train.md.",
    )
    b.add_argument("shards", nargs="?", default="out/demo/shards", help="shard folder read by the loader bench (default: out/demo/shards)")
    b.add_argument("--tiny", action="store_true", help="smoke sizes (CI): seconds, numbers not meaningful")
    b.add_argument("--out", default="out/bench", help="output folder for bench_train.json and bench_train.md")
    b.add_argument("--only", default="", help=f"comma-separated sections among {','.join(SECTIONS)} (default: all)")
    b.set_defaults(func=cmd_bench_train)
