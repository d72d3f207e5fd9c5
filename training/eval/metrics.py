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

The events come from the evaluation cut (:func:`duplexgen.core.events.cut_events`): supervisions (speaker, ``custom.kind``
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
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from duplexgen.core.events import (CutEvents, Interval, covering, merge_intervals, overlaps, rounded as _r,
                                   speaking_at)

#: Public defaults (SALM-Duplex / NVIDIA eval scripts).
TURN_MAX_LATENCY_S = 1.6
BARGE_IN_MAX_LATENCY_S = 1.5
BACKCHANNEL_CONTINUE_S = 1.0


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


__all__ = [
    "turn_taking",
    "barge_in",
    "false_alarms",
    "latency_stats",
    "summarize",
    "summarize_false_alarms",
    "bleu",
    "wer",
    "normalize_text",
    "score_cut",
    "TURN_MAX_LATENCY_S",
    "BARGE_IN_MAX_LATENCY_S",
    "BACKCHANNEL_CONTINUE_S",
]
