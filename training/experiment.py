"""`duplexgen experiment bargein-ablation --out DIR`: does a model trained on duplexgen shards learn turn-taking
and barge-in, and does barge-in augmentation matter? (SALM-Duplex's central ablation, arXiv 2505.15670.)

One command, resumable stage by stage (each finished stage leaves ``DIR/stages/<name>.json`` with its wall
and CPU time; a rerun skips it, and the stages themselves resume: generation skips finished shards,
training resumes from its latest checkpoint). Every stage is one of the project's own commands, run as a
subprocess (``duplexgen generate``, ``train-codec``, ``eval``, ``train`` ...), as a user would run them:

1. ``sources``   split the source rows (Alpaca, UltraChat) into disjoint train / validation / evaluation rows.
2. ``data``      generate the training set twice from the same rows and seeds: barge-in augmentation on (the
                 default mix) and off; ``train_renders`` renders per row (different voices, gaps, cut points);
                 validation sets for each; the evaluation set from the held-out rows (scripted barge-ins,
                 backchannels, multi-turn conversations).
3. ``tokenizer`` a small byte-level BPE tokenizer on the training text (parameters go to the transformer).
4. ``codec``     the agent-voice codec set from the training rows, the tiny codec trained on it, its code usage
                 (entropy per codebook), and the gate: the evaluation set's own agent stream passed through the
                 codec and scored by ``duplexgen eval --reference`` with Silero VAD must keep turn-taking and
                 barge-in >= ``codec_gate``, or the experiment stops (no model can speak through a broken codec).
5. ``precompute`` the codec's codes stored with every training and validation shard.
6. ``train_no_bargein_aug``, ``train_bargein_aug``: the same model, seed, data order and step count.
7. ``untrained`` the same model at its initialisation (no step), exported like the others.
8. ``eval``      each arm free-running on the evaluation set's user streams (``duplexgen eval`` with the
                 ``decoding`` thresholds), agent activity from the text channel and from Silero VAD on the
                 decoded audio; plus the reference (the evaluation set's own agent stream).
9. ``report``    ``results.json``, ``EXPERIMENTS.md`` and loss-curve PNGs in ``report_dir``.

Example::

    duplexgen experiment bargein-ablation --out out/ablation                 # ~1.6 h on 2 CPU cores (EXPERIMENTS.md)
    duplexgen experiment bargein-ablation --out out/ablation train_steps=50 eval_alpaca_rows=20   # a quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from duplexgen.core.config import config_to_dict, help_field

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
ARMS = ("untrained", "no_bargein_aug", "bargein_aug")


@dataclass
class AblationConfig:
    """`duplexgen experiment bargein-ablation`: data, codec, three arms, evaluation, report."""

    alpaca_path: str = help_field("Alpaca JSON rows {instruction, input, output}", str(SHARED_DATA / "alpaca" / "alpaca_samples_hf500.json"))
    ultrachat_path: str = help_field("UltraChat JSONL rows {messages}", str(SHARED_DATA / "ultrachat" / "ultrachat_small.head50.jsonl"))
    seed: int = help_field("seed of the row split, the generation, the codec and the model", 1234)
    # The evaluation set must keep >= 150 conversations after rejects: a run holding out 140 + 10 rows kept 142
    # (3 Alpaca rows are code, 5 of 10 UltraChat rows have a user turn over normalize.max_turn_chars).
    eval_alpaca_rows: int = help_field("Alpaca rows held out for evaluation", 155)
    eval_ultrachat_rows: int = help_field("UltraChat rows held out for evaluation (multi-turn conversations)", 15)
    val_alpaca_rows: int = help_field("Alpaca rows held out for the validation loss", 30)
    max_train_rows: int = help_field("use at most this many training rows per source (0 = every row not held out)", 0)
    train_renders: int = help_field("renders of every training row (different seeds: voices, gaps, barge-in points)", 3)
    ultrachat_exchanges: int = help_field("user/agent exchanges kept per UltraChat conversation", 4)
    eval_barge_in_prob: float = help_field("barge-in probability per agent turn in the evaluation set", 0.5)
    eval_backchannel_prob: float = help_field("backchannel probability per agent turn in the evaluation set", 0.3)
    tokenizer_vocab: int = help_field("vocabulary of the BPE tokenizer trained on the training text", 2048)
    codec_utterances: int = help_field("agent-voice utterances for the codec (from the training rows only)", 1500)
    codec_steps: int = help_field("codec training steps (codec_tiny_cpu, 2 CPU workers)", 1500)
    codec_gate: float = help_field("reference agent stream through the codec: turn-taking and barge-in must reach this", 0.9)
    train_config: str = help_field("train config of the arms (a shipped name or YAML path)", "ablation_small")
    train_steps: int = help_field("optimizer steps of each trained arm", 600)
    train_overrides: list = help_field("extra key=value overrides of the arms' train config", [])
    decoding: dict = help_field("decoding of every arm (DecodeConfig): thresholds on BOS/EOS vs pad, sampled codes",
                                {"bos_threshold": 0.5, "eos_threshold": 0.5, "threshold_mode": "cumulative",
                                 "audio_temperature": 0.8, "audio_top_k": 20, "seed": 0})
    vad: str = help_field("VAD of the evaluation (silero, as the public metric code)", "silero")
    eval_tasks: list = help_field("Full-Duplex-Bench-style case tasks evaluated (the issue's metrics need these three)",
                                  ["smooth_turn_taking", "user_interruption", "user_backchannel"])
    report_dir: Optional[str] = help_field("where results.json, EXPERIMENTS.md and the PNGs go (null = OUT/report)", None)
    targets: dict = help_field("the issue's targets, printed next to the results (never used to tune anything)",
                               {"bargein_aug_barge_in": 0.6, "bargein_margin": 0.2, "turn_taking": 0.6, "false_alarm_max": 0.2})

    def __post_init__(self):
        for k in ("eval_alpaca_rows", "val_alpaca_rows", "train_renders", "tokenizer_vocab", "codec_utterances", "codec_steps",
                  "train_steps", "ultrachat_exchanges"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1, got {getattr(self, k)}")
        if self.eval_ultrachat_rows < 0 or self.max_train_rows < 0:
            raise ValueError("eval_ultrachat_rows and max_train_rows must be >= 0")
        if not 0 < self.codec_gate <= 1:
            raise ValueError(f"codec_gate must be in (0, 1], got {self.codec_gate}")
        from duplexgen.training.model import DecodeConfig

        DecodeConfig(**self.decoding)


# ---------------------------------------------------------------- CPU time of a process tree
class TreeCPU:
    """CPU seconds of this process and every descendant (Ray workers included), sampled every ``period`` s.

    ``getrusage(RUSAGE_CHILDREN)`` misses processes that are not reaped by their parent (Ray workers), so the
    tree is polled with psutil and each process's last reading is kept; a process that lives less than one
    period is missed (a small undercount)."""

    def __init__(self, period: float = 1.0):
        self.period, self.seen, self._stop = period, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        for p in [me, *me.children(recursive=True)]:
            try:
                t = p.cpu_times()
                self.seen[(p.pid, p.create_time())] = t.user + t.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def __enter__(self) -> "TreeCPU":
        self._sample()
        self.start = sum(self.seen.values())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values()) - self.start


# ---------------------------------------------------------------- stages
def codec_refusal(res: dict[str, Any], codec_gate: float, vad: str, gate_dir: Path) -> Optional[str]:
    """Why the codec stage's result ``res`` cannot carry the arms, or None. A codec whose encoder reads the agent's
    onset before the BOS frame teaches the model to start turns from its own speech channel (it then never speaks
    free-running, ``training/codec/README.md``); one that loses the reference stream's turns caps every arm."""
    look = res["encoder_lookahead"]
    if look["leaks_onset"]:
        return (f"the codec's encoder reads {look} past its frame: the model would read the agent's onset from its own "
                "speech channel before its BOS; use a per-frame encoder")
    rates = {"turn_taking": res["reference_through_codec_turn_taking"], "barge_in": res["reference_through_codec_barge_in"]}
    bad = [k for k, v in rates.items() if (v or 0) < codec_gate]
    if not bad:
        return None
    scores = ", ".join(f"{k} {rates[k]}" for k in bad)
    return (f"codec gate failed: the reference agent stream through the codec scores {scores} < {codec_gate} under "
            f"{vad} VAD (see {gate_dir}); train it longer (codec_steps) or widen it")


class Experiment:
    """The stages of the ablation over one output folder."""

    def __init__(self, cfg: AblationConfig, out: str, argv: Optional[list[str]] = None):
        self.cfg, self.out, self.argv = cfg, Path(out).resolve(), list(argv or [f"--out {out}"])
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "stages").mkdir(exist_ok=True)
        (self.out / "logs").mkdir(exist_ok=True)
        (self.out / "configs").mkdir(exist_ok=True)

    # -- running commands
    def duplexgen(self, name: str, *args: str) -> str:
        """Run ``duplexgen ARGS`` in a subprocess (same interpreter, same package), log to logs/NAME.log; its stdout."""
        cmd = [sys.executable, "-m", "duplexgen.pipeline.cli", *args]
        logf = self.out / "logs" / f"{name}.log"
        print(f"  $ duplexgen {' '.join(args)}   (log: {logf})", flush=True)
        with open(logf, "a") as f:
            f.write(f"\n$ {' '.join(cmd)}\n")
            f.flush()
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            f.write(proc.stdout)
        if proc.returncode != 0:
            raise RuntimeError(f"stage command failed ({proc.returncode}): duplexgen {' '.join(args)}; see {logf}")
        return proc.stdout

    def duplexgen_json(self, name: str, *args: str) -> dict:
        """``duplexgen(...)`` of a command printing JSON (``--json``); libraries may log lines to stdout before it."""
        out = self.duplexgen(name, *args)
        start = out.find("\n{") + 1 if not out.startswith("{") else 0
        return json.loads(out[start:])

    def stage(self, name: str, fn: Callable[[], dict]) -> dict:
        """Run a stage once: its result, wall and CPU seconds are saved in stages/NAME.json; a rerun loads them."""
        done = self.out / "stages" / f"{name}.json"
        if done.exists():
            print(f"[{name}] done before, skipped", flush=True)
            return json.loads(done.read_text())
        print(f"[{name}] ...", flush=True)
        t0 = time.time()
        with TreeCPU() as cpu:
            result = fn() or {}
        result = {**result, "wall_s": round(time.time() - t0, 1), "cpu_s": round(cpu.seconds, 1)}
        done.write_text(json.dumps(result, indent=1))
        print(f"[{name}] {result['wall_s']:.0f} s wall, {result['cpu_s']:.0f} CPU s", flush=True)
        return result

    def write_yaml(self, name: str, data: dict) -> str:
        import yaml

        p = self.out / "configs" / f"{name}.yaml"
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return str(p)

    # -- 1. sources
    def sources(self) -> dict:
        cfg = self.cfg
        alpaca = json.loads(Path(cfg.alpaca_path).read_text())
        ultra = [ln for ln in Path(cfg.ultrachat_path).read_text().splitlines() if ln.strip()]
        split = split_rows(len(alpaca), [cfg.eval_alpaca_rows, cfg.val_alpaca_rows], cfg.seed)
        usplit = split_rows(len(ultra), [cfg.eval_ultrachat_rows], cfg.seed + 1)
        d = self.out / "sources"
        d.mkdir(exist_ok=True)
        if cfg.max_train_rows:
            split[-1], usplit[-1] = split[-1][: cfg.max_train_rows], usplit[-1][: cfg.max_train_rows]
        for name, idx in zip(("eval", "val", "train"), split):
            (d / f"alpaca_{name}.json").write_text(json.dumps([alpaca[i] for i in idx]))
        for name, idx in zip(("eval", "train"), usplit):
            (d / f"ultrachat_{name}.jsonl").write_text("".join(ultra[i] + "\n" for i in idx))
        return {"alpaca_rows": {k: len(v) for k, v in zip(("eval", "val", "train"), split)},
                "ultrachat_rows": {k: len(v) for k, v in zip(("eval", "train"), usplit)},
                "alpaca_path": cfg.alpaca_path, "ultrachat_path": cfg.ultrachat_path}

    def source_list(self, split: str) -> list[dict]:
        d = self.out / "sources"
        out = [{"recipe": "alpaca", "name": "alpaca", "path": str(d / f"alpaca_{split}.json")}]
        if split != "val" and (d / f"ultrachat_{split}.jsonl").stat().st_size:
            out.append({"recipe": "ultrachat", "name": "ultrachat", "path": str(d / f"ultrachat_{split}.jsonl"),
                        "options": {"max_exchanges": self.cfg.ultrachat_exchanges}})
        return out

    # -- 2. data
    def data_sets(self) -> dict[str, dict]:
        """name -> generate config of every data set."""
        cfg, cache = self.cfg, str(self.out / "cache" / "tts")
        sets = {}
        for r in range(cfg.train_renders):
            for arm, on in (("bargein", True), ("nobargein", False)):
                sets[f"train_{arm}_r{r}"] = {"sources": self.source_list("train"), "seed": cfg.seed + 10 * r,
                                             "augment": {"barge_in": {"enabled": on}}}
        for arm, on in (("bargein", True), ("nobargein", False)):
            sets[f"val_{arm}"] = {"sources": self.source_list("val"), "seed": cfg.seed + 500, "augment": {"barge_in": {"enabled": on}}}
        sets["eval"] = {"sources": self.source_list("eval"), "seed": cfg.seed + 1000,
                        "augment": {"barge_in": {"prob": cfg.eval_barge_in_prob}, "backchannel": {"prob": cfg.eval_backchannel_prob}}}
        for name, s in sets.items():
            s.update(output_dir=str(self.out / "data" / name), shard_size=25, tts={"backend": "espeak", "cache_dir": cache})
        return sets

    def data(self) -> dict:
        res = {}
        for name, gen in self.data_sets().items():
            self.duplexgen(f"generate_{name}", "generate", self.write_yaml(f"generate_{name}", gen))
            summary = json.loads((self.out / "data" / name / "summary.json").read_text())
            res[name] = {"conversations": summary["conversations"], "hours": round(summary["hours"], 4),
                         "rejects": summary.get("rejects", 0)}
        train = {k: v for k, v in res.items() if k.startswith("train_bargein")}
        res["train_hours"] = round(sum(v["hours"] for v in train.values()), 3)
        res["train_conversations"] = sum(v["conversations"] for v in train.values())
        res["eval_conversations"] = res["eval"]["conversations"]
        return res

    # -- 3. tokenizer
    def tokenizer(self) -> dict:
        from duplexgen.core.shards import find_shard_dirs, load_shards
        from duplexgen.training.tokenizer import train_bpe_tokenizer

        texts = []
        for name in ("train_bargein_r0", "train_nobargein_r0"):
            for d in find_shard_dirs(str(self.out / "data" / name / "shards")):
                texts += [s.text for c in load_shards(d) for s in c.supervisions if s.text]
        hf = train_bpe_tokenizer(texts, self.cfg.tokenizer_vocab, str(self.out / "tokenizer"))
        return {"texts": len(texts), "vocab": len(hf), "path": str(self.out / "tokenizer")}

    # -- 4. codec
    def codec(self) -> dict:
        cfg = self.cfg
        cs = {"output_dir": str(self.out / "codec_set"), "seed": cfg.seed, "num_utterances": cfg.codec_utterances,
              "heldout_fraction": 0.05, "shard_size": 250, "max_utterance_chars": 200, "roles": ["agent", "user"],
              "sources": self.source_list("train"), "tts": {"backend": "espeak", "cache_dir": str(self.out / "cache" / "tts")}}
        self.duplexgen("codec_set", "generate-codec-set", self.write_yaml("codec_set", cs))
        self.duplexgen("train_codec", "train-codec", "codec_tiny_cpu", f"data_dir={self.out / 'codec_set'}",
                       f"output_dir={self.out / 'codec'}", f"max_steps={cfg.codec_steps}", f"seed={cfg.seed}",
                       "checkpoint_every=500", "val_every=500", "val_utterances=16", "eval_utterances=60")
        ev = json.loads((self.out / "codec" / "eval" / "eval.json").read_text())
        gate = self.duplexgen_json("codec_gate", "eval", "-", str(self.out / "data" / "eval" / "shards"), "--reference",
                                         f"reference_codec={self.out / 'codec' / 'codec.nemo'}", f"score.vad={cfg.vad}",
                                         f"cases.tasks=[{','.join(cfg.eval_tasks)}]",
                                         "--out", str(self.out / "eval" / "reference_through_codec"), "--json")
        after = ev["codecs"]["after"]
        res = {"codec": str(self.out / "codec" / "codec.nemo"), "eval": {k: ev["codecs"][k] for k in ev["codecs"]},
               "entropy_bits_per_codebook": after["code_usage"]["entropy_bits"],
               "distinct_share_per_codebook": after["code_usage"]["distinct_share"],
               "reference_through_codec_turn_taking": gate["turn_taking"]["tor"],
               "reference_through_codec_barge_in": gate["interruption"]["success_rate"],
               "reference_through_codec_events": {"turn_taking": gate["turn_taking"]["cases"],
                                                  "barge_in": gate["interruption"]["speaking_at_onset"]},
               "encoder_lookahead": after["encoder_lookahead"]}
        refusal = codec_refusal(res, cfg.codec_gate, cfg.vad, self.out / "eval" / "reference_through_codec")
        if refusal:
            (self.out / "stages" / "codec_failed.json").write_text(json.dumps(res, indent=1))
            raise RuntimeError(refusal)
        return res

    # -- 5. precompute
    def codec_overrides(self) -> list[str]:
        return [f"model.tokenizer={self.out / 'tokenizer'}", f"model.pretrained_audio_codec={self.out / 'codec' / 'codec.nemo'}"]

    def precompute(self) -> dict:
        res = {}
        for name in self.data_sets():
            if name == "eval":
                continue
            out = self.duplexgen_json(f"precompute_{name}", "precompute-codes", self.cfg.train_config,
                                      str(self.out / "data" / name / "shards"), str(self.out / "codes" / name), *self.codec_overrides(), "--cpu")
            res[name] = out["cuts"]
        return res

    # -- 6. train
    def arm_overrides(self, arm: str) -> list[str]:
        tag = "bargein" if arm == "bargein_aug" else "nobargein"
        train = [str(self.out / "codes" / f"train_{tag}_r{r}") for r in range(self.cfg.train_renders)]
        return [f"train_shards=[{','.join(train)}]", f"val_shards=[{self.out / 'codes' / f'val_{tag}'}]",
                f"output_dir={self.out / 'runs' / arm}", f"max_steps={self.cfg.train_steps}", f"seed={self.cfg.seed}",
                *self.codec_overrides(), *self.cfg.train_overrides]

    def train(self, arm: str) -> dict:
        self.duplexgen(f"train_{arm}", "train", self.cfg.train_config, *self.arm_overrides(arm))
        run = self.out / "runs" / arm
        rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
        val = [json.loads(ln) for ln in (run / "val.jsonl").read_text().splitlines() if ln.strip()]
        return {"steps": rows[-1]["step"], "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"],
                "val_first": val[0]["val_loss"] if val else None, "val_last": val[-1]["val_loss"] if val else None,
                "val_best": min(v["val_loss"] for v in val) if val else None, "export": str(run / "export")}

    # -- 7. untrained
    def untrained(self) -> dict:
        import torch

        from duplexgen.training.config import load_train_config
        from duplexgen.training.export import export_pretrained
        from duplexgen.training.model import SALMDuplex

        tcfg = load_train_config(self.cfg.train_config, self.arm_overrides("untrained"))
        torch.manual_seed(tcfg.seed)  # the trainer's initialisation (TrainState)
        model = SALMDuplex(tcfg.model)
        export_pretrained(model, self.out / "runs" / "untrained" / "export", tcfg)
        return {"export": str(self.out / "runs" / "untrained" / "export"),
                "parameters": {k: sum(p.numel() for p in getattr(model, k).parameters())
                               for k in ("llm", "perception", "embed_tokens", "lm_head", "embed_audio_tokens", "audio_head")}}

    # -- 8. eval
    def evaluate(self, arm: str) -> dict:
        shards = str(self.out / "data" / "eval" / "shards")
        common = [f"score.vad={self.cfg.vad}", f"cases.tasks=[{','.join(self.cfg.eval_tasks)}]", "--out", str(self.out / "eval" / arm), "--json"]
        if arm == "reference":
            return self.duplexgen_json("eval_reference", "eval", "-", shards, "--reference", *common)
        return self.duplexgen_json(f"eval_{arm}", "eval", str(self.out / "runs" / arm / "export"), shards,
                                   f"decoding={json.dumps(self.cfg.decoding)}", *common)

    # -- 9. report
    def report(self, results: dict) -> dict:
        from duplexgen.training.experiment_report import write_report

        return write_report(results, self.out, Path(self.cfg.report_dir) if self.cfg.report_dir else self.out / "report")

    def run(self) -> dict:
        st: dict[str, Any] = {"sources": self.stage("sources", self.sources)}
        st["data"] = self.stage("data", self.data)
        st["tokenizer"] = self.stage("tokenizer", self.tokenizer)
        st["codec"] = self.stage("codec", self.codec)
        st["precompute"] = self.stage("precompute", self.precompute)
        for arm in ("no_bargein_aug", "bargein_aug"):
            st[f"train_{arm}"] = self.stage(f"train_{arm}", lambda a=arm: self.train(a))
        st["untrained"] = self.stage("untrained", self.untrained)
        for arm in (*ARMS, "reference"):
            st[f"eval_{arm}"] = self.stage(f"eval_{arm}", lambda a=arm: self.evaluate(a))
        results = {"config": config_to_dict(self.cfg), "out": str(self.out), "stages": st,
                   "command": "duplexgen experiment bargein-ablation " + " ".join(self.argv)}
        return self.report(results)


def split_rows(n: int, sizes: list[int], seed: int) -> list[list[int]]:
    """Disjoint row index lists: ``sizes`` rows each (in order), then the rest; a seeded shuffle decides which."""
    if sum(sizes) >= n:
        raise ValueError(f"cannot hold out {sum(sizes)} of {n} rows and keep any for training")
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    out, at = [], 0
    for s in sizes:
        out.append(sorted(idx[at : at + s]))
        at += s
    out.append(sorted(idx[at:]))
    return out


# ---------------------------------------------------------------- command line
EXPERIMENTS = {"bargein-ablation": AblationConfig}


def cmd_experiment(args: argparse.Namespace) -> int:
    from duplexgen.core.config import load_config

    cfg = load_config(EXPERIMENTS[args.name], args.config, list(args.overrides))
    res = Experiment(cfg, args.out, ["--out", args.out, *args.overrides]).run()
    print(json.dumps({k: res[k] for k in ("results_json", "experiments_md") if k in res}, indent=1))
    return 0


def register(sub) -> None:
    from duplexgen.core.config import format_help_table

    p = sub.add_parser(
        "experiment", help="run a whole experiment (data, codec, training arms, evaluation, report), resumable",
        description="bargein-ablation: generate train/eval shards with and without barge-in augmentation, train the "
        "tiny codec and three arms of a small SALM-Duplex (untrained, no barge-in aug, barge-in aug), evaluate "
        "turn-taking, barge-in and false alarms, write results.json + EXPERIMENTS.md. Reruns skip finished stages.",
        epilog="config keys (key=value):\n" + format_help_table(AblationConfig), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(EXPERIMENTS), help="which experiment")
    p.add_argument("overrides", nargs="*", help="key=value overrides (see below)")
    p.add_argument("--out", required=True, help="output folder (data, models, logs, stages/; resumable)")
    p.add_argument("--config", default=None, help="optional YAML file of config keys")
    p.set_defaults(func=cmd_experiment)


__all__ = ["AblationConfig", "Experiment", "split_rows", "TreeCPU", "register"]
