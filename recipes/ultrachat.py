"""UltraChat: multi-turn user/assistant chats, kept to the first N exchanges (SALM-Duplex: 3k hours, 4 turns).

UltraChat (https://github.com/thunlp/UltraChat, MIT) and its filtered ``HuggingFaceH4/ultrachat_200k``
(MIT). The layouts public copies come in, also mixed in one file, JSON Lines or Parquet:

- ultrachat_200k: ``{prompt, prompt_id, messages: [{role: "user"|"assistant", content}]}``, and exports
  with the ``messages`` column only (or an extra ``text`` column, ignored);
- the original release: ``{"id", "data": [user, assistant, user, ...]}``, a list of strings;
- ShareGPT-style copies: ``{"conversations": [{"from": "human"|"gpt", "value"}]}``.

Any other file: ``sources[].options.fields`` maps ``messages`` (a list of message objects), ``role`` and
``content`` (the keys inside a message) or ``data`` (a list of strings) to your names. A leading system
message is dropped; the chat must then start with the user and alternate. The first ``max_exchanges``
(default 4) user/agent pairs are kept; a trailing unanswered user message is dropped.

Example::

    conv = to_conversation(next(read_rows("train_sft.jsonl")), seed=1, max_exchanges=4)
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn
from dataclasses import dataclass

from duplexgen.core.config import help_field
from duplexgen.recipes.base import (
    Recipe, SourceOptions, SourceRow, conversation_id, field_columns, first_column, read_json_rows, unknown_layout,
)

NAME = "ultrachat"
DEFAULT_EXCHANGES = 4
_ROLES = {"user": USER, "human": USER, "assistant": AGENT, "gpt": AGENT, "agent": AGENT}
#: field -> its column (or key inside a message) in the known layouts, first found wins.
FIELDS = {"messages": ("messages", "conversations"), "role": ("role", "from"), "content": ("content", "value"), "data": ("data",)}
LAYOUTS = "ultrachat_200k {prompt, prompt_id, messages} (or messages only), original {id, data}, ShareGPT {conversations}"


@dataclass
class UltrachatOptions(SourceOptions):
    max_exchanges: int = help_field("keep the first N user/agent exchanges of each chat", DEFAULT_EXCHANGES)

    def __post_init__(self):
        if self.max_exchanges < 1:
            raise ValueError(f"max_exchanges must be >= 1, got {self.max_exchanges}")


def read_rows(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[SourceRow]:
    return read_json_rows(path, NAME, start, stop)


def _messages(row: SourceRow, options: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) pairs from any known layout (or the user's field mapping); RejectError naming the problem."""
    data = row.data or {}
    item = f"{NAME}:{row.row_id}"
    # a file mixing layouts has both columns, null in the other layout's rows: take the one with a value
    msgs_col = first_column(data, field_columns(FIELDS, options, "messages"), allow_null=False)
    if msgs_col is not None:
        msgs = data[msgs_col]
        if not isinstance(msgs, list):
            raise RejectError(f"field {msgs_col!r} is {type(msgs).__name__}, expected a list", code="source.wrong-type", stage="source", item=item)
        role_keys, content_keys = field_columns(FIELDS, options, "role"), field_columns(FIELDS, options, "content")
        out = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                raise RejectError(f"message {i} is {type(m).__name__}, expected an object", code="source.wrong-type", stage="source", item=item)
            role_key, content_key = first_column(m, role_keys, allow_null=False), first_column(m, content_keys, allow_null=False)
            if role_key is None or content_key is None:
                missing = [n for n, k in (("role", role_key), ("content", content_key)) if k is None]
                raise RejectError(
                    f"message {i} has keys [{', '.join(sorted(m))}], no {' or '.join(missing)} "
                    f"(looked for {'; '.join(' or '.join(field_columns(FIELDS, options, n)) for n in missing)}); "
                    + " ".join(f"map it with sources[].options.fields.{n}=<key>" for n in missing),
                    code="source.unknown-layout", stage="source", item=item)
            role = str(m[role_key]).lower()
            if role == "system" and i == 0:
                continue
            if role not in _ROLES:
                raise RejectError(f"message {i} has role {m[role_key]!r}, expected user or assistant", code="source.bad-turns", stage="source", item=item)
            content = m[content_key]
            if not isinstance(content, str) or not content.strip():
                raise RejectError(f"message {i} has no text", code="source.missing-field", stage="source", item=item)
            out.append((_ROLES[role], content.strip()))
        return out
    data_col = first_column(data, field_columns(FIELDS, options, "data"), allow_null=False)
    if data_col is not None:
        turns = data[data_col]
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            raise RejectError(f"field {data_col!r} must be a list of strings (user, assistant, user, ...)", code="source.wrong-type", stage="source", item=item)
        if any(not t.strip() for t in turns):
            raise RejectError(f"field {data_col!r} has an empty turn", code="source.missing-field", stage="source", item=item)
        return [(USER if i % 2 == 0 else AGENT, t.strip()) for i, t in enumerate(turns)]
    raise unknown_layout(row, NAME, FIELDS, ["messages"], options, LAYOUTS)


def to_conversation(row: SourceRow, seed: int, **options) -> Conversation:
    item = f"{NAME}:{row.row_id}"
    if row.error:
        raise RejectError(row.error, code="source.unreadable", stage="source", item=item)
    max_exchanges = int(options.get("max_exchanges", DEFAULT_EXCHANGES))
    data = row.data or {}
    msgs = _messages(row, options)
    if not msgs or msgs[0][0] != USER:
        raise RejectError("conversation does not start with the user", code="source.bad-turns", stage="source", item=item)
    for i in range(1, len(msgs)):
        if msgs[i][0] == msgs[i - 1][0]:
            raise RejectError(f"roles do not alternate (messages {i - 1} and {i} are both {msgs[i][0]})", code="source.bad-turns", stage="source", item=item)
    pairs = len(msgs) // 2
    if pairs < 1:
        raise RejectError("no answered user message", code="source.too-few-turns", stage="source", item=item)
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
    return conv


RECIPE = Recipe(
    name=NAME,
    read_rows=read_rows,
    to_conversation=to_conversation,
    sample_file="ultrachat_sample.jsonl",
    description="UltraChat chats (ultrachat_200k messages, original data list, ShareGPT conversations), first N exchanges",
    options=UltrachatOptions,
    fields=FIELDS,
)
