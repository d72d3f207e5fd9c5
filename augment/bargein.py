"""Barge-in math on one rendered agent turn: where to cut, what was said, and the faded truncation.

The paper keeps 0.64 s of agent speech after the user starts talking. We pick the point where the
agent's audio ends first, at a word boundary near ``frac * duration + kept_s`` (so no word is cut in
half and the text is exactly the words spoken), then the user's interruption starts ``kept_s`` earlier::

    agent : ...[word k-1][word k~fade]   silence
    user  :          |<- kept_s ->|
                   t_cut        t_end = t_cut + kept_s  (agent supervision ends here, EOS frame)

The fade (a few ms) lies inside the kept audio, so the agent stream is exactly zero from ``t_end``.

Example::

    cut = choose_cut(words, duration=3.2, frac=0.5, kept_s=0.64, sample_rate=22050)
    audio = truncate_with_fade(turn.audio, cut.keep_samples, fade_samples=110)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from duplexgen.core.records import Word
from duplexgen.core.words import prefix_through
from duplexgen.core.timing import FRAME_S


@dataclass
class CutPoint:
    """Where an interrupted agent turn ends (relative to the turn's start)."""

    keep_samples: int  # agent audio kept from the turn start, in samples
    n_words: int  # words spoken completely by then
    end_s: float  # keep_samples / sample_rate


def words_spoken_by(words: Sequence[Word], t: float, tol: float = 1e-9) -> list[Word]:
    """Words whose end is at or before ``t`` (turn-relative seconds)."""
    return [w for w in words if w.end <= t + tol]


def choose_cut(
    words: Sequence[Word],
    duration: float,
    frac: float,
    kept_s: float,
    sample_rate: int,
    min_cut_s: float = FRAME_S,
) -> Optional[CutPoint]:
    """The audio end nearest to ``frac * duration + kept_s`` that falls on a word boundary.

    The audio ends exactly where word k ends (``truncate_with_fade`` fades its last few ms) and word k+1
    starts no earlier, so the kept audio holds words 1..k and nothing of k+1: ``n_words = k``. At least one
    word is kept and one dropped, the cut (end - kept_s) is at least ``min_cut_s`` after the turn starts, and
    a boundary the timing source did not measure (``Word.joined``: espeak spoke both words as one) is never
    used. ``None`` when no word boundary qualifies."""
    if len(words) < 2:
        return None
    kept_n = int(round(kept_s * sample_rate))
    target = frac * duration + kept_s
    best: Optional[CutPoint] = None
    for k in range(len(words) - 1):
        w, nxt = words[k], words[k + 1]
        if w.joined:
            continue
        keep = int(math.ceil(w.end * sample_rate - 1e-6))  # never before the word's end
        if keep - kept_n < min_cut_s * sample_rate or keep > math.floor(nxt.start * sample_rate + 1 + 1e-6) or keep > round(duration * sample_rate):
            continue  # too early, or the next word would start inside the kept audio
        cand = CutPoint(keep_samples=keep, n_words=k + 1, end_s=keep / sample_rate)
        if best is None or abs(cand.end_s - target) < abs(best.end_s - target):
            best = cand
    return best


def fade_curve(n: int) -> np.ndarray:
    """A quarter-cosine fade of ``n`` samples from ~1 to ~0 that stays > 0 on its last sample."""
    j = np.arange(1, n + 1, dtype=np.float64)
    return np.cos(0.5 * np.pi * j / (n + 1)).astype(np.float32)


def truncate_with_fade(audio: np.ndarray, keep_samples: int, fade_samples: int) -> np.ndarray:
    """The first ``keep_samples`` of ``audio`` with its last ``fade_samples`` faded out."""
    out = np.array(audio[:keep_samples], dtype=np.float32, copy=True)
    m = min(fade_samples, len(out))
    if m > 0:
        out[len(out) - m :] *= fade_curve(m)
    return out


def spoken_text(full_text: str, n_words: int) -> str:
    """What the agent said before the cut: ``full_text`` up to and including its ``n_words``-th word and the
    punctuation attached to it, character for character (an exact prefix; never rebuilt from timed words).

    The turn's words are exactly the words of its text (:func:`duplexgen.core.words.word_tokens`; the
    renderer guarantees it), so the ``n_words`` words kept in the audio are the first ``n_words`` of the text."""
    return prefix_through(full_text, n_words)


__all__ = ["CutPoint", "choose_cut", "truncate_with_fade", "fade_curve", "words_spoken_by", "spoken_text"]
