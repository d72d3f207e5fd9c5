"""The shipped demo config: every recipe of the SALM-Duplex mixture ends up in valid shards.

Each source is cut to one or two rows so the local LLM (SmolLM2) and espeak stay quick on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from duplexgen.pipeline.cli import main
from duplexgen.pipeline.config import resolve_config_path
from duplexgen.pipeline.validate import validate_dir

pytestmark = pytest.mark.slow

SIX_RECIPES = {"alpaca", "ms_marco", "ultrachat", "asr_qa", "topic", "real_conversations"}


def test_demo_config_lists_all_six_recipes():
    cfg = yaml.safe_load(resolve_config_path("demo").read_text())
    assert {s["recipe"] for s in cfg["sources"]} == SIX_RECIPES


def test_demo_makes_conversations_from_all_six_recipes(tmp_path: Path):
    cfg = yaml.safe_load(resolve_config_path("demo").read_text())
    small = []
    for i, s in enumerate(cfg["sources"]):
        small.append(f"sources.{i}.max_rows=1")
        if s["recipe"] == "topic":
            small.append(f"sources.{i}.options.exchanges=2")
    out = tmp_path / "demo"
    assert main(["generate", "demo", f"output_dir={out}", "llm.max_tokens=24", *small]) == 0
    summary = json.loads((out / "summary.json").read_text())
    made = {name for name, v in summary["per_source"].items() if v["conversations"] > 0}
    assert made == SIX_RECIPES, summary["per_source"]
    report = validate_dir(out / "shards")
    assert report.violations == [] and report.cuts == summary["conversations"]
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(SIX_RECIPES)
