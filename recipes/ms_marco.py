"""MS MARCO question answering: a user asks a web-search query, the agent speaks the answer (SALM-Duplex: 0.2k hours).

MS MARCO (https://microsoft.github.io/msmarco/, Hugging Face ``microsoft/ms_marco``; terms: non-commercial
research): 1M Bing queries with human answers. The layouts public copies come in, all read as they are:

- Hugging Face export (v1.1 and v2.1; JSON Lines or Parquet): ``{query, query_id, query_type, answers: [str],
  wellFormedAnswers: [str], passages: {is_selected: [int], passage_text: [str], url: [str]}}``;
- the original v1.1 download (JSON Lines): the same, with ``passages`` a list of objects and often no
  ``wellFormedAnswers``;
- the original v2.1 download: one JSON object of columns keyed by row index (``{"query": {"0": ...},
  "answers": {"0": [...]}}``; ``wellFormedAnswers`` may be the string ``"[]"``);
- flattened question/answer pairs (benchmarks, RAG sets): ``{query, answer}`` or ``{question, answer}``, one
  answer string;
- the official evaluation references (``{"query_id", "answers"}``): they carry no query text, so each
  row is rejected with that reason (use them only joined with the queries).

Any other file: ``sources[].options.fields: {query: <column>, answer: <column>}``. The agent speaks a
well-formed answer when there is one (full sentences, written for that purpose), else the first answer.
Rows whose answers are all empty or "No Answer Present." are rejected.

Example::

    for row in read_rows("ms_marco_v2.1_validation.jsonl"):
        conv = to_conversation(row, seed=1234)
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Optional

from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn
from duplexgen.recipes.base import (
    Recipe, SourceRow, check_input_file, conversation_id, field_columns, first_column, read_json_rows, require_str,
    unknown_layout,
)

NAME = "ms_marco"
NO_ANSWER = "no answer present."
#: field -> its column in the known layouts, in order of preference (a well-formed answer beats a plain one).
FIELDS = {"query": ("query", "question"), "answer": ("wellFormedAnswers", "answers", "answer")}
LAYOUTS = "Hugging Face v1.1/v2.1 {query, answers, wellFormedAnswers, passages}, original v1.1/v2.1 downloads, {query|question, answer} pairs"


def _is_column_oriented(path: str) -> bool:
    """The official v2.1 files are one JSON object of columns keyed by row index."""
    if path.endswith(".parquet"):
        return False
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", errors="replace")
    return re.match(r'\s*\{\s*"[A-Za-z_]+"\s*:\s*\{', head) is not None


def read_rows(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[SourceRow]:
    check_input_file(path)
    if not _is_column_oriented(path):
        yield from read_json_rows(path, NAME, start, stop)
        return
    with open(path, encoding="utf-8") as f:
        columns: dict[str, dict[str, Any]] = json.load(f)
    index = sorted(next(iter(columns.values())).keys(), key=lambda k: int(k) if k.isdigit() else k)
    for key in index[start:stop]:
        yield SourceRow(NAME, key, data={col: values.get(key) for col, values in columns.items()})


def _answer_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if isinstance(value, str):  # some exports store "[]" as a string
        value = json.loads(value) if value.strip().startswith("[") else [value]
    if not isinstance(value, list):
        return []
    return [a.strip() for a in value if isinstance(a, str) and a.strip() and a.strip().lower() != NO_ANSWER]


def pick_answer(data: dict[str, Any], columns: tuple[str, ...] = FIELDS["answer"]) -> tuple[str, str]:
    """(answer text, the column it came from) from the first of ``columns`` with a usable answer; ValueError
    when the row has those columns but no usable answer in them."""
    for col in columns:
        answers = _answer_list(data, col)
        if answers:
            return answers[0], col
    raw = [a for col in columns for a in (data.get(col) if isinstance(data.get(col), list) else [data.get(col)])]
    if any(isinstance(a, str) and a.strip().lower() == NO_ANSWER for a in raw):
        raise ValueError("no answer present (the annotators found no answer in the passages)")
    present = [c for c in columns if c in data]
    raise ValueError(f"no answer ({' and '.join(present)} {'is' if len(present) == 1 else 'are'} empty)")


def to_conversation(row: SourceRow, seed: int, **options) -> Conversation:
    item = f"{NAME}:{row.row_id}"
    if row.error:
        raise RejectError(row.error, code="source.unreadable", stage="source", item=item)
    data = row.data or {}
    query_col = first_column(data, field_columns(FIELDS, options, "query"))
    answer_cols = tuple(c for c in field_columns(FIELDS, options, "answer") if c in data)
    if query_col is None and "answers" in data and "query_id" in data and not (options.get("fields") or {}).get("query"):
        raise RejectError(
            "missing query text (a reference-answers row {query_id, answers}; join it with the queries file)",
            code="source.no-query", stage="source", item=item,
        )
    missing = [name for name, found in (("query", query_col), ("answer", answer_cols)) if not found]
    if missing:
        raise unknown_layout(row, NAME, FIELDS, missing, options, LAYOUTS)
    query = require_str(row, query_col)
    try:
        answer, answer_field = pick_answer(data, answer_cols)
    except ValueError as e:
        raise RejectError(str(e), code="source.no-answer", stage="source", item=item) from None
    row_id = str(data.get("query_id", row.row_id))
    query = query.strip()
    if query[-1] not in "?.!":
        query += "?"  # MS MARCO queries are keyword-style, unpunctuated; spoken they are questions
    return Conversation(
        id=conversation_id(NAME, row_id, seed),
        source=NAME,
        recipe=NAME,
        row_id=row_id,
        seed=seed,
        turns=[Turn(USER, query), Turn(AGENT, answer)],
        meta={"answer_field": answer_field, "query_type": data.get("query_type") or ""},
    )


RECIPE = Recipe(
    name=NAME,
    read_rows=read_rows,
    to_conversation=to_conversation,
    sample_file="ms_marco_sample.jsonl",
    description="MS MARCO rows (query, answers, wellFormedAnswers; or query/question + answer); the agent speaks the answer",
    fields=FIELDS,
)
