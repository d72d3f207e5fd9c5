"""Alpaca: single-turn instructions and answers (SALM-Duplex: 0.2k hours).

Stanford Alpaca (https://github.com/tatsu-lab/stanford_alpaca, data CC BY-NC 4.0): 52k
instruction-following rows. The layouts public copies come in (JSON array, JSON Lines or Parquet):
``alpaca_data.json``'s ``{instruction, input, output}``, and the Hugging Face copies (``tatsu-lab/alpaca``,
``yahma/alpaca-cleaned``, ...) that add a ``text`` column (the prompt template, ignored here) or order the
columns differently. Any other file: ``sources[].options.fields: {instruction: <column>, output: <column>}``.

The user speaks the instruction, followed by the input when there is one; the agent speaks the
output. Rows with an empty instruction or output are rejected with a reason.

Example::

    rows = read_rows("alpaca_data.json")
    conv = to_conversation(next(rows), seed=1234)
"""

from __future__ import annotations

from typing import Iterator, Optional

from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn
from duplexgen.recipes.base import Recipe, SourceRow, conversation_id, field_columns, first_column, read_json_rows, require_str, unknown_layout

NAME = "alpaca"
#: field -> its column in the known layouts (``input`` is optional).
FIELDS = {"instruction": ("instruction",), "input": ("input",), "output": ("output",)}
LAYOUTS = "alpaca_data.json {instruction, input, output}, Hugging Face copies with an extra text column"


def read_rows(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[SourceRow]:
    return read_json_rows(path, NAME, start, stop)


def user_text(instruction: str, input_text: str) -> str:
    """What the user says: the instruction, then the input (joined as speech, not as a prompt template)."""
    instruction = instruction.strip()
    input_text = input_text.strip()
    if not input_text:
        return instruction
    sep = " " if instruction.endswith((".", "?", "!", ":")) else ": "
    return f"{instruction}{sep}{input_text}"


def to_conversation(row: SourceRow, seed: int, **options) -> Conversation:
    if row.error:
        raise RejectError(row.error, code="source.unreadable", stage="source", item=f"{NAME}:{row.row_id}")
    data = row.data or {}
    cols = {name: first_column(data, field_columns(FIELDS, options, name)) for name in FIELDS}
    missing = [name for name in ("instruction", "output") if cols[name] is None]
    if missing:
        raise unknown_layout(row, NAME, FIELDS, missing, options, LAYOUTS)
    instruction = require_str(row, cols["instruction"])
    output = require_str(row, cols["output"])
    input_text = data.get(cols["input"]) if cols["input"] else ""
    input_text = input_text or ""
    if not isinstance(input_text, str):
        raise RejectError(f"field {cols['input']!r} is {type(input_text).__name__}, expected a string", code="source.wrong-type", stage="source", item=f"{NAME}:{row.row_id}")
    return Conversation(
        id=conversation_id(NAME, row.row_id, seed),
        source=NAME,
        recipe=NAME,
        row_id=row.row_id,
        seed=seed,
        turns=[Turn(USER, user_text(instruction, input_text)), Turn(AGENT, output.strip())],
    )


RECIPE = Recipe(
    name=NAME,
    read_rows=read_rows,
    to_conversation=to_conversation,
    sample_file="alpaca_sample.json",
    description="Alpaca instruction/output rows (instruction, input, output)",
    fields=FIELDS,
)
