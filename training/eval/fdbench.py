"""`duplexgen score OUT_DIR`: Full-Duplex-Bench-style scoring of any model's time-aligned output.wav.

Every case folder (``duplexgen.core.evalset``) that holds an ``output.wav`` is scored from the audio: a VAD
(Silero by default, as FDB v1.5) gives the model's speech; segments joined across pauses shorter than
``utterance_gap_s`` are the model's utterances; an utterance shorter than 1 s (and of fewer than two
words, when an ASR is configured) is a backchannel, any other is a take-over (FDB v1 Sec. III).
Definitions reimplemented from the papers' text (Full-Duplex-Bench v1, arXiv 2503.04721v3; v1.5, arXiv
2507.23159); no code of the benchmark's repository (non-commercial licence) was used.

- **turn_taking** (v1 Sec. III-B.3): TO = 1 when a take-over starts after the user's turn end
  (``early_s`` of VAD slack); latency = its onset - the turn end, over TO = 1 cases only.
- **pause_handling** (v1 Sec. III-B.1): TO = 1 when take-over speech overlaps the user's turn from the
  pause start to the turn end (the user still holds the floor). Lower is better.
- **interruption** (v1 Sec. III-B.4; v1.5 Eq. 1-2): stop latency = end of the model's utterance at the
  user's onset - onset (scored when the model was speaking there, within ``pre_s``); success = stopped
  within ``stop_max_s`` (SALM-Duplex's barge-in success); TO = 1 when a new take-over (not a backchannel)
  starts after the onset and after the model stopped; latency (v1 "latency after interruption", = v1.5
  response latency) = that onset - the end of the interruption.
- **backchannel** / **background_noise** (v1.5 user backchannel / background): the user's backchannel or
  a noise burst over the model's speech must not make it give up the floor: TO = 1 when the utterance
  under the event's onset is over before the event end + ``continue_s``. Not scored when the model was
  silent at the onset or the reference answer itself ends by then. Stop and response latency (v1.5) of the
  ones that stopped.
- **model_backchannel** (v1 Sec. III-B.2): the model's own backchannels while the user holds the floor
  (turn-taking and pause cases): frequency in events per second of user turn; JSD (200 ms windows,
  log2, uniform for a silent model) where the labels carry ``backchannel_reference``.

A case folder with a missing or unreadable file, a wrong rate, a stereo output or an output.wav whose
length differs from input.wav by more than ``length_tol_s`` is listed in ``bad_cases`` with the reason
and skipped.

Example::

    result = score_dir("out/fdb", ScoreConfig(vad="silero"))
    result["turn_taking"]["tor"], result["interruption"]["stop_latency_mean_s"]
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from duplexgen.core.config import help_field
from duplexgen.core.evalset import (
    BACKCHANNEL_MAX_S,
    INPUT_WAV,
    METRICS_JSON,
    OUTPUT_WAV,
    SCHEMA,
    TASKS,
    list_case_dirs,
    read_labels,
    write_json,
)
from duplexgen.core.events import Interval, merge_intervals
from duplexgen.core.timing import FRAME_S

log = logging.getLogger(__name__)

#: FDB v1 Sec. III: a backchannel has fewer than two words.
BACKCHANNEL_MAX_WORDS = 1
#: FDB v1 Sec. III-C: backchannel timing distributions over 200 ms windows.
JSD_WINDOW_S = 0.2
VADS = ("silero", "energy")


@dataclass
class ScoreConfig:
    """How output.wav is turned into speech and scored (defaults: the papers' and SALM-Duplex's numbers)."""

    vad: str = help_field("speech detector for output.wav: silero (FDB v1.5's choice) | energy (synthetic audio)", "silero")
    min_silence_s: float = help_field("VAD: pauses shorter than this do not split a speech segment, s", 0.2)
    utterance_gap_s: float = help_field("segments closer than this are one utterance (espeak's in-sentence pauses reach 0.38 s), s", 0.5)
    energy_floor_dbfs: float = help_field("energy VAD: segments quieter than this (RMS) are not speech, dBFS", -50.0)
    early_s: float = help_field("a model onset this early before an event's end still counts as after it (VAD slack), s", 0.1)
    stop_max_s: float = help_field("interruption success: the model stops within this after the user's onset, s", 1.5)
    continue_s: float = help_field("backchannel/noise: a model still talking this long after the event kept the floor, s", 1.0)
    pre_s: float = help_field("model speech ending this shortly before an event's onset still counts as speaking at it, s", 0.25)
    length_tol_s: float = help_field("output.wav may differ from input.wav's length by this much (one model frame), s", FRAME_S)
    asr: str = help_field("ASR of the model's speech: none | pocketsphinx | path to a NeMo .nemo checkpoint "
                          "(word counts for the backchannel rule, transcript of interruption responses)", "none")
    examples: int = help_field("playable example cases per task in the report", 2)

    def __post_init__(self) -> None:
        if self.vad not in VADS:
            raise ValueError(f"score.vad must be one of {VADS}, got {self.vad!r}")
        for name in ("min_silence_s", "utterance_gap_s", "early_s", "pre_s", "length_tol_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"score.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("stop_max_s", "continue_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"score.{name} must be > 0, got {getattr(self, name)}")
        if self.asr not in ("none", "pocketsphinx") and not Path(self.asr).exists():
            raise ValueError(f"score.asr must be none, pocketsphinx or an existing .nemo file, got {self.asr!r}")
        if self.examples < 0:
            raise ValueError("score.examples must be >= 0")


# ----------------------------------------------------------------------------- utterances


def utterances(speech: Sequence[Interval], gap_s: float) -> list[Interval]:
    """VAD segments joined across pauses shorter than ``gap_s``: the model's utterances."""
    return merge_intervals(speech, max_gap=gap_s)


def is_backchannel(u: Interval, words: Optional[int] = None) -> bool:
    """FDB v1 Sec. III: shorter than 1 s and fewer than two words (the word rule only when an ASR counted them)."""
    short = (u[1] - u[0]) < BACKCHANNEL_MAX_S
    return short if words is None else (short and words <= BACKCHANNEL_MAX_WORDS)


def takeovers(utts: Sequence[Interval], words: Optional[dict[Interval, int]] = None) -> list[Interval]:
    """The utterances that are not backchannels (FDB v1's TO = 1 speech)."""
    words = words or {}
    return [u for u in utts if not is_backchannel(u, words.get(u))]


def active_at(utts: Sequence[Interval], t: float, pre_s: float) -> Optional[Interval]:
    """The utterance covering ``t``; else one starting within ``pre_s`` after it; else one ending within ``pre_s`` before."""
    for s, e in utts:
        if s <= t <= e:
            return (s, e)
    after = [(s, e) for s, e in utts if t < s <= t + pre_s]
    if after:
        return after[0]
    before = [(s, e) for s, e in utts if t - pre_s <= e < t]
    return before[-1] if before else None


def _first_onset(utts: Sequence[Interval], lo: float, hi: float) -> Optional[float]:
    on = [s for s, _ in utts if lo <= s <= hi]
    return min(on) if on else None


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), 4)


# ----------------------------------------------------------------------------- per-task metrics (pure)


def turn_taking(turn_end: float, case_end: float, utts: Sequence[Interval], words=None, early_s: float = 0.1) -> dict[str, Any]:
    """FDB v1 Sec. III-B.3: did a take-over start after the user's end, and how long after (TO = 1 only)?"""
    onset = _first_onset(takeovers(utts, words), turn_end - early_s, case_end)
    if onset is not None:
        return {"to": 1, "latency": _r(onset - turn_end), "onset": _r(onset), "reason": "took_turn"}
    talking = any(s < turn_end - early_s < e for s, e in utts)
    return {"to": 0, "latency": None, "onset": None, "reason": "talking_over_end" if talking else "no_takeover"}


def pause_handling(pause: Interval, turn_end: float, utts: Sequence[Interval], words=None, early_s: float = 0.1) -> dict[str, Any]:
    """FDB v1 Sec. III-B.1: TO = 1 when the model takes the floor while the user still holds it (pause start .. turn end)."""
    lo, hi = pause[0], turn_end - early_s
    hits = [u for u in takeovers(utts, words) if u[0] < hi and u[1] > lo]
    if not hits:
        return {"to": 0, "onset": None, "reason": "held_back"}
    s = hits[0][0]
    reason = "talking_already" if s < lo else ("spoke_in_pause" if s <= pause[1] else "spoke_over_user")
    return {"to": 1, "onset": _r(s), "reason": reason}


def interruption(onset: float, end: float, case_end: float, utts: Sequence[Interval], words=None,
                 stop_max_s: float = 1.5, pre_s: float = 0.25) -> dict[str, Any]:
    """FDB v1 Sec. III-B.4 (TO, latency after interruption) and v1.5 Eq. 1 (stop latency), Eq. 2 (response latency).

    ``success`` is SALM-Duplex's barge-in success: the model stopped within ``stop_max_s`` of the user's onset
    (None when it was not speaking there). TO is FDB's: a new take-over (not a backchannel) after it stopped."""
    cur = active_at(utts, onset, pre_s)
    stop = None if cur is None else cur[1]
    stop_latency = None if stop is None else max(0.0, stop - onset)
    lo = onset if stop is None else max(onset, stop)
    response = _first_onset([u for u in takeovers(utts, words) if u != cur], lo + 1e-9, case_end)
    to = int(response is not None)
    success = None if cur is None else bool(stop_latency <= stop_max_s)
    if cur is None:
        reason = "model_silent_at_onset"
    elif not success:
        reason = "kept_talking"
    else:
        reason = "yielded_and_answered" if to else "yielded_no_answer"
    return {"to": to, "speaking_at_onset": cur is not None, "stop": _r(stop), "stop_latency": _r(stop_latency),
            "success": success, "response_onset": _r(response),
            "latency": None if response is None else _r(response - end), "reason": reason}


def overlap_event(event: Interval, reference_end: Optional[float], utts: Sequence[Interval],
                  continue_s: float = 1.0, pre_s: float = 0.25) -> dict[str, Any]:
    """A user backchannel or noise burst over the model's speech (FDB v1.5): did the model give up the floor?"""
    b0, b1 = event
    check = b1 + continue_s
    if reference_end is not None and reference_end < check:
        return {"to": None, "reason": "reference_ends_first", "stop_latency": None, "latency": None}
    cur = active_at(utts, b0, pre_s)
    if cur is None:
        return {"to": None, "reason": "model_silent_at_onset", "stop_latency": None, "latency": None}
    if cur[1] >= check:
        return {"to": 0, "reason": "kept_talking", "stop_latency": None, "latency": None}
    nxt = _first_onset(utts, cur[1] + 1e-9, math.inf)
    return {"to": 1, "reason": "stopped", "stop_latency": _r(max(0.0, cur[1] - b0)),
            "latency": None if nxt is None else _r(nxt - b1)}


def window_counts(times: Sequence[float], duration: float, window_s: float = JSD_WINDOW_S) -> np.ndarray:
    """Events per ``window_s`` window over ``duration`` seconds."""
    n = max(1, int(math.ceil(duration / window_s - 1e-9)))
    c = np.zeros(n)
    for t in times:
        c[min(n - 1, max(0, int(t // window_s)))] += 1
    return c


def distribution(counts: np.ndarray) -> np.ndarray:
    """Counts normalised to sum 1; no events -> uniform (FDB v1 Sec. III-B.2: a silent model is a random baseline)."""
    c = np.asarray(counts, float)
    return c / c.sum() if c.sum() > 0 else np.full(len(c), 1.0 / len(c))


def jsd(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon divergence in bits: 0 = the same distribution, 1 = disjoint (FDB v1 Sec. III-B.2)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / b[nz])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def model_backchannels(user_turns: Sequence[Interval], utts: Sequence[Interval], words=None) -> list[float]:
    """Onsets of the model's backchannels while the user speaks (v1 Sec. III-B.2 counts them)."""
    words = words or {}
    return [u[0] for u in utts if is_backchannel(u, words.get(u)) and any(s <= u[0] <= e for s, e in user_turns)]


# ----------------------------------------------------------------------------- one case


def score_case(labels: dict[str, Any], speech: Sequence[Interval], cfg: ScoreConfig,
               words: Optional[dict[Interval, int]] = None) -> dict[str, Any]:
    """The task's metric for one case, given the model's VAD segments (seconds on the case's timeline)."""
    utts = utterances(speech, cfg.utterance_gap_s)
    task, ev, ref = labels["task"], labels["event"], labels["reference"]
    dur = float(labels["duration_s"])
    if task == "smooth_turn_taking":
        r = turn_taking(labels["turn_end"], dur, utts, words, cfg.early_s)
    elif task == "pause_handling":
        r = pause_handling((ev["start"], ev["end"]), labels["turn_end"], utts, words, cfg.early_s)
    elif task == "user_interruption":
        r = interruption(ev["start"], ev["end"], dur, utts, words, cfg.stop_max_s, cfg.pre_s)
    else:
        r = overlap_event((ev["start"], ev["end"]), ref.get("stop"), utts, cfg.continue_s, cfg.pre_s)
    r["utterances"] = [[_r(s), _r(e)] for s, e in utts]
    if task in ("smooth_turn_taking", "pause_handling"):
        turns = [(u["start"], u["end"]) for u in labels["user_turns"]]
        if task == "pause_handling":  # the user holds the floor through the pause too
            turns = [(min(s for s, _ in turns), labels["turn_end"])] if turns else []
        bcs = model_backchannels(turns, utts, words)
        r["model_backchannels"] = [_r(t) for t in bcs]
        r["listening_s"] = _r(sum(e - s for s, e in turns))
        if labels.get("backchannel_reference") is not None:
            q = distribution(window_counts(labels["backchannel_reference"], dur))
            p = distribution(window_counts(bcs, dur))
            r["jsd"] = _r(jsd(p, q)) if r["to"] == 0 else None  # v1: only when the model does not take over
    return r


# ----------------------------------------------------------------------------- reading a case folder


class BadCase(ValueError):
    """A case folder that cannot be scored; the message says what is wrong and how to fix it."""


def detect_speech(audio: np.ndarray, sr: int, cfg: ScoreConfig) -> list[Interval]:
    """The model's speech segments with the configured VAD (``duplexgen.core.vad``)."""
    from duplexgen.core.vad import silero_intervals, speech_intervals

    x = np.asarray(audio, np.float32).reshape(-1)
    if not np.any(x):
        return []
    if cfg.vad == "silero":
        return merge_intervals(silero_intervals(x, sr, min_silence_ms=int(round(cfg.min_silence_s * 1000))))
    # The energy VAD is relative to the loudest frame: drop segments that are quiet in absolute terms.
    floor = 10 ** (cfg.energy_floor_dbfs / 20)
    out = []
    for s, e in speech_intervals(x, sr, min_silence_s=cfg.min_silence_s):
        seg = x[int(s * sr): int(e * sr)].astype(np.float64)
        if len(seg) and np.sqrt(np.mean(seg ** 2)) >= floor:
            out.append((s, e))
    return merge_intervals(out)


def load_case(folder: Path, cfg: ScoreConfig) -> tuple[dict[str, Any], np.ndarray, int]:
    """Labels and the model's output of a case folder; BadCase naming the problem when it cannot be scored."""
    import soundfile as sf

    try:
        labels = read_labels(folder)
    except ValueError as e:
        raise BadCase(str(e)) from None
    files = {}
    for name in (INPUT_WAV, OUTPUT_WAV):
        path = folder / name
        if not path.exists():
            hint = "the model has not written one (time-aligned with input.wav)" if name == OUTPUT_WAV else "re-export the case"
            raise BadCase(f"missing {name}: {hint}")
        try:
            files[name] = sf.info(str(path))
        except Exception as e:  # soundfile raises its own error types for unreadable files
            raise BadCase(f"{name} is not a readable audio file ({e})") from None
    inp, out = files[INPUT_WAV], files[OUTPUT_WAV]
    if inp.samplerate != labels["sample_rate"]:
        raise BadCase(f"{INPUT_WAV} is {inp.samplerate} Hz but the labels say {labels['sample_rate']} Hz: re-export the case")
    if out.samplerate < 8000:
        raise BadCase(f"{OUTPUT_WAV} is {out.samplerate} Hz: write at least 8 kHz (any rate >= 8 kHz is resampled)")
    if out.channels != 1:
        raise BadCase(f"{OUTPUT_WAV} has {out.channels} channels: write the model's own stream as mono")
    d_in, d_out = inp.frames / inp.samplerate, out.frames / out.samplerate
    if abs(d_out - d_in) > cfg.length_tol_s + 1e-9:
        raise BadCase(f"{OUTPUT_WAV} lasts {d_out:.3f} s but {INPUT_WAV} {d_in:.3f} s: write it time-aligned with the "
                      f"input, as long as it (tolerance {cfg.length_tol_s} s)")
    audio, sr = sf.read(str(folder / OUTPUT_WAV), dtype="float32", always_2d=False)
    return labels, np.asarray(audio, np.float32), int(sr)


# ----------------------------------------------------------------------------- optional ASR


def build_transcriber(cfg: ScoreConfig) -> Optional[Callable[[np.ndarray, int], str]]:
    """``(audio, sr) -> text`` from the configured ASR, or None (``tts.quality``'s engines)."""
    if cfg.asr == "none":
        return None
    from duplexgen.tts.quality import NemoASR, PocketsphinxASR

    engine = PocketsphinxASR() if cfg.asr == "pocketsphinx" else NemoASR(cfg.asr)
    return engine.transcribe


def _words_of_short(utts: Sequence[Interval], audio: np.ndarray, sr: int, transcribe) -> dict[Interval, int]:
    """Word counts of the utterances short enough to be backchannels (the only ones the word rule decides)."""
    out = {}
    for s, e in utts:
        if e - s < BACKCHANNEL_MAX_S:
            out[(s, e)] = len(transcribe(audio[int(s * sr): int(e * sr)], sr).split())
    return out


# ----------------------------------------------------------------------------- the whole folder


def _stats(xs: Sequence[Optional[float]]) -> dict[str, Optional[float]]:
    x = np.asarray([v for v in xs if v is not None], float)
    if x.size == 0:
        return {"n": 0, "mean": None, "median": None, "p90": None, "min": None, "max": None}
    return {"n": int(x.size), "mean": _r(x.mean()), "median": _r(np.median(x)), "p90": _r(np.percentile(x, 90)),
            "min": _r(x.min()), "max": _r(x.max())}


def _rate(values: Sequence[Optional[Any]]) -> Optional[float]:
    v = [float(x) for x in values if x is not None]
    return _r(sum(v) / len(v)) if v else None


def _reasons(rs: Sequence[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rs:
        out[r.get("reason", "")] = out.get(r.get("reason", ""), 0) + 1
    return dict(sorted(out.items()))


def summarize(per_case: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-task aggregates of scored cases (metrics.json's task keys)."""
    by = {name: [c["result"] for c in per_case if c["task"] == name] for name in TASKS}
    out: dict[str, Any] = {}
    tt = by["smooth_turn_taking"]
    out["turn_taking"] = {"tor": _rate([r["to"] for r in tt]), "latency_mean_s": _stats([r["latency"] for r in tt])["mean"],
                          "latency": _stats([r["latency"] for r in tt]), "cases": len(tt), "reasons": _reasons(tt)}
    ui = by["user_interruption"]
    spoke = [r for r in ui if r["speaking_at_onset"]]
    out["interruption"] = {
        "tor": _rate([r["to"] for r in ui]),
        "latency_mean_s": _stats([r["latency"] for r in ui if r["to"]])["mean"],
        "response_latency_mean_s": _stats([r["latency"] for r in ui if r["to"]])["mean"],
        "stop_latency_mean_s": _stats([r["stop_latency"] for r in spoke])["mean"],
        "success_rate": _rate([r["success"] for r in ui]),
        "latency": _stats([r["latency"] for r in ui if r["to"]]),
        "stop_latency": _stats([r["stop_latency"] for r in spoke]),
        "cases": len(ui), "speaking_at_onset": len(spoke), "reasons": _reasons(ui),
    }
    ph = by["pause_handling"]
    out["pause_handling"] = {"tor": _rate([r["to"] for r in ph]), "cases": len(ph), "reasons": _reasons(ph)}
    for task in ("user_backchannel", "background_noise"):
        rs = by[task]
        scored = [r for r in rs if r["to"] is not None]
        stopped = [r for r in scored if r["to"]]
        out[TASKS[task].key] = {
            "tor": _rate([r["to"] for r in rs]), "stop_latency_mean_s": _stats([r["stop_latency"] for r in stopped])["mean"],
            "response_latency_mean_s": _stats([r["latency"] for r in stopped])["mean"],
            "cases": len(rs), "scored": len(scored), "reasons": _reasons(rs)}
    listening = [r for name in ("smooth_turn_taking", "pause_handling") for r in by[name]]
    events = sum(len(r.get("model_backchannels", [])) for r in listening)
    secs = sum(r.get("listening_s") or 0.0 for r in listening)
    jsds = [r["jsd"] for r in listening if r.get("jsd") is not None]
    out["model_backchannel"] = {"freq": _r(events / secs) if secs > 0 else None, "events": events, "listening_s": _r(secs),
                                "jsd": _r(float(np.mean(jsds))) if jsds else None, "jsd_cases": len(jsds)}
    return out


def score_dir(out_dir: str | Path, cfg: Optional[ScoreConfig] = None, report: bool = True,
              progress: Optional[Callable[[int, int], None]] = None) -> dict[str, Any]:
    """Score every case folder under ``out_dir`` that has an output.wav; write metrics.json (and report.html)."""
    cfg = cfg or ScoreConfig()
    out_dir = Path(out_dir)
    folders = list_case_dirs(out_dir)
    if not folders:
        raise FileNotFoundError(f"no case folders (<task>/<case>/ with {INPUT_WAV}) under {out_dir}: run `duplexgen export fdbench` first")
    t0 = time.perf_counter()
    transcribe = build_transcriber(cfg)
    per_case, bad = [], []
    for k, folder in enumerate(folders):
        name = f"{folder.parent.name}/{folder.name}"
        try:
            labels, audio, sr = load_case(folder, cfg)
        except BadCase as e:
            bad.append({"case": name, "reason": str(e)})
            log.warning("skipping case %s: %s", name, e)
            continue
        speech = detect_speech(audio, sr, cfg)
        words = _words_of_short(utterances(speech, cfg.utterance_gap_s), audio, sr, transcribe) if transcribe else None
        result = score_case(labels, speech, cfg, words)
        entry = {"case": name, "task": labels["task"], "cut_id": labels["cut_id"], "duration_s": labels["duration_s"],
                 "event": labels["event"], "reference": {k2: labels["reference"].get(k2) for k2 in ("onset", "stop", "latency")},
                 "speech": [[_r(s), _r(e)] for s, e in speech], "result": result}
        if transcribe and labels["task"] == "user_interruption" and result.get("response_onset") is not None:
            a = result["response_onset"]
            entry["response_text"] = transcribe(audio[int(a * sr):], sr)
            entry["reference_response_text"] = " ".join(x["text"] for x in labels["reference"]["agent"][1:])
        per_case.append(entry)
        if progress:
            progress(k + 1, len(folders))
    by_task = {name: {"cases": sum(1 for c in per_case if c["task"] == name),
                      "bad": sum(1 for b in bad if b["case"].startswith(name + "/"))} for name in TASKS}
    result: dict[str, Any] = {
        "schema": SCHEMA, "out_dir": str(out_dir), "config": asdict(cfg),
        **summarize(per_case),
        "cases": {"total": len(folders), "scored": len(per_case), "bad": len(bad), "by_task": by_task},
        "bad_cases": bad,
        "elapsed_s": round(time.perf_counter() - t0, 2),
        "per_case": per_case,
    }
    if transcribe:
        from duplexgen.training.eval.metrics import wer

        pairs = [(c["response_text"], c["reference_response_text"]) for c in per_case if c.get("response_text") is not None]
        result["interruption"]["response_wer_vs_reference"] = wer([h for h, _ in pairs], [r for _, r in pairs]) if pairs else None
    write_json(out_dir / METRICS_JSON, result)
    if report:
        from duplexgen.training.eval.report import write_fdbench_report

        result["report"] = str(write_fdbench_report(result, out_dir, examples=cfg.examples))
        write_json(out_dir / METRICS_JSON, result)
    return result


def format_scores(result: dict[str, Any]) -> str:
    """The headline numbers, one line per task."""

    def pct(x: Optional[float]) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    def sec(x: Optional[float]) -> str:
        return "n/a" if x is None else f"{x:.3f} s"

    tt, ui, ph, bc, bn = (result[k] for k in ("turn_taking", "interruption", "pause_handling", "backchannel", "background_noise"))
    c = result["cases"]
    lines = [
        f"scored {c['scored']} of {c['total']} cases ({c['bad']} skipped as bad) in {result['out_dir']}",
        f"  turn-taking       TOR {pct(tt['tor'])} (n={tt['cases']}, higher is better), latency mean {sec(tt['latency_mean_s'])}",
        f"  interruption      TOR {pct(ui['tor'])} (n={ui['cases']}), success {pct(ui['success_rate'])}, "
        f"stop latency {sec(ui['stop_latency_mean_s'])}, response latency {sec(ui['latency_mean_s'])}",
        f"  pause handling    TOR {pct(ph['tor'])} (n={ph['cases']}, lower is better)",
        f"  backchannel       TOR {pct(bc['tor'])} (n={bc['cases']}, {bc['scored']} scored, lower is better)",
        f"  background noise  TOR {pct(bn['tor'])} (n={bn['cases']}, {bn['scored']} scored, lower is better)",
        f"  model backchannels {result['model_backchannel']['events']} ({pct(result['model_backchannel']['freq'])} per second of user speech)",
    ]
    for b in result["bad_cases"][:10]:
        lines.append(f"  BAD {b['case']}: {b['reason']}")
    if len(result["bad_cases"]) > 10:
        lines.append(f"  ... and {len(result['bad_cases']) - 10} more bad cases (metrics.json: bad_cases)")
    if result.get("report"):
        lines.append(f"  report: {result['report']}")
    return "\n".join(lines)


__all__ = ["ScoreConfig", "BadCase", "utterances", "is_backchannel", "takeovers", "active_at", "turn_taking",
           "pause_handling", "interruption", "overlap_event", "window_counts", "distribution", "jsd", "model_backchannels",
           "score_case", "detect_speech", "load_case", "score_dir", "summarize", "format_scores"]
