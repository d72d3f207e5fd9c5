"""What a recipe is, and how source files are read.

A recipe turns rows of one public source, in that source's original schema, into
:class:`~duplexgen.core.records.Conversation` records (text turns, plus user audio where the
source has real audio). It is two plain functions, like a Lhotse recipe:

- ``read_rows(path, start=0, stop=None) -> Iterator[SourceRow]``: the rows ``[start, stop)`` of the
  source file, each with a stable row id; a row that cannot be parsed comes back with ``error`` set
  instead of ``data`` (it is rejected, the run goes on). Each chunk of a run reads only its own rows,
  so readers seek (an Arrow ``select`` on the memory-mapped table) instead of skipping from row 0.
- ``to_conversation(row, seed, options) -> Conversation``: validate one row and build the
  conversation; raise :class:`RejectError` with a reason for an unusable row.

A recipe declares what it needs from the pipeline (``needs_llm``: agent text is written by the LLM
stage; ``needs_audio``: user turns carry real audio files). The registry is the explicit dict
:data:`duplexgen.recipes.RECIPES`, which is what ``sources[].recipe`` in a generate config refers to.

Example::

    recipe = get_recipe("alpaca")
    for row in recipe.read_rows(recipe.default_path()):          # or read_rows(path, 200, 220): one chunk
        conv = recipe.to_conversation(row, seed=1234)
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from duplexgen.core.config import help_field
from duplexgen.core.records import Conversation, RejectError, SourceRow, safe_id
from duplexgen.text.normalize import NormalizeConfig

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


@dataclass
class SourceOptions:
    """Options every source takes (``sources[].options``); a recipe with options of its own extends this class."""

    normalize: NormalizeConfig = field(default_factory=NormalizeConfig, metadata={"help": "how this source's turns are made speakable"})
    fields: dict[str, str] = help_field(
        "the column of your file for a field the recipe reads, when the file is in none of the known layouts "
        "(e.g. {answer: response}); the fields of each recipe are listed below", {})


@dataclass
class Recipe:
    """A named source recipe: how to read the source and how to turn a row into a conversation."""

    name: str
    read_rows: Callable[[str], Iterator[SourceRow]]
    to_conversation: Callable[..., Conversation]
    #: The shipped sample file (inside recipes/samples/) used when a config gives no path.
    sample_file: Optional[str] = None
    description: str = ""
    #: The conversations leave agent turns for the LLM stage to write (answers, dialogs).
    needs_llm: bool = False
    #: User turns are real recordings (audio files resolved relative to the source file).
    needs_audio: bool = False
    #: The options class of ``sources[].options`` (checked when the config is loaded, listed by ``--help``).
    options: type = SourceOptions
    #: The fields the recipe reads -> the column names of the known public layouts, first found wins;
    #: ``sources[].options.fields`` maps a field to a column of the user's own file instead.
    fields: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def default_path(self) -> str:
        if self.sample_file is None:
            raise ValueError(f"recipe {self.name!r} ships no sample; set sources[].path")
        return str(SAMPLES_DIR / self.sample_file)


def check_options(recipe: Recipe, options: Optional[dict[str, Any]], where: str = "sources.N.options") -> Any:
    """The recipe's options object from a config's ``options`` dict; ValueError naming ``where`` and the valid keys
    for an unknown key, a wrong type, or a field mapping to a field the recipe does not read."""
    from omegaconf import OmegaConf

    options = dict(options or {})
    valid = [f.name for f in dataclasses.fields(recipe.options)]
    try:
        checked = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(recipe.options), OmegaConf.create(options)))
    except Exception as e:  # omegaconf names the key (first line, and "full_key: ..." below it); add what is valid
        lines = str(e).split("\n")
        full_key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.strip().startswith("full_key:")), "")
        at = f"{where}.{full_key}" if full_key else where
        raise ValueError(f"{at} (recipe {recipe.name}): {lines[0]}; valid keys of {where}: {', '.join(valid)}") from None
    unknown = sorted(set(checked.fields) - set(recipe.fields))
    if unknown:
        raise ValueError(f"{where}.fields of recipe {recipe.name}: it reads no field {unknown} "
                         f"(its fields: {', '.join(recipe.fields) or 'none'})")
    return checked


def field_columns(recipe_fields: dict[str, tuple[str, ...]], options: dict[str, Any], name: str) -> tuple[str, ...]:
    """The columns to look in for field ``name``: the user's mapping when given, else the known layouts' names."""
    mapped = (options.get("fields") or {}).get(name)
    return (mapped,) if mapped else recipe_fields[name]


def first_column(data: dict[str, Any], columns: Sequence[str], allow_null: bool = True) -> Optional[str]:
    """The first of ``columns`` with a value in the row, else (``allow_null``) the first the row has at all,
    null or not, else None. A table of mixed layouts has every layout's columns, null in the other rows."""
    found = next((c for c in columns if data.get(c) is not None), None)
    if found is None and allow_null:
        found = next((c for c in columns if c in data), None)
    return found


def unknown_layout(row: SourceRow, recipe: str, recipe_fields: dict[str, tuple[str, ...]], missing: Sequence[str],
                   options: dict[str, Any], layouts: str = "") -> RejectError:
    """The reject for a row whose fields fit no known layout: the fields it has, where the recipe looks,
    and the ``sources[].options.fields`` mapping that would make it readable."""
    # null columns are the table's (a file mixing layouts), not the row's
    found = ", ".join(sorted(k for k, v in (row.data or {}).items() if v is not None)) or "none"
    looked = "; ".join(f"{name} in {' or '.join(field_columns(recipe_fields, options, name))}" for name in missing)
    mapping = " ".join(f"sources[].options.fields.{name}=<column>" for name in missing)
    known = f"; known layouts: {layouts}" if layouts else ""
    return RejectError(f"the row has fields [{found}] but the recipe looks for {looked}{known}; map your columns with {mapping}",
                       code="source.unknown-layout", stage="source", item=f"{row.source}:{row.row_id}")


def check_input_file(path: str) -> None:
    """Stop at once, naming the path, when a source file is missing or unreadable."""
    if "://" in path:
        return  # object-store URLs are checked by the reader itself
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"source file not found: {path} (fix sources[].path in the config)")
    if not p.is_file():
        raise FileNotFoundError(f"source path is not a file: {path}")
    if not os.access(p, os.R_OK):
        raise PermissionError(f"source file is not readable: {path}")


def load_table(path: str):
    """A JSON array / JSONL / Parquet file as a Hugging Face ``datasets.Dataset`` (Arrow, memory-mapped;
    converted once per file and cached, so every later chunk opens it in milliseconds, and kept open per
    process: a worker reading chunk after chunk of one file opens it once, not once per chunk)."""
    if "://" in path:
        return _load_table(path, None, _datasets_cache_dir())
    st = os.stat(path)
    return _load_table(path, (st.st_size, st.st_mtime_ns), _datasets_cache_dir())


@functools.lru_cache(maxsize=8)
def _load_table(path: str, version: Optional[tuple[int, int]], cache_dir: str):
    """``version`` (size, mtime) makes a changed file a new entry."""
    import datasets

    datasets.disable_progress_bars()
    kind = "parquet" if path.endswith(".parquet") else "json"
    return datasets.load_dataset(kind, data_files=path, split="train", cache_dir=cache_dir)


def table_rows(ds, start: int = 0, stop: Optional[int] = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, row) for rows ``[start, stop)`` of a Dataset: a slice, rows before ``start`` are never read."""
    stop = len(ds) if stop is None else min(stop, len(ds))
    if start >= stop:
        return
    yield from zip(range(start, stop), ds.select(range(start, stop)))


def _datasets_cache_dir() -> str:
    # Keep datasets' Arrow cache out of the user's home and next to other caches we own.
    return os.environ.get("DUPLEXGEN_DATASETS_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "duplexgen", "datasets"))


def _read_tolerant_json(path: str) -> Iterator[tuple[Optional[dict[str, Any]], Optional[str]]]:
    """Fallback for files ``datasets`` refuses: parse record by record, keeping the readable ones."""
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                "fix the file or convert it to JSON Lines so that bad rows can be skipped one by one"
            ) from None
        for rec in records:
            yield (rec, None) if isinstance(rec, dict) else (None, f"record is {type(rec).__name__}, expected an object")
        return
    yield from parse_jsonl_lines(text.splitlines())


def parse_jsonl_lines(lines: Iterable[str]) -> Iterator[tuple[Optional[dict[str, Any]], Optional[str]]]:
    """(record, None) for each JSON-object line, (None, reason naming the line) for a bad one; blank lines skipped."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            yield None, f"line {lineno}: malformed JSON ({e.msg} at column {e.colno})"
            continue
        if not isinstance(rec, dict):
            yield None, f"line {lineno}: JSON {type(rec).__name__}, expected an object"
            continue
        yield rec, None


def read_json_rows(path: str, source: str, start: int = 0, stop: Optional[int] = None) -> Iterator[SourceRow]:
    """Rows ``[start, stop)`` of a JSON array, JSON Lines or Parquet file, ids = record index in the file.

    ``datasets`` reads well-formed files; a file it refuses (a malformed line, mixed types) is
    re-read record by record so that good rows are kept and each bad one becomes a rejected row."""
    check_input_file(path)
    try:
        ds = load_table(path)
    except Exception as e:  # datasets raises several types for schema/JSON problems
        if path.endswith(".parquet"):
            raise ValueError(f"{path}: cannot read Parquet file: {e}") from e
        log.warning("datasets could not read %s (%s); reading it record by record", path, type(e).__name__)
    else:
        for i, row in table_rows(ds, start, stop):
            yield SourceRow(source, str(i), data=row)
        return
    for i, (rec, err) in itertools.islice(enumerate(_read_tolerant_json(path)), start, stop):
        yield SourceRow(source, str(i), data=rec, error=err)


def require_str(row: SourceRow, key: str, *, allow_empty: bool = False) -> str:
    """A string field of a row, or a RejectError that names the row, the field and what is wrong."""
    assert row.data is not None
    if key not in row.data or row.data[key] is None:
        raise RejectError(f"missing field {key!r}", code="source.missing-field", stage="source", item=f"{row.source}:{row.row_id}")
    value = row.data[key]
    if not isinstance(value, str):
        raise RejectError(
            f"field {key!r} is {type(value).__name__}, expected a string", code="source.wrong-type", stage="source", item=f"{row.source}:{row.row_id}"
        )
    if not allow_empty and not value.strip():
        raise RejectError(f"field {key!r} is empty", code="source.missing-field", stage="source", item=f"{row.source}:{row.row_id}")
    return value


def conversation_id(source: str, row_id: str, seed: int, index: int = 0) -> str:
    """Stable cut id from source + row id + seed (+ an index when one row gives several conversations)."""
    suffix = f"-{index}" if index else ""
    return safe_id(source, row_id, f"s{seed}{suffix}")


__all__ = [
    "SourceRow",
    "SourceOptions",
    "Recipe",
    "check_options",
    "field_columns",
    "first_column",
    "unknown_layout",
    "read_json_rows",
    "require_str",
    "conversation_id",
    "check_input_file",
    "SAMPLES_DIR",
]
