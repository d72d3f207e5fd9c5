"""Make written text speakable: the text in the supervision must be the text that is spoken.

Strips markdown, code and URLs, collapses whitespace, and rejects a turn when too little speakable
text remains. Returns the new text and the list of changes, so reports can count rows changed.

Example::

    text, changes = normalize_for_speech("**Hi** see https://x.org")
    # text == "Hi see", changes == ["markdown", "url"]
"""

from __future__ import annotations

import re
import unicodedata

from duplexgen.pipeline.records import Conversation, RejectError

_CODE_BLOCK = re.compile(r"```.*?```", re.S)
_INLINE_CODE = re.compile(r"`([^`]*)`")
_URL = re.compile(r"https?://\S+|www\.\S+")
_MD_EMPH = re.compile(r"(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADER = re.compile(r"^\s{0,3}#{1,6}\s*", re.M)
_MD_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.M)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WS = re.compile(r"\s+")

#: A turn with fewer letters than this after cleaning is not worth speaking.
MIN_LETTERS = 2


def normalize_for_speech(text: str) -> tuple[str, list[str]]:
    changes: list[str] = []
    t = unicodedata.normalize("NFKC", text)
    if _CONTROL.search(t):
        t = _CONTROL.sub(" ", t)
        changes.append("control_chars")
    if _CODE_BLOCK.search(t):
        t = _CODE_BLOCK.sub(" ", t)
        changes.append("code_block")
    if _URL.search(t):
        t = _URL.sub(" ", t)
        changes.append("url")
    new = _INLINE_CODE.sub(r"\1", t)
    new = _MD_EMPH.sub(r"\2", new)
    new = _MD_HEADER.sub("", new)
    new = _MD_BULLET.sub("", new)
    if new != t:
        changes.append("markdown")
    t = _WS.sub(" ", new).strip()
    if sum(ch.isalpha() for ch in t) < MIN_LETTERS:
        raise RejectError("no speakable text left after normalization", stage="normalize")
    return t, changes


def normalize_conversation(conv: Conversation) -> Conversation:
    """Normalize every text turn; records what changed in ``conv.meta['normalized']``."""
    changed: dict[str, list[str]] = {}
    for i, turn in enumerate(conv.turns):
        if turn.audio_path:  # real audio: the transcript is what was said
            continue
        try:
            turn.text, changes = normalize_for_speech(turn.text)
        except RejectError as e:
            raise RejectError(f"turn {i} ({turn.role}): {e.reason}", stage="normalize", item=conv.id) from None
        if changes:
            changed[str(i)] = changes
    if changed:
        conv.meta["normalized"] = changed
    return conv
