"""The scripted events of a two-stream cut, and interval arithmetic on a timeline.

A duplexgen cut says what happens in it: user turn ends (the agent should take the turn), barge-ins
(``custom.barge_in[].t_cut``: the agent should stop), backchannels and noise over agent speech (the
agent should NOT stop). :func:`cut_events` reads them from the cut's supervisions and ``custom``
(no audio decoding); the evaluation scores a model against them, the audit measures the data
against them, the Full-Duplex-Bench export turns them into cases.

Intervals are ``(start_s, end_s)`` tuples, what a VAD returns.

Example::

    ev = cut_events(cut)
    ev.user_turn_ends, ev.interruptions, ev.backchannels
    merge_intervals([(0, 1), (1.1, 2)], max_gap=0.2)   # [(0.0, 2.0)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

Interval = tuple[float, float]


def rounded(x: Optional[float], nd: int = 4) -> Optional[float]:
    """Seconds rounded to 0.1 ms (``None`` stays ``None``)."""
    return None if x is None else round(float(x), nd)


_r = rounded


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


__all__ = ["Interval", "rounded", "merge_intervals", "covering", "speaking_at", "overlaps", "total_duration",
           "CutEvents", "sup_kind", "cut_events"]
