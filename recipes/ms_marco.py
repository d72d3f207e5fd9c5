"""MS MARCO question answering: a user asks a web-search query, the agent speaks the answer (SALM-Duplex: 0.2k hours).

MS MARCO v2.1 (https://microsoft.github.io/msmarco/, Hugging Face ``microsoft/ms_marco`` config
``v2.1``; terms: non-commercial research): 1M Bing queries with human answers. A row is
``{query, query_id, query_type, answers: [str], wellFormedAnswers: [str], passages: {...}}``. Read as:

- JSON Lines / Parquet rows (the Hugging Face export), through ``datasets``;
- the original column-oriented JSON of the official download (``{"query": {"0": ...}, "answers": {"0": [...]}}``);
- the official evaluation references (``{"query_id", "answers"}``): they carry no query text, so each
  row is rejected with that reason (use them only joined with the queries).

The agent speaks a well-formed answer when there is one (full sentences, written for that purpose),
else the first answer. Rows whose answers are all empty or "No Answer Present." are rejected.

Example::

    for row in read_rows("ms_marco_v2.1_validation.jsonl"):
        conv = to_conversation(row, seed=1234)
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Optional

from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn
from duplexgen.recipes.base import Recipe, SourceRow, check_input_file, conversation_id, read_json_rows, require_str
from duplexgen.text.normalize import apply_options

NAME = "ms_marco"
NO_ANSWER = "no answer present."


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


def pick_answer(data: dict[str, Any]) -> tuple[str, str]:
    """(answer text, which field it came from); raises ValueError when there is no usable answer."""
    well_formed = _answer_list(data, "wellFormedAnswers")
    if well_formed:
        return well_formed[0], "wellFormedAnswers"
    answers = _answer_list(data, "answers")
    if answers:
        return answers[0], "answers"
    raw = data.get("answers")
    if isinstance(raw, list) and any(isinstance(a, str) and a.strip().lower() == NO_ANSWER for a in raw):
        raise ValueError("no answer present (the annotators found no answer in the passages)")
    raise ValueError("no answer (answers and wellFormedAnswers are empty)")


def to_conversation(row: SourceRow, seed: int, **options) -> Conversation:
    item = f"{NAME}:{row.row_id}"
    if row.error:
        raise RejectError(row.error, stage="source", item=item)
    data = row.data or {}
    if "query" not in data and "answers" in data:
        raise RejectError(
            "missing query text (a reference-answers row {query_id, answers}; join it with the queries file)",
            stage="source",
            item=item,
        )
    query = require_str(row, "query")
    try:
        answer, answer_field = pick_answer(data)
    except ValueError as e:
        raise RejectError(str(e), stage="source", item=item) from None
    row_id = str(data.get("query_id", row.row_id))
    query = query.strip()
    if query[-1] not in "?.!":
        query += "?"  # MS MARCO queries are keyword-style, unpunctuated; spoken they are questions
    conv = Conversation(
        id=conversation_id(NAME, row_id, seed),
        source=NAME,
        recipe=NAME,
        row_id=row_id,
        seed=seed,
        turns=[Turn(USER, query), Turn(AGENT, answer)],
        meta={"answer_field": answer_field, "query_type": data.get("query_type") or ""},
    )
    return apply_options(conv, options)


RECIPE = Recipe(
    name=NAME,
    read_rows=read_rows,
    to_conversation=to_conversation,
    sample_file="ms_marco_sample.jsonl",
    description="MS MARCO v2.1 rows (query, answers, wellFormedAnswers); the agent speaks the answer",
)
