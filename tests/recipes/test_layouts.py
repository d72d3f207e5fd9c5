"""Every public layout of each source is read as it is (JSON, JSON Lines and a Parquet copy), and a file in
none of them is rejected with the fields it has and the ``sources[].options.fields`` mapping that reads it."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duplexgen.core.records import RejectError
from duplexgen.pipeline.config import load_generate_config
from duplexgen.pipeline.stages import ChunkTask, SourceStage, unpack_chunk
from duplexgen.recipes import get_recipe

LAYOUTS = Path(__file__).resolve().parent / "layouts"

#: file -> (recipe, conversations, first user turn, first agent turn)
READABLE = {
    "ms_marco_v2.1_hf.jsonl": ("ms_marco", 3, "what is the boiling point of water in fahrenheit?", "The boiling point of water is 212 degrees Fahrenheit at sea level."),
    "ms_marco_v1.1_original.jsonl": ("ms_marco", 3, "what is the boiling point of water in fahrenheit?", "212 degrees"),
    "ms_marco_v2.1_original.json": ("ms_marco", 3, "what is the boiling point of water in fahrenheit?", "The boiling point of water is 212 degrees Fahrenheit at sea level."),
    "ms_marco_flat_pairs.jsonl": ("ms_marco", 3, "what is the boiling point of water in fahrenheit?", "The boiling point of water is 212 degrees Fahrenheit at sea level."),
    "ms_marco_question_answer.jsonl": ("ms_marco", 2, "how long does it take to walk a mile?", "About 15 to 20 minutes."),
    "ultrachat_200k.jsonl": ("ultrachat", 2, "How can I stay focused working from home?", "Keep a schedule and a quiet workspace."),
    "ultrachat_messages_only.jsonl": ("ultrachat", 2, "How can I stay focused working from home?", "Keep a schedule and a quiet workspace."),
    "ultrachat_original.jsonl": ("ultrachat", 2, "How can I stay focused working from home?", "Keep a schedule and a quiet workspace."),
    "ultrachat_sharegpt.jsonl": ("ultrachat", 2, "Can you suggest a quick breakfast?", "Oatmeal with fruit takes five minutes."),
    "alpaca_data.json": ("alpaca", 2, "Give three tips for staying healthy.", "Eat well, exercise and sleep enough."),
    "alpaca.jsonl": ("alpaca", 2, "Give three tips for staying healthy.", "Eat well, exercise and sleep enough."),
    "alpaca_hf_with_text.jsonl": ("alpaca", 2, "Give three tips for staying healthy.", "Eat well, exercise and sleep enough."),
}

#: file -> (recipe, the fields mapping that reads it, first user turn, first agent turn)
CUSTOM = {
    "custom_ms_marco.jsonl": ("ms_marco", {"query": "q", "answer": "response"}, "what is the tallest mountain in the world?",
                              "Mount Everest is the tallest mountain above sea level."),
    "custom_alpaca.jsonl": ("alpaca", {"instruction": "prompt", "input": "context", "output": "completion"}, "Name three primary colors.",
                            "Red, yellow and blue."),
    "custom_ultrachat.jsonl": ("ultrachat", {"messages": "dialog", "role": "speaker", "content": "text"}, "What should I pack for a day hike?",
                               "Water, snacks, a map and a light jacket."),
}


def convert(recipe_name: str, path: str, **options) -> list:
    recipe = get_recipe(recipe_name)
    out = []
    for row in recipe.read_rows(path):
        try:
            out.append(recipe.to_conversation(row, seed=7, **options))
        except RejectError as e:
            out.append(e)
    return out


def as_parquet(path: Path, tmp_path: Path) -> Path:
    """The Parquet export of a JSON Lines layout (what ``datasets`` / the Hub's converter write)."""
    import json

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = tmp_path / (path.stem + ".parquet")
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out


@pytest.mark.parametrize("name", sorted(READABLE))
def test_each_public_layout_reads(name, tmp_path):
    recipe, n, user, agent = READABLE[name]
    files = [LAYOUTS / name] + ([as_parquet(LAYOUTS / name, tmp_path)] if name.endswith(".jsonl") else [])
    for path in files:
        out = convert(recipe, str(path))
        rejects = [r for r in out if isinstance(r, RejectError)]
        assert not rejects, f"{path.name}: {[(r.code, r.reason) for r in rejects]}"
        assert len(out) == n, path.name
        assert (out[0].turns[0].text, out[0].turns[1].text) == (user, agent), path.name
        assert [t.role for t in out[0].turns[:2]] == ["user", "agent"]


def test_every_layout_file_is_covered():
    files = {p.name for p in LAYOUTS.iterdir() if p.suffix in (".json", ".jsonl")}
    assert files == set(READABLE) | set(CUSTOM) | {"ms_marco_references.jsonl"}


def test_reference_rows_name_what_is_missing():
    out = convert("ms_marco", str(LAYOUTS / "ms_marco_references.jsonl"))
    assert len(out) == 3 and all(isinstance(r, RejectError) and r.code == "source.no-query" for r in out)


def demo_index(recipe: str) -> int:
    cfg = load_generate_config("demo")
    return next(i for i, s in enumerate(cfg.sources) if s.recipe == recipe)


@pytest.mark.parametrize("name", sorted(CUSTOM))
def test_an_unknown_layout_names_its_fields_and_the_mapping_that_reads_it(name, tmp_path):
    recipe, mapping, user, agent = CUSTOM[name]
    path = LAYOUTS / name
    rejected = convert(recipe, str(path))
    assert all(isinstance(r, RejectError) and r.code == "source.unknown-layout" for r in rejected)
    reason = rejected[0].reason
    first_row_fields = sorted(__import__("json").loads(path.read_text().splitlines()[0]))
    assert f"fields [{', '.join(first_row_fields)}]" in reason or "has keys [" in reason, reason
    # The mapping the reason suggests is a key the config accepts (as a key=value override of this source).
    suggested = re.findall(r"sources\[\]\.options\.fields\.(\w+)=<\w+>", reason)
    assert suggested and set(suggested) <= set(mapping), reason
    i = demo_index(recipe)
    cfg = load_generate_config("demo", [f"sources.{i}.options.fields.{f}={mapping[f]}" for f in suggested])
    assert cfg.sources[i].options["fields"] == {f: mapping[f] for f in suggested}
    # ... and with the full mapping the file reads, also through the pipeline's source stage.
    for p in (path, as_parquet(path, tmp_path)):
        out = convert(recipe, str(p), fields=mapping)
        assert not any(isinstance(r, RejectError) for r in out), out
        assert (out[0].turns[0].text, out[0].turns[1].text) == (user, agent)
    task = ChunkTask(source="mine", recipe=recipe, path=str(path), start=0, stop=1, shard_index=0, seed=7, options={"fields": mapping})
    _, convs, rejects = unpack_chunk(SourceStage().process(task))
    assert rejects == [] and convs[0].turns[1].text == agent


def test_a_mapping_to_a_field_the_recipe_does_not_read_fails_at_config_load():
    i = demo_index("alpaca")
    with pytest.raises(ValueError, match=r"sources\.\d+\.options\.fields of recipe alpaca: it reads no field \['answer'\]"):
        load_generate_config("demo", [f"sources.{i}.options.fields.answer=response"])
