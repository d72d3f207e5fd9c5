"""Data audit: measure a shard set's timing and levels FROM THE AUDIO (no model needed).

``duplexgen validate`` checks the metadata contract; the audit checks that the audio does what the
metadata says. Per conversation (``audit_cut``), with an energy VAD (optionally Silero) on both streams:

- **gaps**: user speech end -> agent speech start (and back), measured vs the supervisions and vs
  the configured gap (``custom.gaps``);
- **barge-in**: agent speech kept after ``t_cut`` (should be ``kept``, 0.64 s) and the agent's peak
  level after ``t_cut + kept`` until its next turn (should be digital silence);
- **levels**: RMS of the speech (dBFS), peak, and clipping ratio per stream;
- **boundaries**: |supervision start/end - speech start/end| per turn (the trainer puts BOS/EOS
  there), and speech outside every supervision of its stream (seconds);
- **timing** (cuts with ``custom.timing``: the natural/custom profiles): the floor-transfer offset of
  every speaker change that is not a barge-in (next speaker's speech onset - previous speaker's speech
  end, each on its own channel, so overlaps are negative), the barge-in depth into the agent turn, and
  where each backchannel's speech starts relative to the agent's words (inside a word is a problem).
  ``audit_dir`` compares the offsets (and stop delays) with draws from the recorded profile: two-sample
  KS test, medians, overlap share; the offsets pass with KS p > 0.01 and medians within one 80 ms frame.

``audit_dir`` aggregates (mean, p95, max), flags problems against tolerances and lists the worst
conversations; ``format_audit`` prints it. The lead exposes it as ``duplexgen validate DIR --audit``.

Example::

    result = audit_dir(Path("out/demo/shards"), limit=50)
    print(format_audit(result))
    result["summary"]["boundary_error_s"]["p95"]   # e.g. 0.003
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from duplexgen.core.events import Interval, cut_events, merge_intervals, sup_kind
from duplexgen.core.timing import FRAME_S

#: Offsets pass against their profile with a two-sample KS p-value above this (and medians within one frame).
TIMING_KS_P_MIN = 0.01
#: A backchannel onset this close to a word's edge is at the edge, not inside the word (energy-VAD precision), s.
WORD_EDGE_TOL_S = 0.01

#: Full scale of 16-bit audio as stored in the shards; |x| at or above this is clipped.
CLIP_LEVEL = 32767 / 32768 - 1e-6


@dataclass
class AuditConfig:
    """What the audit measures with and what it tolerates."""

    vad: str = field(default="energy", metadata={"help": "VAD on both streams: energy (exact on clean TTS) | silero"})
    min_silence_s: float = field(default=0.2, metadata={"help": "pauses shorter than this are inside one speech interval, s"})
    boundary_tol_s: float = field(default=0.04, metadata={"help": "flag supervision/speech boundary differences above this, s"})
    gap_tol_s: float = field(default=0.04, metadata={"help": "flag measured gaps that differ from the supervisions/config by more, s"})
    silence_dbfs: float = field(default=-60.0, metadata={"help": "agent peak after a barge-in cut must stay below this, dBFS"})
    clip_ratio_max: float = field(default=1e-4, metadata={"help": "flag a stream whose clipped-sample ratio exceeds this"})
    worst: int = field(default=5, metadata={"help": "how many worst conversations to list"})

    def __post_init__(self) -> None:
        if self.vad not in ("energy", "silero"):
            raise ValueError(f"audit.vad must be 'energy' or 'silero', got {self.vad!r}")
        for name in ("min_silence_s", "boundary_tol_s", "gap_tol_s", "clip_ratio_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"audit.{name} must be >= 0, got {getattr(self, name)}")
        if self.worst < 0:
            raise ValueError(f"audit.worst must be >= 0, got {self.worst}")


# ----------------------------------------------------------------------------- audio math


def dbfs(x: float) -> float:
    """Amplitude (RMS or peak, full scale 1.0) in dBFS; -inf for silence -> -200."""
    return round(20 * math.log10(x), 2) if x > 1e-10 else -200.0


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def clip_ratio(x: np.ndarray, level: float = CLIP_LEVEL) -> float:
    return float(np.mean(np.abs(x) >= level)) if len(x) else 0.0


def samples_in(intervals: Sequence[Interval], sr: int, n: int) -> np.ndarray:
    """Boolean mask of the samples inside the intervals."""
    m = np.zeros(n, dtype=bool)
    for s, e in intervals:
        m[max(0, int(round(s * sr))) : min(n, int(round(e * sr)))] = True
    return m


def stream_levels(x: np.ndarray, sr: int, speech: Sequence[Interval]) -> dict[str, float]:
    """RMS of the speech and of the whole stream (dBFS), peak (dBFS) and clipping ratio."""
    mask = samples_in(speech, sr, len(x))
    return {
        "speech_rms_dbfs": dbfs(rms(x[mask])) if mask.any() else -200.0,
        "rms_dbfs": dbfs(rms(x)),
        "peak_dbfs": dbfs(float(np.max(np.abs(x))) if len(x) else 0.0),
        "clip_ratio": round(clip_ratio(x), 6),
    }


def vad_intervals(audio: np.ndarray, sr: int, vad: str = "energy", min_silence_s: float = 0.2) -> list[Interval]:
    """Speech intervals of one stream with the augment package's VADs (energy or Silero)."""
    from duplexgen.core.vad import silero_intervals, speech_intervals

    if vad == "silero":
        return merge_intervals(silero_intervals(audio, sr, min_silence_ms=int(min_silence_s * 1000)))
    return merge_intervals(speech_intervals(audio, sr, min_silence_s=min_silence_s))


def boundary_errors(sup: Interval, speech: Sequence[Interval], search_s: float = 0.3) -> Optional[tuple[float, float]]:
    """(start error, end error) of a supervision against the speech that overlaps it, in seconds.

    The onset/offset are those of the speech overlapping the supervision, clipped to ``search_s``
    around it. None when the supervision holds no speech at all."""
    s0, s1 = sup
    inside = [(a, b) for a, b in speech if a < s1 and b > s0]
    if not inside:
        return None
    # Speech of the same interval running far past the supervision counts as at most search_s off.
    onset = max(min(a for a, _ in inside), s0 - search_s)
    offset = min(max(b for _, b in inside), s1 + search_s)
    return round(onset - s0, 5), round(offset - s1, 5)


def uncovered_speech(speech: Sequence[Interval], sups: Sequence[Interval], tol: float) -> float:
    """Seconds of speech that lie outside every supervision (each widened by ``tol``)."""
    widened = merge_intervals([(a - tol, b + tol) for a, b in sups])
    total = 0.0
    for a, b in speech:
        covered = sum(max(0.0, min(b, e) - max(a, s)) for s, e in widened)
        total += max(0.0, (b - a) - covered)
    return round(total, 4)


# ----------------------------------------------------------------------------- one cut


def load_streams(cut: Any) -> tuple[np.ndarray, int, np.ndarray, int]:
    """(user audio, its rate, agent audio, its rate) of a duplex cut."""
    user = cut.load_audio()[0].astype(np.float32)
    target = cut.custom["target_audio"]
    agent = cut.load_target_audio()[0].astype(np.float32)
    return user, int(cut.recording.sampling_rate), agent, int(target.sampling_rate)


def audit_cut(cut: Any, cfg: Optional[AuditConfig] = None) -> dict[str, Any]:
    """Everything the audit measures on one conversation (JSON-able)."""
    cfg = cfg or AuditConfig()
    user, sr_u, agent, sr_a = load_streams(cut)
    speech_u = vad_intervals(user, sr_u, cfg.vad, cfg.min_silence_s)
    speech_a = vad_intervals(agent, sr_a, cfg.vad, cfg.min_silence_s)
    custom = cut.custom or {}
    sups = sorted(cut.supervisions, key=lambda s: s.start)
    ev = cut_events(cut)
    out: dict[str, Any] = {"id": cut.id, "duration": round(cut.duration, 3), "problems": []}

    # Boundaries: each supervision against its own stream's speech.
    bounds = []
    for s in sups:
        speech = speech_u if s.speaker == "user" else speech_a
        err = boundary_errors((s.start, s.end), speech)
        row = {"speaker": s.speaker, "kind": sup_kind(s), "start": round(s.start, 4), "end": round(s.end, 4)}
        if err is None:
            row.update(start_err=None, end_err=None)
            out["problems"].append(f"{s.speaker} supervision at {s.start:.2f}s holds no speech")
        else:
            row.update(start_err=err[0], end_err=err[1])
        bounds.append(row)
    errs = [abs(e) for b in bounds for e in (b["start_err"], b["end_err"]) if e is not None]
    out["boundaries"] = bounds
    out["boundary_error_max_s"] = round(max(errs), 5) if errs else None
    if errs and max(errs) > cfg.boundary_tol_s:
        out["problems"].append(f"supervision/speech boundary off by {max(errs):.3f}s (> {cfg.boundary_tol_s}s)")

    # Gaps between consecutive main turns of different speakers (not at barge-ins).
    main = [s for s in sups if sup_kind(s) != "backchannel"]
    t_cuts = set(ev.interruptions)
    configured = [g for g in (custom.get("gaps") or []) if g is not None]
    gaps = []
    for a, b in zip(main, main[1:]):
        if a.speaker == b.speaker or round(b.start, 4) in {round(t, 4) for t in t_cuts} or b.start < a.end:
            continue
        sp_a = speech_u if a.speaker == "user" else speech_a
        sp_b = speech_u if b.speaker == "user" else speech_a
        ends = [e for s_, e in sp_a if s_ < a.end + 0.05 and e > a.start]
        starts = [s_ for s_, e in sp_b if s_ < b.end and e > b.start - 0.05]
        if not ends or not starts:
            continue
        measured = min(starts) - max(ends)
        gaps.append({"after": a.speaker, "sup_gap": round(b.start - a.end, 4), "measured_gap": round(measured, 4),
                     "error": round(measured - (b.start - a.end), 4)})
    out["gaps"] = gaps
    out["gap_error_max_s"] = round(max((abs(g["error"]) for g in gaps), default=0.0), 5) if gaps else None
    if gaps and out["gap_error_max_s"] > cfg.gap_tol_s:
        out["problems"].append(f"measured gap differs from supervisions by {out['gap_error_max_s']:.3f}s")
    nominal = min(configured) if configured else None
    if nominal is not None and gaps:
        short = [g for g in gaps if g["measured_gap"] < nominal - cfg.gap_tol_s]
        out["gaps_below_configured"] = len(short)
        if short:
            out["problems"].append(f"{len(short)} gap(s) shorter than the configured minimum {nominal:.2f}s")

    # Barge-ins: kept agent speech after t_cut, then silence until the agent's next turn.
    barge = []
    agent_sups = [s for s in sups if s.speaker == "agent"]
    for t_cut, kept in zip(ev.interruptions, ev.reference_kept):
        # The agent's speech from the cut on: every interval that reaches past t_cut (a pause inside the kept part
        # splits it) and starts before the kept part is over; the last one's end is where the agent stopped.
        cover = [(a0, a1) for a0, a1 in speech_a if a1 >= t_cut - cfg.min_silence_s and a0 <= t_cut + kept + 0.05]
        measured_kept = round(max(a1 for _, a1 in cover) - t_cut, 4) if cover else None
        end_kept = t_cut + kept
        nxt = min((s.start for s in agent_sups if s.start > end_kept + 1e-3), default=cut.duration)
        i0, i1 = int(math.ceil(end_kept * sr_a)) + 1, int(nxt * sr_a)
        after_peak = float(np.max(np.abs(agent[i0:i1]))) if i1 > i0 else 0.0
        silent = dbfs(after_peak) <= cfg.silence_dbfs
        barge.append({"t_cut": t_cut, "kept": kept, "measured_kept": measured_kept,
                      "kept_error": None if measured_kept is None else round(measured_kept - kept, 4),
                      "silence_after_s": round(max(0.0, nxt - end_kept), 4), "peak_after_dbfs": dbfs(after_peak),
                      "silent_after": bool(silent)})
        if not silent:
            out["problems"].append(f"agent not silent after the barge-in cut at {t_cut:.2f}s (peak {dbfs(after_peak):.1f} dBFS)")
        if measured_kept is not None and abs(measured_kept - kept) > cfg.gap_tol_s:
            out["problems"].append(f"barge-in at {t_cut:.2f}s keeps {measured_kept:.3f}s of agent speech, expected {kept:.2f}s")
    out["barge_in"] = barge

    # Levels and clipping.
    out["levels"] = {"user": stream_levels(user, sr_u, speech_u), "agent": stream_levels(agent, sr_a, speech_a)}
    for name, lv in out["levels"].items():
        if lv["clip_ratio"] > cfg.clip_ratio_max:
            out["problems"].append(f"{name} stream clips ({lv['clip_ratio']:.2%} of samples)")
    # Speech outside supervisions (the agent's must be none: the trainer would not see it as a turn).
    user_sups = [(s.start, s.end) for s in sups if s.speaker == "user"]
    out["uncovered_speech_s"] = {
        "user": uncovered_speech(speech_u, user_sups, cfg.boundary_tol_s),
        "agent": uncovered_speech(speech_a, ev.agent_supervisions, cfg.boundary_tol_s),
    }
    if out["uncovered_speech_s"]["agent"] > 0:
        out["problems"].append(f"{out['uncovered_speech_s']['agent']:.2f}s of agent speech outside agent supervisions")
    if custom.get("timing"):
        out["timing"] = measure_timing(sups, speech_u, speech_a, t_cuts, custom)
        inside = [b for b in out["timing"]["backchannels"] if b["inside_word"]]
        if inside:
            out["problems"].append(f"{len(inside)} backchannel(s) start inside an agent word (first at {inside[0]['onset']:.2f}s)")
    out["vad"] = {"user": [[round(a, 4), round(b, 4)] for a, b in speech_u], "agent": [[round(a, 4), round(b, 4)] for a, b in speech_a]}
    return out


def measure_timing(sups: Sequence[Any], speech_u: Sequence[Interval], speech_a: Sequence[Interval], t_cuts: set,
                   custom: dict[str, Any]) -> dict[str, Any]:
    """Turn-taking timing of one natural/custom cut measured on the audio (VAD intervals of each channel)."""
    main = [s for s in sups if sup_kind(s) != "backchannel"]
    cut_starts = {round(t, 4) for t in t_cuts}
    offsets = []
    for a, b in zip(main, main[1:]):
        if a.speaker == b.speaker or round(b.start, 4) in cut_starts:
            continue  # a barge-in is not a turn transition: its timing is the depth and the stop delay
        sp_a = speech_u if a.speaker == "user" else speech_a
        sp_b = speech_u if b.speaker == "user" else speech_a
        ends = [e for s_, e in sp_a if s_ < a.end and e > a.start]
        starts = [s_ for s_, e in sp_b if s_ < b.end and e > b.start]
        if ends and starts:
            offsets.append(round(min(starts) - max(ends), 4))
    agents = [s for s in sups if s.speaker == "agent"]
    depths = []
    for t in sorted(t_cuts):
        a = next((s for s in agents if s.start < t <= s.end + 1e-6), None)
        onset = min((s_ for s_, e in speech_u if e > t - 0.05 and s_ < t + 0.3), default=None)
        if a is not None and onset is not None:
            depths.append(round(onset - a.start, 4))
    bcs = []
    for bc in custom.get("backchannels") or []:
        onset = min((s_ for s_, e in speech_u if s_ < bc["end"] and e > bc["start"]), default=None)
        a = next((s for s in agents if onset is not None and s.start <= onset <= s.end), None)
        if onset is None or a is None:
            continue
        words = [(w.start, w.start + w.duration) for w in ((a.alignment or {}).get("word") or [])]
        inside = any(w0 + WORD_EDGE_TOL_S < onset < w1 - WORD_EDGE_TOL_S for w0, w1 in words)
        before = [w1 for _, w1 in words if w1 <= onset + WORD_EDGE_TOL_S]
        bcs.append({"onset": round(onset, 4), "inside_word": bool(inside), "words_known": bool(words),
                    "after_word_s": round(onset - max(before), 4) if before else None,
                    "frac": round((onset - a.start) / a.duration, 4) if a.duration > 0 else None})
    record = {k: custom["timing"].get(k) for k in ("profile", "params")}
    return {"record": record, "offsets": offsets, "barge_in_depth_s": depths, "backchannels": bcs,
            "clamped": len(custom["timing"].get("clamped") or [])}


# ----------------------------------------------------------------------------- a shard set


def _stats(values: Sequence[float]) -> dict[str, Optional[float]]:
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if x.size == 0:
        return {"n": 0, "mean": None, "p95": None, "max": None}
    return {"n": int(x.size), "mean": round(float(x.mean()), 5), "p95": round(float(np.percentile(x, 95)), 5), "max": round(float(x.max()), 5)}


def audit_dir(shard_root: Path, limit: Optional[int] = None, cfg: Optional[AuditConfig] = None) -> dict[str, Any]:
    """Audit every conversation under ``shard_root`` (or the first ``limit``); aggregate and rank."""
    from duplexgen.core.shards import find_shard_dirs, load_shards

    cfg = cfg or AuditConfig()
    dirs = find_shard_dirs(shard_root)
    if not dirs:
        raise FileNotFoundError(f"no Lhotse Shar shards (cuts.NNNNNN.jsonl.gz) under {shard_root}")
    cuts: list[dict[str, Any]] = []
    for d in dirs:
        for cut in load_shards(d):
            if limit and len(cuts) >= limit:
                break
            cuts.append(audit_cut(cut, cfg))
    bounds = [abs(e) for c in cuts for b in c["boundaries"] for e in (b["start_err"], b["end_err"]) if e is not None]
    gap_err = [abs(g["error"]) for c in cuts for g in c["gaps"]]
    gaps = [g["measured_gap"] for c in cuts for g in c["gaps"]]
    barge = [b for c in cuts for b in c["barge_in"]]
    summary = {
        "conversations": len(cuts),
        "with_problems": sum(1 for c in cuts if c["problems"]),
        "boundary_error_s": _stats(bounds),
        "gap_s": _stats(gaps),
        "gap_error_s": _stats(gap_err),
        "barge_ins": len(barge),
        "barge_in_kept_s": _stats([b["measured_kept"] for b in barge]),
        "barge_in_kept_error_s": _stats([abs(b["kept_error"]) for b in barge if b["kept_error"] is not None]),
        "barge_in_silent_after": sum(1 for b in barge if b["silent_after"]),
        "levels": {
            s: {k: _stats([c["levels"][s][k] for c in cuts]) for k in ("speech_rms_dbfs", "peak_dbfs", "clip_ratio")}
            for s in ("user", "agent")
        },
        "uncovered_agent_speech_s": _stats([c["uncovered_speech_s"]["agent"] for c in cuts]),
    }
    timing = timing_summary(cuts)
    if timing:
        summary["timing"] = timing
    ranked = sorted(cuts, key=lambda c: (len(c["problems"]), c["boundary_error_max_s"] or 0.0, c["gap_error_max_s"] or 0.0), reverse=True)
    worst = [{"id": c["id"], "problems": c["problems"], "boundary_error_max_s": c["boundary_error_max_s"],
              "gap_error_max_s": c["gap_error_max_s"]} for c in ranked[: cfg.worst]]
    return {"shard_dirs": [str(d) for d in dirs], "config": asdict(cfg), "summary": summary, "worst": worst, "cuts": cuts}


def timing_summary(cuts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per timing profile in the set: measured offsets and stop delays against draws from the profile, backchannels."""
    from duplexgen.augment.timing import compare_offsets, compare_stop_delays, params_from_record

    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cuts:
        if c.get("timing"):
            groups.setdefault(json.dumps(c["timing"]["record"], sort_keys=True), []).append(c)
    out = []
    for key, members in groups.items():
        record = json.loads(key)
        p = params_from_record(record)
        offsets = [o for c in members for o in c["timing"]["offsets"]]
        kept = [b["measured_kept"] for c in members for b in c["barge_in"]]
        bcs = [b for c in members for b in c["timing"]["backchannels"]]
        off = compare_offsets(offsets, p)
        passed = bool(off.get("n")) and off["ks_p"] > TIMING_KS_P_MIN and abs(off["median_measured"] - off["median_profile"]) <= FRAME_S
        out.append({
            "profile": record.get("profile"), "params": record.get("params"), "conversations": len(members),
            "clamped_starts": sum(c["timing"]["clamped"] for c in members),
            "offsets": off, "offsets_pass": passed,
            "stop_delay": compare_stop_delays(kept, p),
            "barge_in_depth_s": _stats([d for c in members for d in c["timing"]["barge_in_depth_s"]]),
            "backchannels": len(bcs), "backchannels_inside_word": sum(b["inside_word"] for b in bcs),
            "backchannels_without_word_timings": sum(not b["words_known"] for b in bcs),
        })
    return out


def format_audit(result: dict[str, Any]) -> str:
    """A short human-readable audit report."""
    s = result["summary"]

    def st(d: dict, unit: str = "s", scale: float = 1.0) -> str:
        if not d.get("n"):
            return "n/a"
        return f"mean {d['mean'] * scale:.3f}{unit}  p95 {d['p95'] * scale:.3f}{unit}  max {d['max'] * scale:.3f}{unit}  (n={d['n']})"

    lines = [
        f"audited {s['conversations']} conversations in {len(result['shard_dirs'])} shard folder(s); "
        f"{s['with_problems']} with problems",
        f"  supervision/speech boundary error: {st(s['boundary_error_s'])}",
        f"  turn gaps (measured):              {st(s['gap_s'])}",
        f"  gap error vs supervisions:         {st(s['gap_error_s'])}",
        f"  barge-ins: {s['barge_ins']}, agent speech kept after the cut: {st(s['barge_in_kept_s'])}",
        f"  barge-ins followed by agent silence: {s['barge_in_silent_after']}/{s['barge_ins']}",
    ]
    for name in ("user", "agent"):
        lv = s["levels"][name]
        lines.append(f"  {name:<5} speech RMS {st(lv['speech_rms_dbfs'], ' dBFS')}; peak max {lv['peak_dbfs']['max']} dBFS; "
                     f"clipped ratio max {lv['clip_ratio']['max']}")
    lines.append(f"  agent speech outside agent supervisions: {st(s['uncovered_agent_speech_s'])}")
    for t in s.get("timing", []):
        o, sd = t["offsets"], t["stop_delay"]
        if o.get("n"):
            lines.append(f"  timing {t['profile']} ({t['conversations']} conversations): offsets n={o['n']} median {o['median_measured']:.3f}s "
                         f"(profile {o['median_profile']:.3f}s), overlaps {o['overlap_share_measured']:.0%} (profile {o['overlap_share_profile']:.0%}), "
                         f"KS p={o['ks_p']:.3g} -> {'matches the profile' if t['offsets_pass'] else 'DOES NOT match the profile'}")
        if sd.get("n"):
            lines.append(f"    barge-in stop delay n={sd['n']} median {sd['median_measured']:.3f}s (profile {sd['median_profile']:.3f}s), KS p={sd['ks_p']:.3g}")
        lines.append(f"    backchannels {t['backchannels']}, starting inside an agent word: {t['backchannels_inside_word']}")
    if result["worst"] and any(w["problems"] for w in result["worst"]):
        lines.append("  worst conversations:")
        for w in result["worst"]:
            if w["problems"]:
                lines.append(f"    {w['id']}: " + "; ".join(w["problems"][:3]))
    else:
        lines.append("OK: no problems found in the audio")
    return "\n".join(lines)


def write_audit(result: dict[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return path


__all__ = ["AuditConfig", "audit_cut", "audit_dir", "format_audit", "write_audit", "vad_intervals", "stream_levels", "boundary_errors"]
