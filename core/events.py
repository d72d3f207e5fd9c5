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
    floor_transfer_offsets([("user", 0, 2), ("agent", 1.8, 4)])   # [-0.2]: the agent overlapped the user
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

import numpy as np

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

    Interruptions come from ``custom.barge_in[].t_cut``; only a cut WITHOUT that key (not made by duplexgen)
    falls back to "a user turn that starts inside an agent supervision": with natural timing a user turn
    may overlap the end of an agent turn that is not cut, which is an overlap, not a barge-in. A user
    turn's answer is the first agent turn that starts after the user turn starts (natural timing: possibly
    before it ends, a negative reference latency). Backchannels come from ``custom.backchannels`` (else supervisions of
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
    # Turn-taking: each user turn answered by the agent turn that starts after it starts (paper timing: after
    # it ends; natural timing may overlap its end).
    for k, u in enumerate(users):
        nxt_user = users[k + 1].start if k + 1 < len(users) else math.inf
        answers = [a for a in agents if u.start < a.start < nxt_user]
        if answers:
            ev.user_turn_ends.append(_r(u.end))
            ev.reference_turn_latencies.append(_r(answers[0].start - u.end))
    # Barge-ins.
    records = custom.get("barge_in")
    if records is not None:
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


# ----------------------------------------------------------------------------- turn-transition timing


def floor_transfer_offsets(segments: Sequence[tuple[str, float, float]]) -> list[float]:
    """Floor-transfer offsets of one conversation from ``[(speaker, start, end), ...]``.

    A segment wholly inside another speaker's segment is a backchannel, not a transition (Heldner &
    Edlund 2010 count within-speaker overlaps apart); consecutive segments of one speaker are one turn."""
    segs = sorted(segments, key=lambda s: (s[1], s[2]))
    kept = [s for s in segs if not any(o[0] != s[0] and o[1] <= s[1] and s[2] <= o[2] for o in segs)]
    turns: list[list[Any]] = []
    for spk, a, b in kept:
        if turns and turns[-1][0] == spk:
            turns[-1][2] = max(turns[-1][2], b)
        else:
            turns.append([spk, a, b])
    return [round(nxt[1] - cur[2], 4) for cur, nxt in zip(turns, turns[1:])]


def between_speaker_intervals(a: Sequence[Interval], b: Sequence[Interval], step: float = 0.01) -> list[float]:
    """Between-speaker intervals of two speech-activity tracks (Heldner & Edlund 2010 definitions).

    A change from A-only to B-only speech through mutual silence is a gap (> 0), through both speaking an
    overlap (< 0), straight from one to the other 0; returns to the same speaker (pauses, within-speaker
    overlaps) are not transitions, and a change through both silence and overlap is ambiguous and left out.
    Resolution ``step`` seconds."""
    ends = [e for _, e in list(a) + list(b)]
    if not ends:
        return []
    n = int(math.ceil(max(ends) / step)) + 1

    def track(intervals):
        m = np.zeros(n, dtype=bool)
        for s, e in intervals:
            m[int(round(s / step)) : int(round(e / step))] = True
        return m

    ta, tb = track(a), track(b)
    state = np.where(ta & ~tb, 1, np.where(tb & ~ta, 2, np.where(ta & tb, 3, 0)))
    change = np.flatnonzero(np.diff(state)) + 1
    runs = zip(np.r_[0, change], np.r_[change, n])
    out, last, last_end = [], None, 0
    for i, j in runs:
        s = state[i]
        if s not in (1, 2):
            continue
        if last is not None and s != last:
            between = state[last_end:i]
            if not len(between):  # B took over within one step: an offset of 0 at this resolution
                out.append(0.0)
            elif np.all(between == 3):
                out.append(round(float(-(i - last_end) * step), 4))
            elif len(between) and np.all(between == 0):
                out.append(round(float((i - last_end) * step), 4))
        last, last_end = s, j
    return out


__all__ = ["Interval", "rounded", "merge_intervals", "covering", "speaking_at", "overlaps", "total_duration",
           "CutEvents", "sup_kind", "cut_events", "floor_transfer_offsets", "between_speaker_intervals"]
