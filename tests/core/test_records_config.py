"""core/: records round-trip through JSON, the cut schema, the config machinery every config class uses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from duplexgen.core.config import add_config_command, describe_fields, format_help_table, help_field, load_config
from duplexgen.core.records import Conversation, ManifestEntry, Reject, Turn
from duplexgen.core.schema import CUT_FIELDS, check_custom
from duplexgen.core.shards import shard_names


def test_records_round_trip_through_json():
    conv = Conversation("alpaca-3-s7", "alpaca", "alpaca", "3", 7,
                        [Turn("user", "Name three colors."), Turn("agent", "Red, yellow and blue.", kind="turn")],
                        meta={"normalized": {"1": ["numbers"]}})
    assert Conversation.from_dict(json.loads(json.dumps(conv.to_dict()))) == conv
    rej = Reject("ms_marco", "12", "ms_marco:12", "source", "no answer")
    assert Reject.from_dict(json.loads(json.dumps(rej.to_dict()))) == rej
    entry = ManifestEntry("alpaca", 3, 2, 36.5, [rej.to_dict()], {"cuts": "x/cuts.000003.jsonl.gz"}, 1.2,
                          cut_ids=["a", "b"], stats=[{"id": "a"}], rows=[60, 80], path="a.json", recipe="alpaca")
    again = ManifestEntry.from_dict(json.loads(json.dumps(entry.to_dict())))
    assert again == entry and again.rejects[0]["reason"] == "no answer"
    # entries written by an older version (fewer keys) and by a newer one (extra keys) still load
    assert ManifestEntry.from_dict({**entry.to_dict(), "future_key": 1}) == entry


def test_cut_schema_names_unknown_missing_and_mistyped_keys():
    full = {f.name: (f.type() if f.type not in (object,) else None) for f in CUT_FIELDS.values() if f.always}
    assert check_custom(full) == []
    problems = check_custom({**full, "bargein": [], "gaps": "0.64"})
    assert any("unknown custom key 'bargein'" in p for p in problems)
    assert any("custom['gaps'] is str, expected list" in p for p in problems)
    assert any("missing custom key 'source'" in p for p in check_custom({k: v for k, v in full.items() if k != "source"}))


def test_shard_names():
    assert shard_names(7) == {"cuts": "cuts.000007.jsonl.gz", "recording": "recording.000007.tar", "target_audio": "target_audio.000007.tar"}
    assert shard_names(0, ["recording"]) == {"cuts": "cuts.000000.jsonl.gz", "recording": "recording.000000.tar"}


@dataclass
class _Inner:
    rate: float = help_field("how fast", 1.5)


@dataclass
class _Item:
    name: str = help_field("item name", "a")


@dataclass
class _Outer:
    seed: int = help_field("the seed", 3)
    tags: list = help_field("some tags", ["x"])
    inner: _Inner = field(default_factory=_Inner, metadata={"help": "a nested config"})
    items: list[_Item] = help_field("a list of configs", [])

    def __post_init__(self):
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


def test_help_table_recurses_into_nested_configs_and_lists_of_configs():
    keys = [k for k, _, _ in describe_fields(_Outer)]
    assert keys == ["seed", "tags", "inner", "inner.rate", "items", "items[].name"]
    table = format_help_table(_Outer)
    assert "inner.rate" in table and "how fast [default: 1.5]" in table and "items[].name" in table


def test_load_config_yaml_overrides_and_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("seed: 5\ninner: {rate: 2.0}\nitems: [{name: b}]\n")
    cfg = load_config(_Outer, str(p), ["inner.rate=3.5", "items.0.name=c", "tags=[y, z]"])
    assert (cfg.seed, cfg.inner.rate, cfg.items[0].name, cfg.tags) == (5, 3.5, "c", ["y", "z"])
    assert _Outer().tags is not _Outer().tags  # list defaults are copied per instance
    with pytest.raises(ValueError, match="seed must be >= 0"):
        load_config(_Outer, None, ["seed=-1"])
    with pytest.raises(ValueError, match="nope"):
        load_config(_Outer, None, ["nope=1"])
    with pytest.raises(ValueError, match="interpolation"):
        load_config(_Outer, None, ["items.0.name=${oc.env:HOME}"])
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(_Outer, str(tmp_path / "missing.yaml"), [])


def test_add_config_command_lists_every_key_in_the_epilog():
    import argparse

    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers(dest="command")
    p = add_config_command(sub, "run", schema=_Outer, func=lambda a: 0, help="h", description="d", shipped="tiny", usage_note="NOTE")
    text = p.format_help()
    assert "NOTE" in text and "items[].name" in text and "config keys:" in text
    args = parser.parse_args(["run", "tiny", "seed=4"])
    assert args.config == "tiny" and args.overrides == ["seed=4"]
