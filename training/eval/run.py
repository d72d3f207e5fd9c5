"""`duplexgen eval`: run a trained SALM-Duplex checkpoint over an evaluation shard set and score its behaviour.

For each evaluation conversation (a duplexgen cut with scripted barge-ins, backchannels, noise and plain
multi-turn QA), the model's frame-synchronous inference (``duplexgen.training.infer.generate``) listens
to the user stream and speaks; a VAD (Silero by default, like the public metric code) on the generated
agent audio and on the user stream gives speech intervals; ``metrics`` scores turn-taking, barge-in and
false alarms against the cut's scripted events, and the agent's text channel is scored against the
reference agent turns (BLEU). Optional: ASR-BLEU/WER of the generated speech (a NeMo ASR ``.nemo``
checkpoint) and a MOS predictor (a TorchScript file) when their paths are given.

``reference=True`` scores the eval set's own agent stream instead of a model (no checkpoint): the
ground-truth behaviour, which must give ~100 % barge-in success with latency ~ ``kept`` (0.64 s),
~100 % turn-taking with latency ~ the gap (0.64 s) and no false alarms. Use it to sanity-check the
metrics and the data.

Outputs in ``out_dir``: ``metrics.json`` (config, summaries, per-conversation events), ``report.html``
with PNG timelines and latency histograms, and the generated agent audio (``audio/<cut id>.wav``).

Example::

    result = run_eval("runs/tiny/checkpoints/last", "out/eval/shards", "out/eval/report",
                      EvalConfig(vad="silero", max_conversations=50))
    result["barge_in"]["rate"], result["barge_in"]["latency"]["mean"]
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from duplexgen.core.events import CutEvents, cut_events, merge_intervals
from duplexgen.training.eval.metrics import (
    BACKCHANNEL_CONTINUE_S,
    BARGE_IN_MAX_LATENCY_S,
    TURN_MAX_LATENCY_S,
    bleu,
    score_cut,
    summarize,
    summarize_false_alarms,
    wer,
)

log = logging.getLogger(__name__)

VADS = ("silero", "energy")


@dataclass
class EvalConfig:
    """Thresholds (public defaults), VAD and optional quality models of ``duplexgen eval``."""

    turn_max_latency_s: float = field(default=TURN_MAX_LATENCY_S, metadata={"help": "turn-taking success: agent starts within this after the user ends, s"})
    turn_early_s: float = field(default=0.1, metadata={"help": "an agent onset this early before the user's end still counts as taking the turn, s"})
    barge_in_max_latency_s: float = field(default=BARGE_IN_MAX_LATENCY_S, metadata={"help": "barge-in success: agent stops within this after the user starts, s"})
    barge_in_pre_s: float = field(default=0.25, metadata={"help": "agent speech ending this shortly before an interruption still counts as interrupted, s"})
    backchannel_continue_s: float = field(default=BACKCHANNEL_CONTINUE_S, metadata={"help": "false alarm: agent silent this long after a backchannel/noise ends, s"})
    vad: str = field(default="silero", metadata={"help": "VAD for both streams: silero (the public metric's choice) | energy (synthetic audio)"})
    vad_min_silence_s: float = field(default=0.2, metadata={"help": "pauses shorter than this do not end a speech interval, s"})
    energy_floor_dbfs: float = field(default=-50.0, metadata={"help": "energy VAD: speech intervals quieter than this (RMS, dBFS) are dropped"})
    user_events: str = field(default="supervisions", metadata={"help": "event times from: supervisions (exact) | vad (snapped to the user stream's VAD)"})
    max_conversations: int = field(default=0, metadata={"help": "evaluate at most this many conversations (0 = all)"})
    timelines: int = field(default=6, metadata={"help": "conversations drawn as timelines in the report"})
    save_audio: bool = field(default=True, metadata={"help": "write the generated agent audio to out_dir/audio/<id>.wav"})
    asr_checkpoint: Optional[str] = field(default=None, metadata={"help": "NeMo ASR .nemo file for ASR-BLEU/WER of the agent speech (optional)"})
    mos_checkpoint: Optional[str] = field(default=None, metadata={"help": "TorchScript MOS predictor (16 kHz wave [1, T] -> score) for a MOS estimate (optional)"})
    device: str = field(default="cpu", metadata={"help": "torch device for the model (cpu, cuda, cuda:1)"})
    generate_kwargs: dict = field(default_factory=dict, metadata={"help": "extra keyword arguments for duplexgen.training.infer.generate"})

    def __post_init__(self) -> None:
        for name in ("turn_max_latency_s", "barge_in_max_latency_s", "backchannel_continue_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"eval.{name} must be > 0, got {getattr(self, name)}")
        for name in ("turn_early_s", "barge_in_pre_s", "vad_min_silence_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"eval.{name} must be >= 0, got {getattr(self, name)}")
        if self.vad not in VADS:
            raise ValueError(f"eval.vad must be one of {VADS}, got {self.vad!r}")
        if self.user_events not in ("supervisions", "vad"):
            raise ValueError(f"eval.user_events must be 'supervisions' or 'vad', got {self.user_events!r}")
        if self.max_conversations < 0 or self.timelines < 0:
            raise ValueError("eval.max_conversations and eval.timelines must be >= 0")
        for name in ("asr_checkpoint", "mos_checkpoint"):
            p = getattr(self, name)
            if p and not Path(p).exists():
                raise ValueError(f"eval.{name}: no such file {p}")


# ----------------------------------------------------------------------------- speech detection


def detect_speech(audio: np.ndarray, sr: int, cfg: EvalConfig) -> list[tuple[float, float]]:
    """Speech intervals of one stream with the configured VAD (``duplexgen.core.vad``)."""
    from duplexgen.core.vad import silero_intervals, speech_intervals

    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if cfg.vad == "silero":
        return merge_intervals(silero_intervals(x, sr, min_silence_ms=int(cfg.vad_min_silence_s * 1000)))
    # The energy VAD is relative to the loudest frame: drop intervals that are quiet in absolute terms
    # (a model emitting near-silence must not be heard as speaking).
    floor = 10 ** (cfg.energy_floor_dbfs / 20)
    out = []
    for s, e in speech_intervals(x, sr, min_silence_s=cfg.vad_min_silence_s):
        seg = x[int(s * sr) : int(e * sr)].astype(np.float64)
        if len(seg) and np.sqrt(np.mean(seg**2)) >= floor:
            out.append((s, e))
    return merge_intervals(out)


def snap_events(events: CutEvents, user_speech: list[tuple[float, float]], max_shift: float = 0.3) -> CutEvents:
    """Move user-side event times to the nearest user VAD boundary within ``max_shift`` (user_events=vad)."""

    def snap(t: float, edges: list[float]) -> float:
        near = [e for e in edges if abs(e - t) <= max_shift]
        return min(near, key=lambda e: abs(e - t)) if near else t

    ends = [e for _, e in user_speech]
    starts = [s for s, _ in user_speech]
    events.user_turn_ends = [snap(t, ends) for t in events.user_turn_ends]
    events.interruptions = [snap(t, starts) for t in events.interruptions]
    events.backchannels = [(snap(s, starts), snap(e, ends)) for s, e in events.backchannels]
    return events


# ----------------------------------------------------------------------------- agents: model or reference


def load_generator(checkpoint_dir: str, cfg: EvalConfig) -> Callable[[np.ndarray], dict[str, Any]]:
    """A function user audio (16 kHz numpy) -> {"agent_audio": np 22,050 Hz, "text": str, ...} from a checkpoint."""
    import torch

    try:
        from duplexgen.training import infer
    except ModuleNotFoundError as e:  # pragma: no cover - the trainer ships it
        raise RuntimeError("duplexgen.training.infer is missing: the trainer's inference API is needed for model evaluation") from e
    model = infer.load_model(checkpoint_dir)
    if hasattr(model, "to"):
        model = model.to(cfg.device)
    if hasattr(model, "eval"):
        model.eval()
    params = inspect.signature(infer.generate).parameters
    kwargs = {k: v for k, v in cfg.generate_kwargs.items() if k in params or any(p.kind == p.VAR_KEYWORD for p in params.values())}

    def run(user_16k: np.ndarray) -> dict[str, Any]:
        x = torch.from_numpy(np.ascontiguousarray(user_16k, dtype=np.float32))[None].to(cfg.device)
        with torch.no_grad():
            out = infer.generate(model, x, **kwargs)
        audio = out["agent_audio_22k"]
        audio = audio.detach().float().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio, dtype=np.float32)
        audio = audio.reshape(audio.shape[0], -1)[0] if audio.ndim > 1 else audio
        if "agent_audio_lens" in out and out["agent_audio_lens"] is not None:
            audio = audio[: int(out["agent_audio_lens"][0])]
        text = out.get("text", "")
        text = text[0] if isinstance(text, (list, tuple)) else str(text)
        return {"agent_audio": audio.astype(np.float32), "text": text}

    return run


def iter_eval_cuts(shard_dir: Path, limit: int = 0) -> Iterator[Any]:
    from duplexgen.core.shards import find_shard_dirs, load_shards

    dirs = find_shard_dirs(shard_dir)
    if not dirs:
        raise FileNotFoundError(f"no Lhotse Shar shards (cuts.NNNNNN.jsonl.gz) under {shard_dir}")
    n = 0
    for d in dirs:
        for cut in load_shards(d):
            if limit and n >= limit:
                return
            n += 1
            yield cut


# ----------------------------------------------------------------------------- optional quality models


def transcribe(asr_checkpoint: str, audios_16k: list[np.ndarray]) -> list[str]:
    """Transcripts of 16 kHz audio with a NeMo ASR checkpoint (.nemo)."""
    from nemo.collections.asr.models import ASRModel

    model = ASRModel.restore_from(asr_checkpoint, map_location="cpu").eval()
    hyps = model.transcribe([a.astype(np.float32) for a in audios_16k], batch_size=4, verbose=False)
    hyps = hyps[0] if isinstance(hyps, tuple) else hyps
    return [h.text if hasattr(h, "text") else str(h) for h in hyps]


def mos_scores(mos_checkpoint: str, audios_16k: list[np.ndarray]) -> list[float]:
    """One score per audio from a TorchScript MOS predictor called as ``model(wave[1, T])``."""
    import torch

    model = torch.jit.load(mos_checkpoint, map_location="cpu").eval()
    out = []
    with torch.no_grad():
        for a in audios_16k:
            if len(a) == 0:
                continue
            out.append(float(torch.as_tensor(model(torch.from_numpy(a.astype(np.float32))[None])).reshape(-1)[0]))
    return out


def speech_only(audio: np.ndarray, sr: int, intervals: list[tuple[float, float]]) -> np.ndarray:
    """The samples inside the intervals, concatenated (what ASR and MOS should hear)."""
    parts = [audio[int(s * sr) : int(e * sr)] for s, e in intervals]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    import soxr

    return audio if sr == 16000 else soxr.resample(audio.astype(np.float32), sr, 16000).astype(np.float32)


# ----------------------------------------------------------------------------- the run


def run_eval(
    checkpoint_dir: Optional[str],
    shard_dir: str,
    out_dir: str,
    cfg: Optional[EvalConfig] = None,
    reference: bool = False,
) -> dict[str, Any]:
    """Evaluate a checkpoint (or, with ``reference=True`` / no checkpoint, the data's own agent stream).

    Returns the metrics dict also written to ``out_dir/metrics.json``; writes ``report.html`` + PNGs."""
    import soundfile as sf

    from duplexgen.training.eval.report import write_report

    cfg = cfg or EvalConfig()
    reference = reference or not checkpoint_dir
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator = None if reference else load_generator(str(checkpoint_dir), cfg)
    t0 = time.perf_counter()
    convs: list[dict[str, Any]] = []
    timelines: list[dict[str, Any]] = []
    hyps, refs, agent16 = [], [], []
    for cut in iter_eval_cuts(shard_dir, cfg.max_conversations):
        user = cut.load_audio()[0].astype(np.float32)
        sr_u = int(cut.recording.sampling_rate)
        if reference:
            agent, sr_a, text = cut.load_target_audio()[0].astype(np.float32), int(cut.custom["target_audio"].sampling_rate), None
        else:
            g = generator(user if sr_u == 16000 else to_16k(user, sr_u))
            agent, sr_a, text = g["agent_audio"], 22050, g["text"]
        speech_u = detect_speech(user, sr_u, cfg)
        speech_a = detect_speech(agent, sr_a, cfg)
        events = cut_events(cut)
        if cfg.user_events == "vad":
            events = snap_events(events, speech_u)
        scores = score_cut(events, speech_a, turn_max_latency=cfg.turn_max_latency_s, turn_early_s=cfg.turn_early_s,
                           barge_in_max_latency=cfg.barge_in_max_latency_s, barge_in_pre_s=cfg.barge_in_pre_s,
                           continue_s=cfg.backchannel_continue_s, min_pause_s=cfg.vad_min_silence_s)
        conv = {"id": cut.id, "duration": round(cut.duration, 3), "agent_speech_s": round(sum(e - s for s, e in speech_a), 3),
                "reference_turn_latencies": events.reference_turn_latencies, "reference_kept": events.reference_kept, **scores}
        if text is not None:
            conv["text"] = text
            hyps.append(text)
            refs.append(events.agent_text)
        conv["reference_text"] = events.agent_text
        convs.append(conv)
        if cfg.save_audio and not reference:
            (out / "audio").mkdir(exist_ok=True)
            sf.write(str(out / "audio" / f"{cut.id}.wav"), np.clip(agent, -1, 1), sr_a)
        if len(timelines) < cfg.timelines:
            timelines.append({"id": cut.id, "user": user, "sr_u": sr_u, "agent": agent, "sr_a": sr_a,
                              "speech_u": speech_u, "speech_a": speech_a, "events": events, "scores": scores})
        if cfg.asr_checkpoint or cfg.mos_checkpoint:
            agent16.append(to_16k(speech_only(agent, sr_a, speech_a), sr_a))
    if not convs:
        raise RuntimeError(f"no conversations to evaluate in {shard_dir}")

    tt = [r for c in convs for r in c["turn_taking"]]
    bi = [r for c in convs for r in c["barge_in"]]
    fa = [r for c in convs for r in c["false_alarm"]]
    result: dict[str, Any] = {
        "mode": "reference" if reference else "model",
        "checkpoint": None if reference else str(checkpoint_dir),
        "shard_dir": str(shard_dir),
        "config": asdict(cfg),
        "conversations": len(convs),
        "seconds": round(sum(c["duration"] for c in convs), 3),
        "turn_taking": summarize(tt),
        "barge_in": summarize(bi),
        "false_alarm": summarize_false_alarms(fa),
        "false_alarm_by_kind": {k: summarize_false_alarms([r for r in fa if r.get("kind") == k]) for k in ("backchannel", "noise")},
        "text": {"bleu": bleu(hyps, refs) if hyps else None, "n": len(hyps)},
    }
    if cfg.asr_checkpoint:
        asr = transcribe(cfg.asr_checkpoint, agent16)
        all_refs = [c["reference_text"] for c in convs]
        result["asr"] = {"bleu": bleu(asr, all_refs), "wer": wer(asr, all_refs), "checkpoint": cfg.asr_checkpoint}
        for c, h in zip(convs, asr):
            c["asr_text"] = h
    if cfg.mos_checkpoint:
        scores_mos = mos_scores(cfg.mos_checkpoint, agent16)
        result["mos"] = {"mean": round(float(np.mean(scores_mos)), 4) if scores_mos else None, "n": len(scores_mos),
                         "checkpoint": cfg.mos_checkpoint}
    result["elapsed_s"] = round(time.perf_counter() - t0, 2)
    result["per_conversation"] = convs
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    result["report"] = str(write_report(result, timelines, out))
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    return result


def format_result(result: dict[str, Any]) -> str:
    """The headline numbers, one line each."""

    def lat(s: dict) -> str:
        L = s["latency"]
        return "" if L["mean"] is None else f", latency mean {L['mean']:.3f}s median {L['median']:.3f}s p90 {L['p90']:.3f}s"

    def pct(x: Optional[float]) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    tt, bi, fa = result["turn_taking"], result["barge_in"], result["false_alarm"]
    lines = [
        f"{result['mode']} evaluation of {result['conversations']} conversations ({result['seconds']:.1f}s)",
        f"  turn-taking success {pct(tt['rate'])} ({tt['count']}/{tt['scored']}){lat(tt)}",
        f"  barge-in success    {pct(bi['rate'])} ({bi['count']}/{bi['scored']}, {bi['events'] - bi['scored']} not scored){lat(bi)}",
        f"  false alarms        {fa['false_alarms']}/{fa['scored']} ({pct(fa['rate'])})",
    ]
    if result["text"]["bleu"] is not None:
        lines.append(f"  text BLEU           {result['text']['bleu']:.2f}")
    if "asr" in result:
        lines.append(f"  ASR-BLEU {result['asr']['bleu']}, ASR-WER {result['asr']['wer']}")
    if "mos" in result:
        lines.append(f"  MOS (predicted)     {result['mos']['mean']}")
    if result.get("report"):
        lines.append(f"  report: {result['report']}")
    return "\n".join(lines)


__all__ = ["EvalConfig", "run_eval", "format_result", "detect_speech", "load_generator", "snap_events"]
