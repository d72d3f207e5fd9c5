"""UltraChat: multi-turn user/assistant chats, kept to the first N exchanges (SALM-Duplex: 3k hours, 4 turns).

UltraChat (https://github.com/thunlp/UltraChat, MIT) and its filtered ``HuggingFaceH4/ultrachat_200k``
(MIT). Two schemas are read, also mixed in one file:

- ultrachat_200k: ``{prompt, prompt_id, messages: [{role: "user"|"assistant", content}]}``
  (``prompt``/``prompt_id`` may be absent, e.g. exports with the ``messages`` column only);
- the original release: ``{"id", "data": [user, assistant, user, ...]}``, a list of strings.

A leading system message is dropped; the chat must then start with the user and alternate. The
first ``max_exchanges`` (default 4) user/agent pairs are kept; a trailing unanswered user message is dropped.

Example::

    conv = to_conversation(next(read_rows("train_sft.jsonl")), seed=1, max_exchanges=4)
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn
from duplexgen.recipes.base import Recipe, SourceRow, conversation_id, read_json_rows
from duplexgen.text.normalize import apply_options

NAME = "ultrachat"
DEFAULT_EXCHANGES = 4
_ROLES = {"user": USER, "human": USER, "assistant": AGENT, "gpt": AGENT, "agent": AGENT}


def read_rows(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[SourceRow]:
    return read_json_rows(path, NAME, start, stop)


def _messages(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) pairs from either schema; ValueError naming the problem."""
    if data.get("messages") is not None:
        msgs = data["messages"]
        if not isinstance(msgs, list):
            raise ValueError(f"field 'messages' is {type(msgs).__name__}, expected a list")
        out = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                raise ValueError(f"message {i} is {type(m).__name__}, expected an object")
            role = str(m.get("role", "")).lower()
            if role == "system" and i == 0:
                continue
            if role not in _ROLES:
                raise ValueError(f"message {i} has role {m.get('role')!r}, expected user or assistant")
            content = m.get("content")
            if not isinstance(content, str) or not content.strip():
                raise ValueError(f"message {i} has no text")
            out.append((_ROLES[role], content.strip()))
        return out
    if data.get("data") is not None:
        turns = data["data"]
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise ValueError("field 'data' must be a list of strings (user, assistant, user, ...)")
        if any(not t.strip() for t in turns):
            raise ValueError("field 'data' has an empty turn")
        return [(USER if i % 2 == 0 else AGENT, t.strip()) for i, t in enumerate(turns)]
    raise ValueError("missing field 'messages' (ultrachat_200k) or 'data' (original UltraChat)")


def to_conversation(row: SourceRow, seed: int, **options) -> Conversation:
    item = f"{NAME}:{row.row_id}"
    if row.error:
        raise RejectError(row.error, stage="source", item=item)
    max_exchanges = int(options.get("max_exchanges", DEFAULT_EXCHANGES))
    if max_exchanges < 1:
        raise ValueError(f"sources[].options.max_exchanges must be >= 1, got {max_exchanges}")
    data = row.data or {}
    try:
        msgs = _messages(data)
    except ValueError as e:
        raise RejectError(str(e), stage="source", item=item) from None
    if not msgs or msgs[0][0] != USER:
        raise RejectError("conversation does not start with the user", stage="source", item=item)
    for i in range(1, len(msgs)):
        if msgs[i][0] == msgs[i - 1][0]:
            raise RejectError(f"roles do not alternate (messages {i - 1} and {i} are both {msgs[i][0]})", stage="source", item=item)
    pairs = len(msgs) // 2
    if pairs < 1:
        raise RejectError("no answered user message", stage="source", item=item)
    kept = msgs[: 2 * min(pairs, max_exchanges)]
    row_id = str(data.get("prompt_id") or data.get("id") or row.row_id)
    conv = Conversation(
        id=conversation_id(NAME, row_id, seed),
        source=NAME,
        recipe=NAME,
        row_id=row_id,
        seed=seed,
        turns=[Turn(role, text) for role, text in kept],
        meta={"exchanges": len(kept) // 2, "exchanges_in_source": pairs},
    )
    return apply_options(conv, options)


RECIPE = Recipe(
    name=NAME,
    read_rows=read_rows,
    to_conversation=to_conversation,
    sample_file="ultrachat_sample.jsonl",
    description="UltraChat chats (ultrachat_200k messages or original data list), first N exchanges",
)
