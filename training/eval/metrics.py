"""Behavioural duplex metrics over speech intervals: turn-taking, barge-in, false alarms; text BLEU/WER.

Everything here is a pure function of interval lists in seconds (``[(start, end), ...]``, what a VAD
returns) and event times, so it is tested on synthetic timelines with known answers. The definitions
follow SALM-Duplex (arXiv 2505.15670) and NVIDIA's public turn-taking / barge-in / backchannel scripts:

- **turn-taking**: after the user ends a turn at ``t``, the agent must START speaking within
  ``max_latency`` (1.6 s). Latency = agent onset - ``t``. An onset up to ``early_s`` before ``t`` still
  counts (a VAD pads speech by a few tens of ms); an agent already talking at ``t`` did not take a turn.
- **barge-in**: the user starts speaking at ``t`` while the agent speaks; the agent must STOP within
  ``max_latency`` (1.5 s). Latency = end of the agent speech that covers ``t`` - ``t``. An agent that
  is not speaking around ``t`` (within ``pre_s`` before it) was not interrupted: the event is not
  scored (``reason="agent_silent"``).
- **false alarm**: a user backchannel (or noise) over agent speech must NOT stop the agent: the agent
  must still speak ``continue_s`` (1.0 s) after the backchannel ends. An agent that never started its
  answer by then also counts (the noise held it back); one that had already finished its answer, or
  whose reference answer itself ends by then, is not scored.

The events come from the evaluation cut (:func:`cut_events`): supervisions (speaker, ``custom.kind``
in turn / interruption / backchannel) and ``custom.barge_in``, ``custom.backchannels`` and the
noise intervals in ``custom.augmentations`` written by ``duplexgen.augment.assemble``.

Example::

    agent = [(2.0, 4.4)]                        # the agent talks from 2.0 s to 4.4 s
    barge_in([4.0], agent)[0]                   # {'t': 4.0, 'success': True, 'latency': 0.4, ...}
    turn_taking([1.36], agent)[0]["latency"]    # 0.64
    summarize(barge_in([4.0], [(2.0, 9.0)]))["success_rate"]   # 0.0: the agent kept talking
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

import numpy as np

Interval = tuple[float, float]

#: Public defaults (SALM-Duplex / NVIDIA eval scripts).
TURN_MAX_LATENCY_S = 1.6
BARGE_IN_MAX_LATENCY_S = 1.5
BACKCHANNEL_CONTINUE_S = 1.0


# ----------------------------------------------------------------------------- interval helpers


def merge_intervals(intervals: Iterable[Sequence[float]], max_gap: float = 0.0) -> list[Interval]:
    """Sort and merge intervals that overlap or are separated by at most ``max_gap`` seconds."""
    out: list[list[float]] = []
    for s, e in sorted((float(a), float(b)) for a, b in intervals):
        if e < s:
            s, e = e, s
        if out and s - out[-1][1] <= max_gap:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def covering(intervals: Sequence[Interval], t: float, before: float = 0.0) -> Optional[Interval]:
    """The interval that contains ``t``, or else the last one that ended at most ``before`` s before ``t``."""
    best = None
    for s, e in intervals:
        if s <= t <= e:
            return (s, e)
        if e < t and t - e <= before and s <= t:
            best = (s, e)
    return best


def speaking_at(intervals: Sequence[Interval], t: float) -> bool:
    return any(s <= t <= e for s, e in intervals)


def overlaps(intervals: Sequence[Interval], a: float, b: float) -> bool:
    """True when any interval has speech inside ``[a, b]``."""
    return any(s < b and e > a for s, e in intervals)


def total_duration(intervals: Sequence[Interval]) -> float:
    return float(sum(e - s for s, e in merge_intervals(intervals)))


# ----------------------------------------------------------------------------- metrics


def turn_taking(
    user_turn_ends: Sequence[float],
    agent_intervals: Sequence[Interval],
    max_latency: float = TURN_MAX_LATENCY_S,
    early_s: float = 0.1,
) -> list[dict[str, Any]]:
    """One result per user turn end: did the agent start speaking within ``max_latency`` after it?

    ``reason``: ``ok``; ``late`` (first onset after the window); ``none`` (no onset at all);
    ``overlap`` (the agent was already talking at the user's end and started nothing new in time)."""
    agent = merge_intervals(agent_intervals)
    out = []
    for t in user_turn_ends:
        onsets = [s for s, _ in agent if s >= t - early_s]
        onset = min(onsets) if onsets else None
        latency = None if onset is None else onset - t
        ok = latency is not None and latency <= max_latency
        if ok:
            reason = "ok"
        elif speaking_at(agent, t):
            reason = "overlap"
        else:
            reason = "late" if onset is not None else "none"
        out.append({"t": float(t), "success": bool(ok), "latency": _r(latency) if ok else None,
                    "onset": _r(onset), "reason": reason})
    return out


def barge_in(
    interruption_starts: Sequence[float],
    agent_intervals: Sequence[Interval],
    max_latency: float = BARGE_IN_MAX_LATENCY_S,
    pre_s: float = 0.25,
    min_pause_s: float = 0.2,
) -> list[dict[str, Any]]:
    """One result per interruption start: did the agent stop within ``max_latency`` after it?

    The agent speech "at" the interruption is the interval containing ``t``, else one starting at most
    ``pre_s`` after it (``t`` fell in a pause and the agent went on talking), else one ending at most
    ``pre_s`` before it (latency 0: the agent had just finished). Pauses shorter than ``min_pause_s`` do not end the agent's speech.
    ``success`` is None (not scored) when the agent was not speaking."""
    agent = merge_intervals(agent_intervals, max_gap=min_pause_s)
    out = []
    for t in interruption_starts:
        # Speaking at t; else resuming within pre_s after t (t fell in a pause between phrases: it went
        # on talking over the user); else having just finished within pre_s before t.
        iv = covering(agent, t) or next(((s, e) for s, e in agent if t < s <= t + pre_s), None) or covering(agent, t, before=pre_s)
        if iv is None:
            out.append({"t": float(t), "success": None, "latency": None, "stop": None, "reason": "agent_silent"})
            continue
        stop = iv[1]
        latency = max(0.0, stop - t)
        ok = latency <= max_latency
        out.append({"t": float(t), "success": bool(ok), "latency": _r(latency), "stop": _r(stop),
                    "reason": "ok" if ok else "kept_talking"})
    return out


def false_alarms(
    backchannel_intervals: Sequence[Interval],
    agent_intervals: Sequence[Interval],
    continue_s: float = BACKCHANNEL_CONTINUE_S,
    prompt_ends: Optional[Sequence[Optional[float]]] = None,
    reference_ends: Optional[Sequence[Optional[float]]] = None,
    min_pause_s: float = 0.2,
) -> list[dict[str, Any]]:
    """One result per backchannel/noise interval ``(start, end)``: did it wrongly stop (or hold back) the agent?

    ``prompt_ends[i]`` is when the user turn the agent is answering ended (the agent may start from
    there); ``reference_ends[i]`` is where the reference answer ends. ``false_alarm`` is True for
    ``stopped`` (speaking during the event, silent at ``end + continue_s``) and ``never_started``
    (silent from the prompt end through ``end + continue_s``), False for ``continued``, None (not scored)
    for ``finished_before`` (the agent's answer ended before the event) and ``reference_ends_first``.
    Pauses shorter than ``min_pause_s`` do not count as silence."""
    agent = merge_intervals(agent_intervals, max_gap=min_pause_s)
    n = len(backchannel_intervals)
    prompt_ends = list(prompt_ends) if prompt_ends is not None else [None] * n
    reference_ends = list(reference_ends) if reference_ends is not None else [None] * n
    out = []
    for (start, end), p_end, r_end in zip(backchannel_intervals, prompt_ends, reference_ends):
        check = end + continue_s
        res = {"start": float(start), "end": float(end), "check_at": _r(check)}
        if r_end is not None and r_end < check:
            res.update(false_alarm=None, reason="reference_ends_first")
        elif overlaps(agent, start, end):
            stopped = not speaking_at(agent, check)
            res.update(false_alarm=stopped, reason="stopped" if stopped else "continued")
        else:
            lo = p_end if p_end is not None else -math.inf
            spoke_before = overlaps(agent, lo, start)
            if spoke_before:
                res.update(false_alarm=None, reason="finished_before")
            elif speaking_at(agent, check) or overlaps(agent, end, check):
                res.update(false_alarm=False, reason="started_late")
            else:
                res.update(false_alarm=True, reason="never_started")
        out.append(res)
    return out


# ----------------------------------------------------------------------------- aggregation


def latency_stats(latencies: Iterable[Optional[float]]) -> dict[str, Optional[float]]:
    """mean / median / p90 / min / max of the non-None latencies (None when there is none)."""
    x = np.asarray([v for v in latencies if v is not None], dtype=np.float64)
    if x.size == 0:
        return {"mean": None, "median": None, "p90": None, "min": None, "max": None}
    return {"mean": _r(x.mean()), "median": _r(np.median(x)), "p90": _r(np.percentile(x, 90)),
            "min": _r(x.min()), "max": _r(x.max())}


def summarize(results: Sequence[dict[str, Any]], key: str = "success") -> dict[str, Any]:
    """Success rate over the scored events (``key`` not None) and latency stats of the successes."""
    scored = [r for r in results if r.get(key) is not None]
    hits = sum(1 for r in scored if r[key])
    reasons: dict[str, int] = {}
    for r in results:
        reasons[r.get("reason", "")] = reasons.get(r.get("reason", ""), 0) + 1
    return {
        "events": len(results),
        "scored": len(scored),
        "count": hits,
        "rate": _r(hits / len(scored)) if scored else None,
        "latency": latency_stats(r.get("latency") for r in scored if r[key]),
        "reasons": dict(sorted(reasons.items())),
    }


def summarize_false_alarms(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    s = summarize(results, key="false_alarm")
    return {"events": s["events"], "scored": s["scored"], "false_alarms": s["count"], "rate": s["rate"], "reasons": s["reasons"]}


# ----------------------------------------------------------------------------- text quality


def bleu(hyps: Sequence[str], refs: Sequence[str]) -> Optional[float]:
    """Corpus BLEU (sacrebleu, default 13a tokenisation) of hypotheses against one reference each."""
    import sacrebleu

    if len(hyps) != len(refs):
        raise ValueError(f"bleu: {len(hyps)} hypotheses for {len(refs)} references")
    if not hyps:
        return None
    return _r(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score, 3)


def normalize_text(text: str) -> str:
    """Lower case, punctuation removed, single spaces (for WER against ASR output)."""
    import re

    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def wer(hyps: Sequence[str], refs: Sequence[str]) -> Optional[float]:
    """Word error rate (jiwer) on normalised text; empty references are skipped."""
    import jiwer

    pairs = [(normalize_text(h), normalize_text(r)) for h, r in zip(hyps, refs) if normalize_text(r)]
    if not pairs:
        return None
    return _r(jiwer.wer([r for _, r in pairs], [h for h, _ in pairs]))


# ----------------------------------------------------------------------------- events of an eval cut


@dataclass
class CutEvents:
    """The scripted events of one evaluation conversation, in seconds on its timeline."""

    user_turn_ends: list[float] = field(default_factory=list)
    #: Reference latency of each user turn end (reference agent start - user end).
    reference_turn_latencies: list[float] = field(default_factory=list)
    interruptions: list[float] = field(default_factory=list)
    #: Kept agent speech after each interruption in the reference (``custom.barge_in[].kept``).
    reference_kept: list[float] = field(default_factory=list)
    backchannels: list[Interval] = field(default_factory=list)
    noise: list[Interval] = field(default_factory=list)
    #: For each backchannel then each noise event: the prompt end and the reference answer end.
    fa_prompt_ends: list[Optional[float]] = field(default_factory=list)
    fa_reference_ends: list[Optional[float]] = field(default_factory=list)
    user_supervisions: list[Interval] = field(default_factory=list)
    agent_supervisions: list[Interval] = field(default_factory=list)
    agent_text: str = ""

    @property
    def false_alarm_events(self) -> list[Interval]:
        return list(self.backchannels) + list(self.noise)

    @property
    def false_alarm_kinds(self) -> list[str]:
        return ["backchannel"] * len(self.backchannels) + ["noise"] * len(self.noise)


def sup_kind(sup: Any) -> str:
    return str((getattr(sup, "custom", None) or {}).get("kind", "turn"))


def cut_events(cut: Any) -> CutEvents:
    """Turn ends, interruptions, backchannels and noise events of an eval cut (no audio decoding).

    Interruptions come from ``custom.barge_in[].t_cut``; without it, a user turn that starts inside an
    agent supervision is one. Backchannels come from ``custom.backchannels`` (else supervisions of
    kind "backchannel"); noise events from ``custom.augmentations[name=noise].noise_intervals`` that
    start inside an agent turn."""
    custom = getattr(cut, "custom", None) or {}
    sups = sorted(cut.supervisions, key=lambda s: (s.start, s.speaker))
    users = [s for s in sups if s.speaker == "user" and sup_kind(s) != "backchannel"]
    agents = [s for s in sups if s.speaker == "agent"]
    ev = CutEvents(
        user_supervisions=[(s.start, s.end) for s in sups if s.speaker == "user"],
        agent_supervisions=[(s.start, s.end) for s in agents],
        agent_text=" ".join((s.text or "").strip() for s in agents).strip(),
    )
    # Turn-taking: each user turn answered by an agent turn that starts after it ends.
    for k, u in enumerate(users):
        nxt_user = users[k + 1].start if k + 1 < len(users) else math.inf
        answers = [a for a in agents if u.end - 1e-6 <= a.start < nxt_user]
        if answers:
            ev.user_turn_ends.append(_r(u.end))
            ev.reference_turn_latencies.append(_r(answers[0].start - u.end))
    # Barge-ins.
    records = custom.get("barge_in") or []
    if records:
        ev.interruptions = [_r(float(b["t_cut"])) for b in records]
        ev.reference_kept = [float(b.get("kept", 0.0)) for b in records]
    else:
        for u in users:
            a = next((a for a in agents if a.start < u.start < a.end), None)
            if a is not None:
                ev.interruptions.append(_r(u.start))
                ev.reference_kept.append(_r(a.end - u.start))

    def prompt_and_ref_end(t: float) -> tuple[Optional[float], Optional[float]]:
        a = next((a for a in agents if a.start <= t <= a.end), None)
        if a is None:
            return None, None
        prev = [u.end for u in users if u.end <= a.start + 1e-6]
        return (max(prev) if prev else None), _r(a.end)

    bcs = custom.get("backchannels") or []
    if bcs:
        ev.backchannels = [(_r(b["start"]), _r(b["end"])) for b in bcs]
    else:
        ev.backchannels = [(_r(s.start), _r(s.end)) for s in sups if s.speaker == "user" and sup_kind(s) == "backchannel"]
    for rec in custom.get("augmentations") or []:
        if isinstance(rec, dict) and rec.get("name") == "noise":
            for a0, a1 in rec.get("noise_intervals") or []:
                for ag in agents:
                    if ag.start <= a0 < ag.end:
                        ev.noise.append((_r(a0), _r(min(a1, ag.end))))
    for s, _ in ev.false_alarm_events:
        p, r = prompt_and_ref_end(s)
        ev.fa_prompt_ends.append(p)
        ev.fa_reference_ends.append(r)
    return ev


def score_cut(
    events: CutEvents,
    agent_intervals: Sequence[Interval],
    *,
    turn_max_latency: float = TURN_MAX_LATENCY_S,
    turn_early_s: float = 0.1,
    barge_in_max_latency: float = BARGE_IN_MAX_LATENCY_S,
    barge_in_pre_s: float = 0.25,
    continue_s: float = BACKCHANNEL_CONTINUE_S,
    min_pause_s: float = 0.2,
) -> dict[str, list[dict[str, Any]]]:
    """All three behavioural metrics of one conversation given the agent's speech intervals."""
    fa = false_alarms(events.false_alarm_events, agent_intervals, continue_s, events.fa_prompt_ends,
                      events.fa_reference_ends, min_pause_s)
    for r, kind in zip(fa, events.false_alarm_kinds):
        r["kind"] = kind
    return {
        "turn_taking": turn_taking(events.user_turn_ends, agent_intervals, turn_max_latency, turn_early_s),
        "barge_in": barge_in(events.interruptions, agent_intervals, barge_in_max_latency, barge_in_pre_s, min_pause_s),
        "false_alarm": fa,
    }


def _r(x: Optional[float], nd: int = 4) -> Optional[float]:
    return None if x is None else round(float(x), nd)


__all__ = [
    "Interval",
    "merge_intervals",
    "covering",
    "speaking_at",
    "overlaps",
    "total_duration",
    "turn_taking",
    "barge_in",
    "false_alarms",
    "latency_stats",
    "summarize",
    "summarize_false_alarms",
    "bleu",
    "wer",
    "normalize_text",
    "CutEvents",
    "cut_events",
    "score_cut",
    "TURN_MAX_LATENCY_S",
    "BARGE_IN_MAX_LATENCY_S",
    "BACKCHANNEL_CONTINUE_S",
]
