"""Per-source options: typed per recipe, checked when the config loads, and listed by `generate --help`."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from duplexgen.core.config import describe_fields
from duplexgen.pipeline.cli import build_parser
from duplexgen.pipeline.config import load_generate_config
from duplexgen.pipeline.stages import ChunkTask, SourceStage, unpack_chunk
from duplexgen.recipes import RECIPES, get_recipe


def generate_help() -> str:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["generate"].format_help()


def test_generate_help_lists_every_option_of_every_recipe():
    text = generate_help()
    for name, recipe in RECIPES.items():
        assert f"  {name}:" in text
        for key, default, help_text in describe_fields(recipe.options, "sources[].options."):
            assert key in text and help_text[:40] in text, (name, key)
        for field, columns in recipe.fields.items():
            assert f"{field} ({' | '.join(columns)})" in text, (name, field)
    assert "sources[].options.normalize.max_turn_chars" in text and "ray.start_timeout_s" in text


def test_a_bad_option_fails_when_the_config_loads_naming_the_valid_keys():
    with pytest.raises(ValueError, match=r"sources\.2\.options\.max_exchange .*valid keys of sources\.2\.options: normalize, fields, max_exchanges"):
        load_generate_config("demo", ["sources.2.options.max_exchange=2"])
    with pytest.raises(ValueError, match=r"sources\.0\.options\.normalize\.max_turn_char\b"):
        load_generate_config("demo", ["sources.0.options.normalize.max_turn_char=900"])
    with pytest.raises(ValueError, match=r"sources\.0\.options .*max_turn_chars must be >= 20"):
        load_generate_config("demo", ["sources.0.options.normalize.max_turn_chars=5"])
    cfg = load_generate_config("demo", ["sources.2.options.max_exchanges=2"])
    assert cfg.sources[2].options["max_exchanges"] == 2


def test_the_two_turn_length_limits_cannot_contradict():
    with pytest.raises(ValueError, match=r"sources\.0\.options\.normalize\.max_turn_chars=2000 is above tts\.max_chars=1000.*tts\.max_chars=2000"):
        load_generate_config("demo", ["sources.0.options.normalize.max_turn_chars=2000"])
    cfg = load_generate_config("demo", ["sources.0.options.normalize.max_turn_chars=2000", "tts.max_chars=2000"])
    assert cfg.sources[0].options["normalize"]["max_turn_chars"] == 2000


def test_every_recipe_honours_its_normalize_options(tmp_path):
    """Alpaca used to ignore options.normalize: a long answer is now cut (or rejected) at the source's own limit."""
    long_answer = " ".join(f"This is sentence number {w} of a long answer." for w in ("one", "two", "three", "four", "five", "six"))
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"instruction": "Tell me a lot.", "input": "", "output": long_answer}]))
    task = lambda opts: ChunkTask("alpaca", "alpaca", str(path), 0, 1, 0, seed=1, options=opts)  # noqa: E731
    _, convs, _ = unpack_chunk(SourceStage().process(task({"normalize": {"max_turn_chars": 100, "numbers": "rules"}})))
    assert len(convs[0].turns[1].text) <= 100 and "truncated" in convs[0].meta["normalized"]["1"]
    _, convs, rejects = unpack_chunk(SourceStage().process(task({"normalize": {"max_turn_chars": 100, "long_turn": "reject", "numbers": "rules"}})))
    assert convs == [] and rejects[0]["code"] == "normalize.too-long"
    assert "sources[].options.normalize.max_turn_chars=100" in rejects[0]["reason"]


def test_each_recipe_declares_options_and_fields_that_describe_themselves():
    for name, recipe in RECIPES.items():
        assert dataclasses.is_dataclass(recipe.options)
        assert all(f.metadata.get("help") or dataclasses.is_dataclass(f.type) or f.name == "normalize"
                   for f in dataclasses.fields(recipe.options)), name
    assert get_recipe("ms_marco").fields["answer"][0] == "wellFormedAnswers"


#: A config key as reject reasons spell it: the source's own options, or a top-level section's key.
KEY_IN_REASON = re.compile(r"\b(sources\[\]\.options(?:\.[a-z_]+)+|(?:tts|llm|augment|ray)\.[a-z_]+(?:\.[a-z_]+)*)(?==|\b)")


def test_every_key_a_reject_reason_names_parses_as_an_override():
    """Reasons name the key to change (not 'normalize.max_turn_chars', which is no key): each one, spelled for a
    demo source whose recipe has it, loads as an override of the demo config."""
    import ast
    from pathlib import Path

    from omegaconf import OmegaConf

    repo = Path(__file__).resolve().parents[2]
    keys, advice = set(), []
    for room in ("recipes", "tts", "augment", "text", "pipeline"):
        for path in (repo / room).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "RejectError" and node.args:
                    text = ast.unparse(node.args[0])
                    keys |= set(KEY_IN_REASON.findall(text))
                    advice += [(f"{path.name}:{node.lineno}", w) for w in re.findall(r"\b(?:raise|set|lower)\s+([\w\[\].]+\.[\w.]+)", text)]
    # "raise X" always names X by a full key (the old "raise normalize.max_turn_chars" did not)
    assert all(KEY_IN_REASON.fullmatch(w) for _, w in advice), [a for a in advice if not KEY_IN_REASON.fullmatch(a[1])]
    assert "sources[].options.normalize.max_turn_chars" in keys and "tts.max_chars" in keys, keys
    base = load_generate_config("demo")
    for key in sorted(keys):
        if key.startswith("sources[]"):
            sub = key[len("sources[].options."):]
            # the demo sources whose recipe has this option, with the option's default as the value
            usable = []
            for i, src in enumerate(base.sources):
                node = OmegaConf.structured(get_recipe(src.recipe).options)
                if OmegaConf.select(node, sub, default="<absent>") != "<absent>":
                    default = OmegaConf.select(node, sub)
                    value = "{}" if isinstance(default, dict) or OmegaConf.is_dict(default) else "/data" if default is None else default
                    usable.append(f"{key.replace('sources[]', f'sources.{i}')}={value}")
            assert usable, f"{key}: an option of no demo source's recipe"
            for override in usable:
                load_generate_config("demo", [override])
        else:
            value = OmegaConf.select(OmegaConf.structured(base), key)
            assert value is not None, key
            load_generate_config("demo", [f"{key}={value}"])
