"""The report's parts: readable voice names, one example per source, rejects grouped by cause with hints that
are real config keys, and a timeline image that draws what the layout did (gaps, barge-ins, noise)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from duplexgen.core.rejects import REJECT_KINDS
from duplexgen.pipeline.config import load_generate_config
from duplexgen.pipeline.report import pick_examples
from duplexgen.pipeline.summary import format_summary, rejects_by_cause
from duplexgen.pipeline.timeline import COLORS, measured_gaps, spans, timeline_png
from duplexgen.tts.voices import voice_label


def test_voice_names_a_person_reads():
    assert voice_label('espeak:en-gb-scotland+m5:{"pitch":50,"range":42,"rate":172}') == "Scottish English, m5, pitch 50, 172 wpm"
    assert voice_label('espeak:en-us:{"pitch":50,"range":50,"rate":170}') == "US English, pitch 50, 170 wpm"
    assert voice_label("real:synthetic_q00") == "recorded synthetic_q00"
    assert voice_label("piper:joe") == "piper joe"
    assert voice_label("") == "(none)"


def test_one_example_per_source_the_one_that_shows_most():
    rows = [
        {"id": "a1", "source": "alpaca", "duration": 5.0, "barge_ins": 0, "backchannels": 0, "augmentations": []},
        {"id": "a2", "source": "alpaca", "duration": 9.0, "barge_ins": 1, "backchannels": 1, "augmentations": []},
        {"id": "a3", "source": "alpaca", "duration": 7.0, "barge_ins": 1, "backchannels": 1, "augmentations": []},
        {"id": "m1", "source": "ms_marco", "duration": 4.0, "barge_ins": 0, "backchannels": 0, "augmentations": ["noise"]},
        {"id": "u1", "source": "ultrachat", "duration": 30.0, "barge_ins": 0, "backchannels": 0, "augmentations": []},
    ]
    assert [r["id"] for r in pick_examples(rows)] == ["a3", "m1", "u1"]
    assert [r["id"] for r in pick_examples(rows, per_source=2)] == ["a3", "a2", "m1", "u1"]


def reject(source, code, reason, item="x:1", stage="tts"):
    return {"source": source, "row_id": "1", "item": item, "stage": stage, "reason": reason, "code": code}


def test_rejects_are_grouped_by_cause_not_by_turn_and_hints_name_the_source():
    rejects = [
        reject("ultrachat", "tts.too-long", "turn 1 (agent): turn too long for the TTS (1200 chars > tts.max_chars=1000)"),
        reject("ultrachat", "tts.too-long", "turn 3 (agent): turn too long for the TTS (1500 chars > tts.max_chars=1000)"),
        reject("ms_marco", "normalize.too-long", "turn too long (turn 0 user; 700 chars > ...)", stage="normalize"),
        {"source": "alpaca", "row_id": "2", "item": "alpaca:2", "stage": "source", "reason": "old"},  # written before codes
    ]
    groups = rejects_by_cause(rejects, source_index={"ultrachat": 2, "ms_marco": 1})
    assert [(g["source"], g["code"], g["count"]) for g in groups] == [
        ("ultrachat", "tts.too-long", 2), ("alpaca", "source.?", 1), ("ms_marco", "normalize.too-long", 1)]
    assert groups[0]["hint"] == "raise it: tts.max_chars=2000"
    assert groups[2]["hint"] == "raise it: sources.1.options.normalize.max_turn_chars=1000"
    assert groups[0]["example"]["reason"].startswith("turn 1 (agent)")
    text = format_summary({"conversations": 1, "hours": 0.1, "shards": 1, "rejects": 4, "per_source": {}, "rejects_by_cause": groups,
                           "shard_dirs": [], "rejects_file": "r", "output_dir": "o"})
    assert "2  ultrachat  tts.too-long: a turn is longer than the TTS limit" in text
    assert "sources.1.options.normalize.max_turn_chars=1000" in text


@pytest.mark.parametrize("code", sorted(c for c, k in REJECT_KINDS.items() if k.key))
def test_every_hint_names_a_key_that_parses_as_an_override(code):
    """Each hint's key, spelled for a demo source whose recipe can hit it, loads as key=value and lands there."""
    from omegaconf import OmegaConf

    kind = REJECT_KINDS[code]
    base = load_generate_config("demo")
    indices = [i for i, s in enumerate(base.sources) if not kind.recipes or s.recipe in kind.recipes]
    if not kind.key.startswith("sources[]"):
        indices = [None]
    assert indices, f"{code}: no demo source uses a recipe in {kind.recipes}"
    for i in indices:
        override = kind.hint_for(i).split(": ", 1)[1]
        key, value = override.split("=", 1)
        cfg = load_generate_config("demo", [override])
        got = OmegaConf.select(OmegaConf.structured(cfg), key)
        assert str(got) == value or float(got) == float(value), (override, got)


def test_the_old_bad_hint_is_gone():
    """`normalize.max_turn_chars` alone is no key; the reasons now spell the full key, which parses."""
    with pytest.raises(ValueError, match="normalize"):
        load_generate_config("demo", ["normalize.max_turn_chars=2000"])
    from duplexgen.text.normalize import NormalizeConfig, normalize_for_speech
    from duplexgen.core.records import RejectError

    with pytest.raises(RejectError) as e:
        normalize_for_speech("What? " * 200, NormalizeConfig(numbers="rules"), role="user")
    assert e.value.code == "normalize.too-long"
    key = re.search(r"(sources\[\]\.options\.normalize\.max_turn_chars)=", e.value.reason).group(1)
    assert load_generate_config("demo", [key.replace("sources[]", "sources.0") + "=900"]).sources[0].options["normalize"]["max_turn_chars"] == 900


def colour_pixels(png: bytes, hex_colour: str, tol: int = 40) -> int:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).sum(axis=2) < tol).sum())


def test_the_timeline_draws_gaps_barge_ins_and_noise(eval_tools):
    from duplexgen.pipeline.shards import assembled_to_cut

    from duplexgen.augment import AugmentConfig, assemble, plan_conversation
    from duplexgen.core.records import Conversation, Turn

    assembled = next(a for a in (eval_tools.build_assembled(s) for s in range(12)) if a.custom.get("barge_in"))
    # the same kind of conversation with barge-ins switched off
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 0.0}, "backchannel": {"prob": 0.0}})
    conv = plan_conversation(Conversation("calm", "test", "test", "0", 0, [Turn("user", "q0 q1 q2"), Turn("agent", "a0 a1 a2 a3")]), cfg, 0)
    calm = assemble(conv, [eval_tools.tone_turn(t, np.random.default_rng(0)) for t in conv.turns], cfg, 0)
    cut = assembled_to_cut(assembled, "t-0", {"source": "test"})
    turns = spans(cut)
    gaps = [round(b - a, 2) for a, b, _ in measured_gaps(turns)]
    assert gaps and all(g == 0.64 for g in gaps), gaps  # the contract's gap, measured from the supervisions
    plain = timeline_png(cut)
    assert Image.open(io.BytesIO(plain)).size[0] >= 900  # sharp at the page width (1100 px)
    # barge-ins: the dashed cut line and the hatched "kept" box are in the barge-in colour (only the legend's
    # swatch has it in a conversation without one)
    without = timeline_png(assembled_to_cut(calm, "t-1", {"source": "test"}))
    assert colour_pixels(plain, COLORS["barge_in"]) > colour_pixels(without, COLORS["barge_in"]) + 50
    # noise on the user stream: a bar in the noise colour (only the legend's swatch without it)
    noisy = assembled_to_cut(assembled, "t-0", {"source": "test"})
    noisy.custom = dict(cut.custom, augmentations=[{"name": "noise", "relative_db": -12.0, "noise_intervals": [[0.5, 3.0]]}])
    assert colour_pixels(timeline_png(noisy), COLORS["noise"]) > colour_pixels(plain, COLORS["noise"]) + 50
