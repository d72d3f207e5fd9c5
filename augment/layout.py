"""Two-stream layout: put rendered turns on one timeline, 0.64 s apart.

```
user : [user_1][gap][ silence for agent_1 ][user_2][gap][ silence ] ... [gap]
agent: [ silence for user_1 ][gap][agent_1][ silence for user_2 ][gap][agent_2] ... [gap]
```

Times are kept in seconds; each stream places a turn at ``round(t * sample_rate)``, so every gap is
exact to within half a sample of either stream. The total duration is rounded up to a multiple of
20 ms (the common grid of 16 kHz and 22,050 Hz: 320 and 441 samples) so both streams have the same
duration to the sample.

Example::

    out = layout_turns([user_turn, agent_turn], gap_s=0.64)
    out.user_audio.shape[0] / 16000 == out.agent_audio.shape[0] / 22050 == out.duration
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from duplexgen.pipeline.records import (
    AGENT,
    AGENT_SAMPLE_RATE,
    DEFAULT_GAP_S,
    USER,
    USER_SAMPLE_RATE,
    RenderedTurn,
)

#: Both stream rates divide evenly into 20 ms (16000/50 = 320, 22050/50 = 441).
COMMON_GRID_S = 0.02


@dataclass
class Segment:
    """One supervision on the shared timeline (seconds)."""

    speaker: str  # "user" | "agent"
    start: float
    duration: float
    text: str
    turn_index: int
    kind: str = "turn"
    voice: str = ""

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class Assembled:
    """A conversation laid out as two streams plus supervisions and metadata for ``custom``."""

    user_audio: np.ndarray  # float32 at user_sample_rate
    agent_audio: np.ndarray  # float32 at agent_sample_rate
    segments: list[Segment]
    custom: dict[str, Any] = field(default_factory=dict)
    user_sample_rate: int = USER_SAMPLE_RATE
    agent_sample_rate: int = AGENT_SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.user_audio) / self.user_sample_rate


def to_samples(t: float, sample_rate: int) -> int:
    """Seconds -> sample index on a stream (round half up, the same rule everywhere)."""
    return int(math.floor(t * sample_rate + 0.5))


def round_up_to_grid(t: float, grid: float = COMMON_GRID_S) -> float:
    # A tiny epsilon keeps exact multiples (0.64, 1.28, ...) from being pushed up a whole tick.
    return math.ceil(t / grid - 1e-9) * grid


def place(stream: np.ndarray, audio: np.ndarray, start_s: float, sample_rate: int) -> None:
    """Add ``audio`` into ``stream`` at ``start_s`` (in place)."""
    i = to_samples(start_s, sample_rate)
    stream[i : i + len(audio)] += audio[: max(0, len(stream) - i)]


def turn_starts(durations: Sequence[float], gaps: Sequence[float]) -> list[float]:
    """Start times of consecutive turns: each turn starts ``gap`` after the previous one ends."""
    starts, t = [], 0.0
    for d, g in zip(durations, gaps):
        starts.append(t)
        t = t + d + g
    return starts


def layout_turns(
    turns: Sequence[RenderedTurn],
    *,
    gap_s: float = DEFAULT_GAP_S,
    gaps: Optional[Sequence[float]] = None,
    user_sample_rate: int = USER_SAMPLE_RATE,
    agent_sample_rate: int = AGENT_SAMPLE_RATE,
) -> Assembled:
    """Lay out alternating turns (user first) with a gap after every turn, including the last.

    ``gaps`` overrides the per-turn gap (one per turn, the last one is the trailing gap)."""
    if not turns:
        raise ValueError("a conversation needs at least one turn")
    if turns[0].role != USER:
        raise ValueError(f"a conversation must start with the user, got {turns[0].role!r}")
    for t in turns:
        expected = user_sample_rate if t.role == USER else agent_sample_rate
        if t.sample_rate != expected:
            raise ValueError(f"{t.role} turn at {t.sample_rate} Hz, expected {expected} Hz")
    gaps = list(gaps) if gaps is not None else [gap_s] * len(turns)
    if len(gaps) != len(turns):
        raise ValueError(f"need one gap per turn ({len(turns)}), got {len(gaps)}")

    durations = [t.duration for t in turns]
    starts = turn_starts(durations, gaps)
    total = round_up_to_grid(starts[-1] + durations[-1] + gaps[-1])
    user = np.zeros(to_samples(total, user_sample_rate), dtype=np.float32)
    agent = np.zeros(to_samples(total, agent_sample_rate), dtype=np.float32)
    segments = []
    for i, (turn, start) in enumerate(zip(turns, starts)):
        stream, sr = (user, user_sample_rate) if turn.role == USER else (agent, agent_sample_rate)
        place(stream, turn.audio.astype(np.float32, copy=False), start, sr)
        segments.append(
            Segment(
                speaker=turn.role,
                start=start,
                duration=turn.duration,
                text=turn.text,
                turn_index=i,
                kind=turn.kind,
                voice=turn.voice,
            )
        )
    custom = {"gaps": [round(g, 6) for g in gaps]}
    return Assembled(user, agent, segments, custom, user_sample_rate, agent_sample_rate)


__all__ = ["Assembled", "Segment", "layout_turns", "to_samples", "round_up_to_grid", "place", "AGENT", "USER"]
