"""Real conversations (bring your own): the paper's "internal SFT" slot (3k hours of real spoken multi-turn QA).

NVIDIA's internal set is not public; this recipe lets you fill the slot with your own recordings.
JSON Lines, one conversation per line, in either of two forms:

Per-turn audio (each turn its own file or span; a turn without audio is rendered by TTS)::

    {"id": "call-001",
     "turns": [{"speaker": "user",  "text": "hi, what's the weather like", "audio_filepath": "call-001/u0.flac",
                "offset": 0.0, "duration": 2.1},
               {"speaker": "agent", "text": "It is sunny and warm today."}]}

Two-channel recording + segments (user on one channel, agent on the other)::

    {"id": "call-002", "audio_filepath": "call-002.wav", "channels": {"user": 0, "agent": 1},
     "segments": [{"speaker": "user", "start": 0.4, "end": 2.3, "text": "..."},
                  {"speaker": "agent", "start": 2.9, "end": 6.0, "text": "..."}]}

Paths are relative to the JSONL file's folder and must stay inside it (or ``options.audio_root``).
Speakers are ``user``/``agent`` (``assistant`` is accepted); consecutive segments of one speaker are
merged when they come from the same file and channel, else the row is rejected; the conversation must
start with the user. Turns with real audio keep their transcript verbatim (no normalization). Real agent
audio is resampled to 22.05 kHz; note that its voice is not the fixed agent voice of the TTS turns.

Options: ``max_exchanges`` (null = all), ``max_audio_s`` (30 per turn).

Example::

    conv = to_conversation(next(read_rows("my_dialogs.jsonl")), seed=1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn
from duplexgen.recipes.asr_qa import resolve_audio_path
from duplexgen.core.config import help_field
from duplexgen.recipes.base import Recipe, SourceOptions, SourceRow, conversation_id, read_json_rows

NAME = "real_conversations"
DEFAULT_MAX_AUDIO_S = 30.0


@dataclass
class RealConversationsOptions(SourceOptions):
    max_exchanges: Optional[int] = help_field("keep the first N user/agent exchanges (null = all)", None)
    max_audio_s: float = help_field("longest turn audio in seconds (longer: the conversation is rejected)", DEFAULT_MAX_AUDIO_S)
    audio_root: Optional[str] = help_field("the folder audio files must lie in (default: the JSONL file's folder)", None)
_SPEAKERS = {"user": USER, "agent": AGENT, "assistant": AGENT}


def read_rows(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[SourceRow]:
    from pathlib import Path

    root = str(Path(path).resolve().parent)
    for row in read_json_rows(path, NAME, start, stop):
        if row.data is not None:
            row.data = dict(row.data, _manifest_dir=root)
        yield row


def _number(value: Any, name: str, *, default: Optional[float] = None) -> Optional[float]:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"bad {name} ({value!r}; seconds >= 0)")
    return float(value)


def _speaker(value: Any, where: str) -> str:
    who = str(value or "").strip().lower()
    if who not in _SPEAKERS:
        raise ValueError(f"{where}: speaker {value!r} (expected user or agent)")
    return _SPEAKERS[who]


def _turns_form(data: dict[str, Any], root: str, audio_root: Optional[str]) -> list[Turn]:
    turns = []
    for i, t in enumerate(data["turns"]):
        if not isinstance(t, dict):
            raise ValueError(f"turn {i} is {type(t).__name__}, expected an object")
        role = _speaker(t.get("speaker", t.get("role")), f"turn {i}")
        text = t.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"turn {i} has no text")
        turn = Turn(role, " ".join(text.split()))
        if t.get("audio_filepath"):
            turn.audio_path = resolve_audio_path(str(t["audio_filepath"]), root, audio_root)
            turn.audio_offset = _number(t.get("offset"), f"turn {i} offset", default=0.0) or 0.0
            turn.audio_duration = _number(t.get("duration"), f"turn {i} duration")
            if turn.audio_duration is not None and turn.audio_duration <= 0:
                raise ValueError(f"turn {i}: duration must be > 0")
        turns.append(turn)
    return turns


def _two_channel_form(data: dict[str, Any], root: str, audio_root: Optional[str]) -> list[Turn]:
    path = resolve_audio_path(str(data["audio_filepath"]), root, audio_root)
    channels = data.get("channels") or {"user": 0, "agent": 1}
    if not isinstance(channels, dict) or not all(isinstance(channels.get(k), int) for k in ("user", "agent")):
        raise ValueError("'channels' must map user and agent to channel numbers, e.g. {\"user\": 0, \"agent\": 1}")
    segments = data.get("segments")
    if not isinstance(segments, list) or not segments:
        raise ValueError("missing or empty 'segments'")
    turns = []
    for i, s in enumerate(sorted(segments, key=lambda s: s.get("start", 0) if isinstance(s, dict) else 0)):
        if not isinstance(s, dict):
            raise ValueError(f"segment {i} is {type(s).__name__}, expected an object")
        role = _speaker(s.get("speaker"), f"segment {i}")
        start, end = _number(s.get("start"), f"segment {i} start"), _number(s.get("end"), f"segment {i} end")
        if start is None or end is None or end <= start:
            raise ValueError(f"segment {i}: needs start < end in seconds, got {s.get('start')!r}..{s.get('end')!r}")
        text = s.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"segment {i} has no text")
        turns.append(
            Turn(role, " ".join(text.split()), audio_path=f"{path}#channel={channels[role]}", audio_offset=start, audio_duration=end - start)
        )
    return turns


def _merge_same_speaker(turns: list[Turn]) -> list[Turn]:
    """Join back-to-back pieces of one speaker's turn (same file and channel: extend the span)."""
    merged: list[Turn] = []
    for t in turns:
        prev = merged[-1] if merged else None
        if prev is None or prev.role != t.role:
            merged.append(t)
            continue
        if prev.audio_path and prev.audio_path == t.audio_path and prev.audio_duration is not None and t.audio_duration is not None:
            prev.audio_duration = t.audio_offset + t.audio_duration - prev.audio_offset
            prev.text = f"{prev.text} {t.text}"
        elif prev.audio_path is None and t.audio_path is None:
            prev.text = f"{prev.text} {t.text}"
        else:
            raise ValueError(f"two {t.role} turns in a row with different audio; split them into separate conversations")
    return merged


def to_conversation(row: SourceRow, seed: int, **options) -> Conversation:
    item = f"{NAME}:{row.row_id}"
    if row.error:
        raise RejectError(row.error, code="source.unreadable", stage="source", item=item)
    data = row.data or {}
    root = data.get("_manifest_dir", ".")
    audio_root = options.get("audio_root")
    try:
        if isinstance(data.get("turns"), list):
            turns = _turns_form(data, root, audio_root)
        elif data.get("audio_filepath"):
            turns = _two_channel_form(data, root, audio_root)
        else:
            raise ValueError("needs 'turns' (per-turn form) or 'audio_filepath' + 'segments' (two-channel form)")
        turns = _merge_same_speaker(turns)
    except RejectError as e:
        raise RejectError(e.reason, code=e.code, stage="source", item=item) from None
    except ValueError as e:
        raise RejectError(str(e), code="source.bad-value", stage="source", item=item) from None
    if not turns or turns[0].role != USER:
        raise RejectError("conversation does not start with the user", code="source.bad-turns", stage="source", item=item)
    if len(turns) < 2:
        raise RejectError("no agent turn", code="source.too-few-turns", stage="source", item=item)
    max_s = float(options.get("max_audio_s", DEFAULT_MAX_AUDIO_S))
    for i, t in enumerate(turns):
        if t.audio_duration is not None and t.audio_duration > max_s:
            raise RejectError(f"audio too long (turn {i}: {t.audio_duration:.2f} s > sources[].options.max_audio_s={max_s})", code="source.audio-too-long", stage="source", item=item)
    max_exchanges = options.get("max_exchanges")
    if max_exchanges:
        turns = turns[: 2 * int(max_exchanges)]
    if turns[-1].role == USER:
        turns = turns[:-1]  # an unanswered last question
    row_id = str(data.get("id") or row.row_id)
    conv = Conversation(
        id=conversation_id(NAME, row_id, seed),
        source=NAME,
        recipe=NAME,
        row_id=row_id,
        seed=seed,
        turns=turns,
        meta={"max_audio_s": max_s, "real_audio_turns": sum(1 for t in turns if t.audio_path)},
    )
    return conv


@dataclass
class Timeline:
    """A two-channel row's turns on the recording's own clock: what ``augment.timing: custom`` fits offsets to."""

    id: str
    audio_path: str  # the two-channel recording (absolute)
    channels: dict[str, int]  # role -> channel
    segments: list[tuple[str, float, float]]  # (role, start_s, end_s) as given, sorted by start


def read_timelines(path: str, audio_root: Optional[str] = None) -> tuple[list[Timeline], dict[str, int]]:
    """Every two-channel row of a real-conversations JSONL as a :class:`Timeline`, and counts of the rows that are
    not: ``per_turn`` (separate files have no shared clock, so no turn-taking timing) and ``invalid`` (unreadable)."""
    timelines, skipped = [], {"per_turn": 0, "invalid": 0}
    for row in read_rows(path):
        data = row.data or {}
        if row.error or not data.get("audio_filepath"):
            skipped["per_turn" if isinstance(data.get("turns"), list) else "invalid"] += 1
            continue
        try:
            turns = _two_channel_form(data, data.get("_manifest_dir", "."), audio_root)
        except (ValueError, RejectError):
            skipped["invalid"] += 1
            continue
        channels = data.get("channels") or {"user": 0, "agent": 1}
        timelines.append(Timeline(
            id=str(data.get("id") or row.row_id),
            audio_path=turns[0].audio_path.rpartition("#channel=")[0],
            channels={USER: int(channels["user"]), AGENT: int(channels["agent"])},
            segments=[(t.role, float(t.audio_offset), float(t.audio_offset + (t.audio_duration or 0.0))) for t in turns],
        ))
    return timelines, skipped


RECIPE = Recipe(
    name=NAME,
    read_rows=read_rows,
    to_conversation=to_conversation,
    sample_file="real_conversations_sample.jsonl",
    description="your own spoken dialogs: per-turn audio or two-channel recordings with transcripts",
    needs_audio=True,
    options=RealConversationsOptions,
)
