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
import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from duplexgen.core.records import Word
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
    """The audio end nearest to ``frac * duration + kept_s`` that falls on a word's end.

    The audio ends exactly where word k ends (``truncate_with_fade`` fades its last few ms), at least one
    word is kept and at least one word is dropped, and the cut (end - kept_s) is at least
    ``min_cut_s`` after the turn starts. ``None`` when no word boundary qualifies."""
    if len(words) < 2:
        return None
    kept_n = int(round(kept_s * sample_rate))
    target = frac * duration + kept_s
    best: Optional[CutPoint] = None
    for k in range(len(words) - 1):
        w, nxt = words[k], words[k + 1]
        keep = int(math.ceil(w.end * sample_rate - 1e-6))  # never before the word's end
        if keep - kept_n < min_cut_s * sample_rate or keep / sample_rate >= nxt.end or keep > round(duration * sample_rate):
            continue
        cand = CutPoint(keep_samples=keep, n_words=len(words_spoken_by(words, keep / sample_rate)), end_s=keep / sample_rate)
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


def _norm(token: str) -> str:
    return re.sub(r"[^\w']", "", token.lower())


def spoken_text(full_text: str, words: Sequence[Word], n_words: int) -> str:
    """The text up to and including the ``n_words``-th timed word, in the original spelling and punctuation.

    Timed words are matched in order to the text's whitespace-separated tokens, so a token the TTS did
    not time separately (espeak merges some function words into the next word's event) is still
    included when it lies before the last spoken word. Falls back to the timed words' own text when a
    word cannot be matched."""
    tokens = full_text.split()
    ptr, last = 0, -1
    for w in words[:n_words]:
        target = _norm(w.text)
        found = next((j for j in range(ptr, len(tokens)) if _norm(tokens[j]) == target), None)
        if not target or found is None:
            return " ".join(w.text for w in words[:n_words])
        last, ptr = found, found + 1
    return " ".join(tokens[: last + 1])


__all__ = ["CutPoint", "choose_cut", "truncate_with_fade", "fade_curve", "words_spoken_by", "spoken_text"]
