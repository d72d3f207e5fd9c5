"""The words of a text: one definition for the aligners, the barge-in cut, ``validate`` and the export.

A word is a whitespace-separated token without its leading and trailing punctuation and symbols, in the
text's own spelling and case ("Okay," -> "Okay", "I'll" -> "I'll", "well-known," -> "well-known",
"(e.g." -> "e.g."). An abbreviation keeps its final period when the token has another period inside
("U.S.A." -> "U.S.A.", "p.m.," -> "p.m."; "Dr." -> "Dr"). A token without a letter or digit ("-", "—", "&")
is not a word: a voice does not say it (normalization verbalizes the symbols a reader would say).

A supervision's word alignment *spells its text* when its symbols are exactly ``word_symbols(text)``, in
order, with start times that never go back and every word inside the supervision.

Example::

    [w.text for w in word_tokens("Okay, I'll stop there.")]   # ['Okay', "I'll", 'stop', 'there']
    prefix_through("Okay, I'll stop there.", 2)                # "Okay, I'll"
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Optional, Sequence

_TOKEN = re.compile(r"\S+")
#: Times may disagree by rounding (alignments are stored to 0.1 ms, supervisions to 1 us).
TIME_TOL_S = 1e-3


@dataclass(frozen=True)
class WordToken:
    """One word of a text: its symbol and where it is (``start``/``end`` of the symbol, ``token_end`` of the
    whitespace token, i.e. including trailing punctuation such as the comma in "there,")."""

    text: str
    start: int
    end: int
    token_end: int


def _edge(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def word_tokens(text: str) -> list[WordToken]:
    """The words of ``text`` in order (see the module docstring for the rule)."""
    out = []
    for m in _TOKEN.finditer(text or ""):
        a, b = m.start(), m.end()
        while a < b and _edge(text[a]):
            a += 1
        while b > a and _edge(text[b - 1]):
            b -= 1
        if a == b or not any(ch.isalnum() for ch in text[a:b]):
            continue
        if b < m.end() and text[b] == "." and "." in text[a:b]:
            b += 1  # abbreviation: "U.S.A."
        out.append(WordToken(text[a:b], a, b, m.end()))
    return out


def word_symbols(text: str) -> list[str]:
    return [w.text for w in word_tokens(text)]


def prefix_through(text: str, n_words: int) -> str:
    """``text`` up to and including its ``n_words``-th word and the punctuation attached to it, verbatim."""
    if n_words <= 0:
        return ""
    tokens = word_tokens(text)
    if n_words > len(tokens):
        raise ValueError(f"text has {len(tokens)} words, asked for the first {n_words}")
    return text[: tokens[n_words - 1].token_end]


def is_word_prefix(full_text: str, kept_text: str) -> bool:
    """True when ``kept_text`` is ``full_text`` cut right after one of its whitespace tokens (and not empty)."""
    if not kept_text.strip() or not full_text.startswith(kept_text):
        return False
    return len(kept_text) == len(full_text) or full_text[len(kept_text)].isspace()


def alignment_problem(
    text: str, words: Sequence[tuple[str, float, float]], start: Optional[float] = None, end: Optional[float] = None
) -> Optional[str]:
    """Why ``words`` ((symbol, start, end), seconds) do not spell ``text`` in order inside [start, end]; None if they do."""
    want = word_symbols(text)
    got = [w[0] for w in words]
    if got != want:
        i = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        g = repr(got[i]) if i < len(got) else "nothing"
        w = repr(want[i]) if i < len(want) else "nothing"
        return f"alignment does not spell the text: word {i + 1} is {g} where the text has {w} ({len(got)} aligned words, {len(want)} in the text)"
    prev_end = -float("inf")
    for sym, a, b in words:
        if a < prev_end - TIME_TOL_S or b < a - TIME_TOL_S:
            return f"alignment times go backwards at {sym!r} [{a:.3f}, {b:.3f}] (previous word ends at {prev_end:.3f})"
        if (start is not None and a < start - TIME_TOL_S) or (end is not None and b > end + TIME_TOL_S):
            return f"aligned word {sym!r} [{a:.3f}, {b:.3f}] lies outside its supervision [{start:.3f}, {end:.3f}]"
        prev_end = b
    return None


__all__ = ["WordToken", "word_tokens", "word_symbols", "prefix_through", "is_word_prefix", "alignment_problem", "TIME_TOL_S"]
