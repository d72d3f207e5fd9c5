"""`duplexgen eval CHECKPOINT SHARDS --out DIR`: our SALM-Duplex checkpoint on the same cases and scorer as any model.

The shards' scripted events become Full-Duplex-Bench-style case folders (``duplexgen.core.evalset``, the
same layout ``duplexgen export fdbench`` writes); the checkpoint's frame-synchronous inference
(``duplexgen.training.infer.generate``) listens to each case's input.wav and its agent audio is written,
time-aligned, as the case's output.wav; then ``duplexgen.training.eval.fdbench.score_dir`` scores the
folder exactly as it scores any other model's outputs. The model's text channel is kept per case
(``output_text.txt``) and scored against the case's reference agent text (BLEU).

The same cases are scored a second time with the agent's activity read from its **text channel** instead of
VAD on its audio: the frames from each BOS token to the next EOS token it generated (``output_turns.json``),
through the same per-case functions (``fdbench.score_case``): ``result["text_channel"]`` next to the VAD
scores. It is the model's own turn decision, independent of how well its codec speaks. For the reference,
the text channel is the one NeMo's dataset builds from the reference agent turns (BOS at round(start/80 ms),
EOS at round(end/80 ms)). ``decoding`` picks the model's decoding (``DecodeConfig``: NeMo's greedy by
default, or thresholds on BOS/EOS); ``reference_codec`` passes the reference output through a codec first
(can speech survive it?).

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
#: The agent's turns read from the model's text channel (BOS frame .. EOS frame, seconds), next to its output.wav.
OUTPUT_TURNS = "output_turns.json"


@dataclass
class EvalConfig:
    """The cases (``cases.*``), the scorer (``score.*``) and the model run of ``duplexgen eval``."""

    cases: CaseConfig = field(default_factory=CaseConfig, metadata={"help": "how scripted events become cases"})
    score: ScoreConfig = field(default_factory=ScoreConfig, metadata={"help": "how output.wav is scored"})
    max_conversations: int = help_field("evaluate the cases of at most this many conversations (0 = all)", 0)
    batch_cases: int = help_field("cases run through the model together (similar lengths, right-padded; 1 = one at a "
                                  "time). Greedy and threshold decoding give each case the same turns either way; "
                                  "sampled codes (audio_temperature > 0) draw per batch, reproducible for one batch_cases", 16)
    device: str = help_field("torch device for the model (cpu, cuda, cuda:1)", "cpu")
    generate_kwargs: dict = help_field("extra keyword arguments for duplexgen.training.infer.generate", {})
    decoding: dict = help_field("DecodeConfig fields: bos_threshold, eos_threshold, threshold_mode (frame|cumulative), "
                                "text_temperature, audio_temperature, audio_top_k, seed ({} = NeMo's greedy decoding)", {})
    reference_codec: Optional[str] = help_field("with --reference: pass the reference output through this codec .nemo "
                                                "(encode + decode) before scoring", None)

    def __post_init__(self) -> None:
        if self.max_conversations < 0:
            raise ValueError("eval.max_conversations must be >= 0")
        if self.batch_cases < 1:
            raise ValueError(f"eval.batch_cases must be >= 1, got {self.batch_cases}")
        if self.decoding:
            from duplexgen.training.model import DecodeConfig

            DecodeConfig(**self.decoding)  # unknown keys or bad values fail here, naming the field
        if self.reference_codec and not Path(self.reference_codec).exists():
            raise ValueError(f"eval.reference_codec: no such file {self.reference_codec}")


def load_generator(checkpoint_dir: str, cfg: EvalConfig) -> Callable[[list[np.ndarray]], list[dict[str, Any]]]:
    """A function [user audio (16 kHz numpy), ...] -> [{"agent_audio": np 22,050 Hz, "text": str, "turns": [[s, e], ...]}, ...]
    from a checkpoint: one right-padded batch through the frame-synchronous inference, each output cut to its own
    length (the backbone is causal and the encoder takes the lengths: a case's turns do not depend on its batch
    mates, ``test_batched_cases_get_the_turns_and_text_of_one_at_a_time``)."""
    import torch

    from duplexgen.training import infer

    model = infer.load_model(checkpoint_dir, device=cfg.device)
    params = inspect.signature(infer.generate).parameters
    kwargs = {k: v for k, v in cfg.generate_kwargs.items() if k in params or any(p.kind == p.VAR_KEYWORD for p in params.values())}
    if cfg.decoding:
        kwargs["decoding"] = dict(cfg.decoding)

    def run(users_16k: list[np.ndarray]) -> list[dict[str, Any]]:
        lens = torch.tensor([len(u) for u in users_16k])
        x = torch.zeros(len(users_16k), int(lens.max()), dtype=torch.float32)
        for i, u in enumerate(users_16k):
            x[i, : len(u)] = torch.from_numpy(np.asarray(u, dtype=np.float32))
        with torch.no_grad():
            out = infer.generate(model, x, lens, **kwargs)
        texts, turns = out.get("text", [""] * len(users_16k)), out.get("agent_intervals")
        res = []
        for i in range(len(users_16k)):
            audio = out["agent_audio_22k"][i].detach().float().cpu().numpy()
            if out.get("agent_audio_lens") is not None:
                audio = audio[: int(out["agent_audio_lens"][i])]
            res.append({"agent_audio": audio.astype(np.float32), "text": str(texts[i]),
                        "turns": [list(t) for t in turns[i]] if turns is not None else None})
        return res

    return run


def reference_turns(labels: dict[str, Any]) -> list[list[float]]:
    """The reference agent's turns as its text channel marks them (NeMo's rule): BOS frame round(start / 80 ms)
    to EOS frame round(end / 80 ms), in case seconds."""
    from duplexgen.core.timing import FRAME_S, frame_of

    return [[round(frame_of(a["start"]) * FRAME_S, 4), round(frame_of(a["end"]) * FRAME_S, 4)]
            for a in labels["reference"]["agent"]]


def score_text_channel(out_dir: Path, turns: dict[str, list], cfg: EvalConfig) -> dict[str, Any]:
    """Every case scored with the agent's activity = its text-channel turns (``turns``: case name -> intervals),
    through the same per-case functions as the VAD scores; the task summaries plus the per-case results."""
    from duplexgen.core.evalset import list_case_dirs, read_labels
    from duplexgen.training.eval.fdbench import score_case, summarize

    per_case = []
    for folder in list_case_dirs(out_dir):
        name = f"{folder.parent.name}/{folder.name}"
        if name not in turns:
            continue
        labels = read_labels(folder)
        intervals = [tuple(t) for t in turns[name]]
        per_case.append({"case": name, "task": labels["task"], "turns": turns[name],
                         "result": score_case(labels, intervals, cfg.score)})
    return {**summarize(per_case), "cases": len(per_case), "per_case": per_case}


def through_codec(out_dir: Path, codec_path: str) -> int:
    """Replace every case's output.wav by itself encoded and decoded by the codec (resampled to its rate and back)."""
    import soundfile as sf
    import torch
    from nemo.collections.tts.models import AudioCodecModel

    from duplexgen.core.audio import resample
    from duplexgen.core.evalset import list_case_dirs

    codec = AudioCodecModel.restore_from(codec_path, map_location="cpu").float().eval()
    rate, n = int(codec.sample_rate), 0
    for folder in list_case_dirs(out_dir):
        path = folder / OUTPUT_WAV
        audio, sr = sf.read(str(path), dtype="float32", always_2d=False)
        x = resample(audio, sr, rate)
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(x))[None]
            codes, codes_len = codec.encode(audio=t, audio_len=torch.tensor([t.shape[1]]))
            y, y_len = codec.decode(tokens=codes, tokens_len=codes_len)
        y = resample(y[0, : int(y_len[0])].numpy(), rate, sr)
        write_wav(path, time_aligned(y, len(audio) / sr, sr), sr)
        n += 1
    return n


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
    turns: dict[str, list] = {}
    t0 = time.perf_counter()

    pending: list[tuple[CaseSpec, CaseAudio, Path]] = []

    def write_output(spec: CaseSpec, folder: Path, g: dict[str, Any]) -> None:
        write_wav(folder / OUTPUT_WAV, time_aligned(np.clip(g["agent_audio"], -1, 1), spec.labels["duration_s"], AGENT_SAMPLE_RATE),
                  AGENT_SAMPLE_RATE)
        (folder / OUTPUT_TEXT).write_text(g["text"] + "\n")
        if g.get("turns") is not None:
            write_json(folder / OUTPUT_TURNS, g["turns"])
            turns[f"{folder.parent.name}/{folder.name}"] = g["turns"]
        hyps.append(g["text"])
        refs.append(" ".join(a["text"] for a in spec.labels["reference"]["agent"]))

    def run_pending() -> None:
        # Similar lengths together: a batch costs its longest case's frames.
        pending.sort(key=lambda p: len(p[1].input))
        for i in range(0, len(pending), cfg.batch_cases):
            group = pending[i : i + cfg.batch_cases]
            for (spec, _, folder), g in zip(group, generator([a.input for _, a, _ in group])):
                write_output(spec, folder, g)
            log.info("eval: %d / %d cases generated", min(i + cfg.batch_cases, len(pending)), len(pending))
        pending.clear()

    def run_model(spec: CaseSpec, audio: CaseAudio, folder: Path) -> None:
        pending.append((spec, audio, folder))
        if len(pending) >= 8 * cfg.batch_cases:  # bounded memory; lengths sorted within each window
            run_pending()

    manifest = export_cases(shard_dir, out_dir, cfg.cases, reference_output=reference, max_conversations=cfg.max_conversations,
                            on_case=None if reference else run_model, created_by="duplexgen eval")
    if pending:
        run_pending()
    if not manifest["cases"]:
        raise RuntimeError(f"no evaluation cases in {shard_dir}: {manifest['skipped'] or 'no turns, barge-ins or backchannels'}")
    generation_s = round(time.perf_counter() - t0, 2)
    if reference:
        from duplexgen.core.evalset import list_case_dirs, read_labels

        turns = {f"{f.parent.name}/{f.name}": reference_turns(read_labels(f)) for f in list_case_dirs(Path(out_dir))}
        if cfg.reference_codec:
            through_codec(Path(out_dir), cfg.reference_codec)
    result = score_dir(out_dir, cfg.score, report=False)
    result.update({"mode": "reference" if reference else "model", "checkpoint": None if reference else str(checkpoint_dir),
                   "shard_dir": str(shard_dir), "input_sample_rate": INPUT_SAMPLE_RATE, "generation_s": generation_s,
                   "text": {"bleu": bleu(hyps, refs) if hyps else None, "n": len(hyps)},
                   "agent_activity": "VAD on output.wav (top level); text-channel BOS..EOS turns under text_channel"})
    if turns:
        result["text_channel"] = score_text_channel(Path(out_dir), turns, cfg)
    if reference and cfg.reference_codec:
        result["reference_codec"] = cfg.reference_codec
    from duplexgen.training.eval.report import write_fdbench_report

    result["report"] = str(write_fdbench_report(result, Path(out_dir), examples=cfg.score.examples))
    write_json(Path(out_dir) / "metrics.json", result)
    return result


def format_result(result: dict[str, Any]) -> str:
    """The headline numbers of an eval run, one line per task."""
    from duplexgen.training.eval.fdbench import format_scores

    head = f"{result['mode']} evaluation" + (f" of {result['checkpoint']}" if result.get("checkpoint") else "")
    if result.get("reference_codec"):
        head += f" (reference output through {result['reference_codec']})"
    lines = [head, "agent activity from VAD on output.wav:", format_scores(result)]
    if "text_channel" in result:
        tc = result["text_channel"]
        tt, ui, bc = tc["turn_taking"], tc["interruption"], tc["backchannel"]

        def f(x):
            return "n/a" if x is None else f"{x:.3f}"

        lines += ["agent activity from the text channel (BOS..EOS turns):",
                  f"  turn-taking       TOR {f(tt['tor'])} (n={tt['cases']}), latency mean {f(tt['latency_mean_s'])} s",
                  f"  interruption      success {f(ui['success_rate'])} (n={ui['cases']}, speaking at onset {ui['speaking_at_onset']}), "
                  f"stop latency {f(ui['stop_latency_mean_s'])} s, TOR {f(ui['tor'])}",
                  f"  backchannel       TOR {f(bc['tor'])} (n={bc['cases']}, {bc['scored']} scored, lower is better)"]
    if result.get("text", {}).get("bleu") is not None:
        lines.append(f"  text BLEU (agent text channel vs reference) {result['text']['bleu']:.2f} over {result['text']['n']} cases")
    return "\n".join(lines)


__all__ = ["EvalConfig", "run_eval", "format_result", "load_generator", "time_aligned", "OUTPUT_TEXT", "OUTPUT_TURNS",
           "reference_turns", "score_text_channel", "through_codec"]
