"""The typed records that flow between stages.

Data flows one way: source rows -> :class:`Conversation` (text) -> :class:`RenderedTurn`
per turn (audio) -> an assembled two-stream cut -> shards. Records are plain dataclasses
that serialise to JSON-able dicts so Ray Data can move them between workers.

Example::

    conv = Conversation(
        id="alpaca-000003-s0", source="alpaca", recipe="alpaca", row_id="3", seed=1234,
        turns=[Turn("user", "Name three primary colors."), Turn("agent", "Red, yellow and blue.")],
    )
    Conversation.from_dict(conv.to_dict()) == conv
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import numpy as np

Role = Literal["user", "agent"]

#: The two speaker labels NeMo's DuplexS2SDataset is configured with (input/output roles).
USER: Role = "user"
AGENT: Role = "agent"

USER_SAMPLE_RATE = 16000
AGENT_SAMPLE_RATE = 22050
#: Paper default: 0.64 s = 8 frames of 80 ms between turns.
DEFAULT_GAP_S = 0.64
FRAME_S = 0.08

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(*parts: Any, max_len: int = 120) -> str:
    """A file-name-safe, stable id from arbitrary parts (no path traversal, no spaces).

    Long or unsafe parts are replaced by a short hash so ids stay unique."""
    raw = "-".join(str(p) for p in parts)
    cleaned = _SAFE_ID.sub("_", raw).strip("._-") or "x"
    if cleaned != raw or len(cleaned) > max_len:
        digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:10]
        cleaned = f"{cleaned[: max_len - 11]}-{digest}"
    return cleaned


@dataclass
class Turn:
    """One turn of a conversation as text, optionally with real recorded audio (ASR-QA, real dialogs)."""

    role: Role
    text: str
    #: Path to real audio for this turn (user turns of ASR-QA / bring-your-own data), else None -> TTS.
    audio_path: Optional[str] = None
    audio_offset: float = 0.0
    audio_duration: Optional[float] = None
    #: What kind of turn this is for augmentation: "turn" (normal), "interruption", "backchannel".
    kind: str = "turn"


@dataclass
class Conversation:
    """A conversation as text turns, user first, alternating user/agent."""

    id: str
    source: str
    recipe: str
    row_id: str
    seed: int
    turns: list[Turn]
    #: Free metadata carried to the cut's ``custom`` (e.g. text-normalisation changes).
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Conversation":
        d = dict(d)
        d["turns"] = [Turn(**t) for t in d["turns"]]
        return cls(**d)


@dataclass
class Word:
    """A spoken word and where it is in its turn's audio, in seconds from the turn's start."""

    text: str
    start: float
    end: float


@dataclass
class RenderedTurn:
    """One turn as audio, trimmed to speech, at the stream's sample rate.

    ``words`` are in seconds relative to the start of ``audio``; ``timing_source`` says where they
    come from ("espeak-events", "forced-alignment", "estimate", "none")."""

    role: Role
    text: str
    audio: np.ndarray  # float32, mono, in [-1, 1]
    sample_rate: int
    voice: str
    words: list[Word] = field(default_factory=list)
    timing_source: str = "none"
    kind: str = "turn"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


class RejectError(Exception):
    """A row, turn or conversation that cannot be used; carries the stage and a reason for the rejects file.

    Raise it from any stage for an item-level problem: the pipeline records it and carries on."""

    def __init__(self, reason: str, *, stage: str = "", item: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.stage = stage
        self.item = item


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed derived from the run seed and item ids: stable across runs, machines and workers."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class SkipRow(RejectError):
    """A row that is fine but produces no conversation of its own (e.g. chained into an earlier one):
    skipped silently, not counted as a reject."""


class OutputError(RuntimeError):
    """Output cannot be written (disk full, read-only, permissions): the run must stop, not reject items.

    Finished shards stay valid; rerunning after fixing the cause resumes."""
