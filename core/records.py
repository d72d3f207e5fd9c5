"""The typed records of the data flow, one per arrow.

```
SourceRow --recipe--> Conversation (text Turns) --tts--> RenderedTurn per turn (audio, Words)
          --augment--> TwoStreamCut (two streams + Segments) --pipeline--> shard + ManifestEntry
every stage: an unusable item -> RejectError -> Reject (rejects.jsonl)
```

Records are plain dataclasses that serialise to JSON-able dicts (``to_dict`` / ``from_dict``) so Ray
Data can move them between workers and the manifest can store them.

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

from duplexgen.core.timing import AGENT_SAMPLE_RATE, USER_SAMPLE_RATE

Role = Literal["user", "agent"]

#: The two speaker labels NeMo's DuplexS2SDataset is configured with (input/output roles).
USER: Role = "user"
AGENT: Role = "agent"

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
class SourceRow:
    """One row of a source file: its id (stable across reruns) and its fields, or why it is unreadable."""

    source: str
    row_id: str
    data: Optional[dict[str, Any]] = None
    error: Optional[str] = None


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
    """A spoken word and where it is in its turn's audio, in seconds from the turn's start.

    ``text`` is the word as the turn's text spells it (:func:`duplexgen.core.words.word_tokens`). ``joined``: the
    word's end is not a boundary the timing source measured (espeak spoke it and the next word as one word and
    the split between them is proportional); a barge-in never cuts there."""

    text: str
    start: float
    end: float
    joined: bool = False


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


@dataclass
class Segment:
    """One supervision on the shared timeline of a two-stream cut (seconds)."""

    speaker: str  # "user" | "agent"
    start: float
    duration: float
    text: str
    turn_index: int
    kind: str = "turn"
    voice: str = ""
    #: A barge-in cut keeps the first ``n_words`` of the turn's words (None: all of them).
    n_words: Optional[int] = None
    #: Where the turn's word timings come from (RenderedTurn.timing_source); written on the supervision.
    timing_source: str = ""

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class TwoStreamCut:
    """A conversation laid out as two streams on one timeline, plus supervisions and ``custom`` metadata.

    The user stream is at ``user_sample_rate`` (16 kHz), the agent stream at ``agent_sample_rate``
    (22,050 Hz); both last ``duration`` seconds to the sample."""

    user_audio: np.ndarray  # float32 at user_sample_rate
    agent_audio: np.ndarray  # float32 at agent_sample_rate
    segments: list[Segment]
    custom: dict[str, Any] = field(default_factory=dict)
    user_sample_rate: int = USER_SAMPLE_RATE
    agent_sample_rate: int = AGENT_SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.user_audio) / self.user_sample_rate


@dataclass
class Reject:
    """One dropped item, as written to ``rejects.jsonl``: which row, which stage, and why."""

    source: str
    row_id: str
    item: str
    stage: str
    reason: str
    #: the cause, a key of ``core.rejects.REJECT_KINDS`` (reports group by it; ``reason`` is this item's detail)
    code: str = "unclassified"

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Reject":
        # entries written before a field existed get its default
        return cls(**{f.name: str(d.get(f.name, "" if f.default is dataclasses.MISSING else f.default)) for f in dataclasses.fields(cls)})


@dataclass
class ManifestEntry:
    """A finished shard: written after its files are in place, so its presence is the resume marker.

    ``stats`` holds per-conversation facts (no audio) for the index and the report."""

    source: str
    shard_index: int
    cuts: int
    seconds: float
    rejects: list[dict[str, str]]
    files: dict[str, str]
    elapsed_s: float
    cut_ids: list[str] = field(default_factory=list)
    node_id: str = "local"
    stats: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    path: str = ""
    recipe: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ManifestEntry":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class RejectError(Exception):
    """A row, turn or conversation that cannot be used; carries the stage and a reason for the rejects file.

    Raise it from any stage for an item-level problem: the pipeline records it and carries on. ``code`` names
    the cause (a key of :data:`duplexgen.core.rejects.REJECT_KINDS`: what it means and which config key changes
    it); ``reason`` is the detail for this item."""

    def __init__(self, reason: str, *, code: str = "unclassified", stage: str = "", item: str = ""):
        from duplexgen.core.rejects import check_code

        super().__init__(reason)
        self.reason = reason
        self.code = check_code(code)
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
