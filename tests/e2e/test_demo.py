"""The shipped demo config: every recipe of the SALM-Duplex mixture ends up in valid shards, byte for byte
the same as recorded.

Each source is cut to one or two rows so the local LLM (SmolLM2) and espeak stay quick on 2 cores.
``demo_fingerprint.json`` is ``duplexgen fingerprint out/demo/shards --write ...`` of the full demo
(``make demo``): every conversation's id with the sha1 of its user audio, agent audio and cut line. A
conversation's bytes depend only on its source row, the seed and the config, so the small run's
cuts must match it. A change that alters output on purpose (new timing, a TTS fix) regenerates the
file in the same commit and says why; anything else that changes bytes is a regression.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from duplexgen.pipeline.cli import main
from duplexgen.pipeline.fingerprint import compare, fingerprint
from duplexgen.pipeline.report import write_report
from duplexgen.pipeline.config import resolve_config_path
from duplexgen.pipeline.validate import validate_dir

pytestmark = pytest.mark.slow

SIX_RECIPES = {"alpaca", "ms_marco", "ultrachat", "asr_qa", "topic", "real_conversations"}
RECORDED = Path(__file__).with_name("demo_fingerprint.json")
#: LLM-written text depends on the CPU's float arithmetic (greedy decoding of SmolLM2): compared by id only.
LLM_SOURCES = {"asr_qa", "topic"}


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
    # the report shows one example of every source, each with its two-stream timeline
    page = Path(write_report(out)).read_text()
    assert all(f"<h3>{name} " in page for name in SIX_RECIPES) and page.count("class='timeline'") == 6
    # Byte identity with the recorded full demo, for every source whose text does not come from the LLM.
    recorded = json.loads(RECORDED.read_text())
    now = fingerprint(out / "shards")
    assert set(now) <= set(recorded), sorted(set(now) - set(recorded))
    exact = {k: v for k, v in now.items() if k.split("-")[0] not in LLM_SOURCES}
    diff = compare(exact, {k: recorded[k] for k in exact})
    assert len(exact) >= 3 and not diff["changed"], (
        f"demo output changed for {diff['changed']}; if deliberate, regenerate {RECORDED.name} with "
        "`duplexgen generate demo && duplexgen fingerprint out/demo/shards --write tests/e2e/demo_fingerprint.json`")
