"""Reference-mode evaluation on real Lhotse Shar shards built with duplexgen's own assembly (``eval_shards``
in conftest.py: tone "words" with known timings, barge-ins and backchannels).

The reference agent stream must score like the data was built: every barge-in stops 0.64 s after the
user starts, every turn is taken 0.64 s after the user ends, and no backchannel stops the agent."""

from __future__ import annotations

import argparse
import json

import pytest

from duplexgen.training.eval import EvalConfig, run_eval

def test_reference_eval_scores_the_data_as_built(eval_shards, tmp_path):
    out = tmp_path / "ref"
    r = run_eval(None, str(eval_shards), str(out), EvalConfig(vad="energy", timelines=2), reference=True)
    assert r["mode"] == "reference" and r["conversations"] == 5
    tt, bi, fa = r["turn_taking"], r["barge_in"], r["false_alarm"]
    assert tt["scored"] >= 15 and tt["rate"] == 1.0
    assert tt["latency"]["mean"] == pytest.approx(0.64, abs=0.01) and tt["latency"]["max"] <= 0.66
    assert bi["scored"] >= 3 and bi["scored"] == bi["events"] and bi["rate"] == 1.0
    assert bi["latency"]["mean"] == pytest.approx(0.64, abs=0.01)
    assert fa["events"] >= 2 and fa["false_alarms"] == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["barge_in"] == bi and len(saved["per_conversation"]) == 5
    html = (out / "report.html").read_text()
    assert "barge-in success" in html and "timeline_01.png" in html
    for name in ("latency.png", "timeline_00.png", "timeline_01.png"):
        assert (out / name).stat().st_size > 5000


def test_user_events_from_vad_match_the_supervisions_on_clean_data(eval_shards, tmp_path):
    a = run_eval(None, str(eval_shards), str(tmp_path / "a"), EvalConfig(vad="energy", timelines=0), reference=True)
    b = run_eval(None, str(eval_shards), str(tmp_path / "b"), EvalConfig(vad="energy", timelines=0, user_events="vad"), reference=True)
    assert b["config"]["user_events"] == "vad"
    for key in ("turn_taking", "barge_in"):
        assert b[key]["rate"] == a[key]["rate"] == 1.0
        assert b[key]["latency"]["mean"] == pytest.approx(a[key]["latency"]["mean"], abs=2e-3)


def test_eval_cli_reference_mode(eval_shards, tmp_path, capsys):
    from duplexgen.training.eval.cli import register

    parser = argparse.ArgumentParser(prog="duplexgen")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", "-", str(eval_shards), "vad=energy", "barge_in_max_latency_s=0.5", "max_conversations=3",
                              "timelines=1", "--out", str(tmp_path / "cli"), "--reference"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "reference evaluation of 3 conversations" in text
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    # 0.64 s of kept speech is a failure against a 0.5 s threshold: the key=value override is applied.
    assert metrics["config"]["barge_in_max_latency_s"] == 0.5 and metrics["barge_in"]["rate"] == 0.0
    bad = parser.parse_args(["eval", "-", str(eval_shards), "vad=nope", "--out", str(tmp_path / "x"), "--reference"])
    assert bad.func(bad) == 2


def test_reference_eval_with_silero_on_espeak_speech(tmp_path, eval_tools):
    """Real speech, the public metric's VAD: the reference behaviour still scores as built."""
    import duplexgen.tts.espeak as espeak
    import duplexgen.tts.render as render_mod
    from duplexgen.augment import AugmentConfig, assemble, plan_conversation
    from duplexgen.core.records import AGENT, USER, Conversation, Turn
    from duplexgen.pipeline.shards import assembled_to_cut
    from duplexgen.tts.base import Voice

    turns = [
        (USER, "What are the three primary colors?"),
        (AGENT, "The three primary colors are red, yellow and blue. Mixing two of them gives you a secondary color, "
                "for example red and yellow make orange."),
        (USER, "And what about black and white?"),
        (AGENT, "Black and white are not part of the color wheel. In painting, black darkens a color and white "
                "lightens it."),
    ]
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 1.0, "position_weights": [0, 1, 0]}, "backchannel": {"enabled": False}})
    conv = plan_conversation(Conversation("espeak-eval", "test", "test", "0", 11, [Turn(r, t) for r, t in turns]), cfg, 11)
    renderer = render_mod.Renderer(espeak.EspeakBackend())
    voices = {USER: Voice.make("en-us+f2", "espeak"), AGENT: Voice.make("en-us+m3", "espeak")}
    out = assemble(conv, [renderer.render(t.text, voices[t.role], t.role, kind=t.kind) for t in conv.turns], cfg, 11)
    assert out.custom["barge_in"], out.custom["barge_in_skipped"]
    root = eval_tools.write_eval_shard([assembled_to_cut(out, "espeak-eval", {})], tmp_path / "shards")
    r = run_eval(None, str(root), str(tmp_path / "ref"), EvalConfig(vad="silero", timelines=1), reference=True)
    assert r["barge_in"]["rate"] == 1.0 and r["barge_in"]["scored"] == len(out.custom["barge_in"])
    assert r["barge_in"]["latency"]["mean"] == pytest.approx(0.64, abs=0.1)
    assert r["turn_taking"]["rate"] == 1.0
    assert r["turn_taking"]["latency"]["mean"] == pytest.approx(0.64, abs=0.1)
