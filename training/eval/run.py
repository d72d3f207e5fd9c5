"""`duplexgen eval CHECKPOINT SHARDS --out DIR`: our SALM-Duplex checkpoint on the same cases and scorer as any model.

The shards' scripted events become Full-Duplex-Bench-style case folders (``duplexgen.core.evalset``, the
same layout ``duplexgen export fdbench`` writes); the checkpoint's frame-synchronous inference
(``duplexgen.training.infer.generate``) listens to each case's input.wav and its agent audio is written,
time-aligned, as the case's output.wav; then ``duplexgen.training.eval.fdbench.score_dir`` scores the
folder exactly as it scores any other model's outputs. The model's text channel is kept per case
(``output_text.txt``) and scored against the case's reference agent text (BLEU).

``reference=True`` (no checkpoint) writes the shards' own agent stream as output.wav instead: the
ground truth, which must take every turn ~one gap after the user ends, stop every barge-in ~0.64 s after
the user starts, and never give the floor away to a pause or a backchannel.

Example::

    result = run_eval("runs/tiny/checkpoints/last", "out/eval/shards", "out/eval/model", EvalConfig())
    result["turn_taking"]["tor"], result["interruption"]["stop_latency_mean_s"]
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from duplexgen.core.config import help_field
from duplexgen.core.evalset import INPUT_SAMPLE_RATE, OUTPUT_WAV, CaseAudio, CaseConfig, CaseSpec, export_cases, write_json, write_wav
from duplexgen.core.timing import AGENT_SAMPLE_RATE
from duplexgen.training.eval.fdbench import ScoreConfig, score_dir

log = logging.getLogger(__name__)

#: The model's text channel for a case, next to its output.wav.
OUTPUT_TEXT = "output_text.txt"


@dataclass
class EvalConfig:
    """The cases (``cases.*``), the scorer (``score.*``) and the model run of ``duplexgen eval``."""

    cases: CaseConfig = field(default_factory=CaseConfig, metadata={"help": "how scripted events become cases"})
    score: ScoreConfig = field(default_factory=ScoreConfig, metadata={"help": "how output.wav is scored"})
    max_conversations: int = help_field("evaluate the cases of at most this many conversations (0 = all)", 0)
    device: str = help_field("torch device for the model (cpu, cuda, cuda:1)", "cpu")
    generate_kwargs: dict = help_field("extra keyword arguments for duplexgen.training.infer.generate", {})

    def __post_init__(self) -> None:
        if self.max_conversations < 0:
            raise ValueError("eval.max_conversations must be >= 0")


def load_generator(checkpoint_dir: str, cfg: EvalConfig) -> Callable[[np.ndarray], dict[str, Any]]:
    """A function user audio (16 kHz numpy) -> {"agent_audio": np 22,050 Hz, "text": str} from a checkpoint."""
    import torch

    from duplexgen.training import infer

    model = infer.load_model(checkpoint_dir, device=cfg.device)
    params = inspect.signature(infer.generate).parameters
    kwargs = {k: v for k, v in cfg.generate_kwargs.items() if k in params or any(p.kind == p.VAR_KEYWORD for p in params.values())}

    def run(user_16k: np.ndarray) -> dict[str, Any]:
        x = torch.from_numpy(np.ascontiguousarray(user_16k, dtype=np.float32))[None]
        with torch.no_grad():
            out = infer.generate(model, x, **kwargs)
        audio = out["agent_audio_22k"][0].detach().float().cpu().numpy()
        if out.get("agent_audio_lens") is not None:
            audio = audio[: int(out["agent_audio_lens"][0])]
        text = out.get("text", "")
        return {"agent_audio": audio.astype(np.float32), "text": text[0] if isinstance(text, (list, tuple)) else str(text)}

    return run


def time_aligned(audio: np.ndarray, duration_s: float, sample_rate: int) -> np.ndarray:
    """Pad with silence or trim to exactly ``duration_s`` (the model speaks one frame per input frame)."""
    n = int(round(duration_s * sample_rate))
    return np.pad(np.asarray(audio, np.float32), (0, max(0, n - len(audio))))[:n]


def run_eval(checkpoint_dir: Optional[str], shard_dir: str, out_dir: str, cfg: Optional[EvalConfig] = None,
             reference: bool = False) -> dict[str, Any]:
    """Export the cases of ``shard_dir`` into ``out_dir``, fill their output.wav (model or reference), score them.

    Returns the metrics also written to ``out_dir/metrics.json`` (plus ``mode``, ``checkpoint`` and ``text``)."""
    from duplexgen.training.eval.metrics import bleu

    cfg = cfg or EvalConfig()
    reference = reference or not checkpoint_dir
    generator = None if reference else load_generator(str(checkpoint_dir), cfg)
    hyps: list[str] = []
    refs: list[str] = []
    t0 = time.perf_counter()

    def run_model(spec: CaseSpec, audio: CaseAudio, folder: Path) -> None:
        g = generator(audio.input)
        write_wav(folder / OUTPUT_WAV, time_aligned(np.clip(g["agent_audio"], -1, 1), spec.labels["duration_s"], AGENT_SAMPLE_RATE),
                  AGENT_SAMPLE_RATE)
        (folder / OUTPUT_TEXT).write_text(g["text"] + "\n")
        hyps.append(g["text"])
        refs.append(" ".join(a["text"] for a in spec.labels["reference"]["agent"]))

    manifest = export_cases(shard_dir, out_dir, cfg.cases, reference_output=reference, max_conversations=cfg.max_conversations,
                            on_case=None if reference else run_model, created_by="duplexgen eval")
    if not manifest["cases"]:
        raise RuntimeError(f"no evaluation cases in {shard_dir}: {manifest['skipped'] or 'no turns, barge-ins or backchannels'}")
    generation_s = round(time.perf_counter() - t0, 2)
    result = score_dir(out_dir, cfg.score, report=False)
    result.update({"mode": "reference" if reference else "model", "checkpoint": None if reference else str(checkpoint_dir),
                   "shard_dir": str(shard_dir), "input_sample_rate": INPUT_SAMPLE_RATE, "generation_s": generation_s,
                   "text": {"bleu": bleu(hyps, refs) if hyps else None, "n": len(hyps)}})
    from duplexgen.training.eval.report import write_fdbench_report

    result["report"] = str(write_fdbench_report(result, Path(out_dir), examples=cfg.score.examples))
    write_json(Path(out_dir) / "metrics.json", result)
    return result


def format_result(result: dict[str, Any]) -> str:
    """The headline numbers of an eval run, one line per task."""
    from duplexgen.training.eval.fdbench import format_scores

    head = f"{result['mode']} evaluation" + (f" of {result['checkpoint']}" if result.get("checkpoint") else "")
    lines = [head, format_scores(result)]
    if result.get("text", {}).get("bleu") is not None:
        lines.append(f"  text BLEU (agent text channel vs reference) {result['text']['bleu']:.2f} over {result['text']['n']} cases")
    return "\n".join(lines)


__all__ = ["EvalConfig", "run_eval", "format_result", "load_generator", "time_aligned", "OUTPUT_TEXT"]
