"""Topic: LLM-written spoken dialogs on everyday topics (SALM-Duplex: 0.3k hours, 4-turn, 63 topics).

The paper's 63 topics are not public; ``samples/topics.txt`` ships 63 everyday topics written for
duplexgen (one per line, ``#`` comments). A file of your own may be plain text like that, or JSON
Lines ``{"topic": str, "persona": str (optional), "exchanges": int (optional)}``.

Each row becomes one conversation whose turns the LLM stage writes: ``meta["llm"] = {"task": "dialog",
"topic", "persona", "exchanges"}``. The persona (who the user is) is drawn from :data:`PERSONAS` by the
run seed and the topic, so that the same topic gets different speakers in runs with other seeds.

Example::

    conv = to_conversation(SourceRow("topic", "0", {"topic": "Cooking pasta at home"}), seed=7, exchanges=4)
    conv.meta["llm"]   # {"task": "dialog", "topic": "Cooking pasta at home", "persona": "...", "exchanges": 4}
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from duplexgen.core.records import Conversation, derive_seed, RejectError
from duplexgen.core.config import help_field
from duplexgen.recipes.base import Recipe, SourceOptions, SourceRow, check_input_file, conversation_id, read_json_rows

NAME = "topic"
DEFAULT_EXCHANGES = 4


@dataclass
class TopicOptions(SourceOptions):
    exchanges: int = help_field("user/agent exchanges the LLM writes per topic (1-12; a row's own 'exchanges' wins)", DEFAULT_EXCHANGES)

    def __post_init__(self):
        if not 1 <= self.exchanges <= 12:
            raise ValueError(f"exchanges must be in [1, 12], got {self.exchanges}")

#: Who the user is; varied so that dialogs on one topic differ in register and needs.
PERSONAS = [
    "a college student on a tight budget",
    "a retired teacher who loves gardening",
    "a busy nurse working night shifts",
    "a parent of two young children",
    "a software engineer who just moved to a new city",
    "a curious teenager",
    "a small business owner",
    "a traveler visiting the country for the first time",
    "an elderly person who is new to smartphones",
    "a fitness enthusiast training for a race",
    "a musician who plays in a local band",
    "a farmer from a rural area",
]


def read_rows(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[SourceRow]:
    """Plain text (one topic per line) or JSON Lines with a ``topic`` field."""
    check_input_file(path)
    if path.endswith((".json", ".jsonl", ".parquet")):
        yield from read_json_rows(path, NAME, start, stop)
        return
    yield from itertools.islice(_text_topics(path), start, stop)  # topic lists are small: skipping is cheap


def _text_topics(path: str) -> Iterator[SourceRow]:
    with open(path, encoding="utf-8") as f:
        n = 0
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            yield SourceRow(NAME, str(n), data={"topic": line})
            n += 1


def to_conversation(row: SourceRow, seed: int, **options) -> Conversation:
    item = f"{NAME}:{row.row_id}"
    if row.error:
        raise RejectError(row.error, code="source.unreadable", stage="source", item=item)
    data = row.data or {}
    topic = data.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        raise RejectError("missing or empty field 'topic'", code="source.missing-field", stage="source", item=item)
    topic = " ".join(topic.split())
    if len(topic) > 200:
        raise RejectError(f"topic too long ({len(topic)} chars > 200; a topic is a short phrase)", code="source.bad-value", stage="source", item=item)
    exchanges = data.get("exchanges") or options.get("exchanges", DEFAULT_EXCHANGES)
    if not isinstance(exchanges, int) or not 1 <= exchanges <= 12:
        raise RejectError(f"exchanges must be an integer in [1, 12], got {exchanges!r}", code="source.bad-value", stage="source", item=item)
    persona = data.get("persona")
    if not isinstance(persona, str) or not persona.strip():
        rng = np.random.default_rng(derive_seed(seed, NAME, topic))
        persona = PERSONAS[int(rng.integers(len(PERSONAS)))]
    conv = Conversation(
        id=conversation_id(NAME, row.row_id, seed),
        source=NAME,
        recipe=NAME,
        row_id=row.row_id,
        seed=seed,
        turns=[],  # written by the LLM stage
        meta={"llm": {"task": "dialog", "topic": topic, "persona": persona.strip(), "exchanges": exchanges}, "topic": topic},
    )
    return conv


RECIPE = Recipe(
    name=NAME,
    read_rows=read_rows,
    to_conversation=to_conversation,
    sample_file="topics.txt",
    description="everyday topics; the LLM writes an N-exchange spoken dialog per topic and persona",
    needs_llm=True,
    options=TopicOptions,
)

__all__ = ["read_rows", "to_conversation", "PERSONAS"]
