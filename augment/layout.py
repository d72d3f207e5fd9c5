"""Timeline arithmetic of the two-stream layout: seconds -> samples, the shared 20 ms grid, placing audio.

```
user : [user_1][gap][ silence for agent_1 ][user_2][gap][ silence ] ... [gap]
agent: [ silence for user_1 ][gap][agent_1][ silence for user_2 ][gap][agent_2] ... [gap]
```

Times are kept in seconds; each stream places a turn at ``round(t * sample_rate)``, so every gap is
exact to within half a sample of either stream. The total duration is rounded up to a multiple of
20 ms (the common grid of 16 kHz and 22,050 Hz: 320 and 441 samples) so both streams have the same
duration to the sample. :func:`duplexgen.augment.assemble.assemble` is the one layout function.

Example::

    round_up_to_grid(3.301) == 3.32
    place(stream, audio, start_s=1.28, sample_rate=16000)   # adds audio at sample 20480
"""

from __future__ import annotations

import math

import numpy as np

#: Both stream rates divide evenly into 20 ms (16000/50 = 320, 22050/50 = 441).
COMMON_GRID_S = 0.02


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


__all__ = ["COMMON_GRID_S", "to_samples", "round_up_to_grid", "place"]
