"""Data audit and reference-mode evaluation on real Lhotse Shar shards built with duplexgen's own assembly.

Turns are tone "words" (known word timings, exact zeros between words) laid out by
``duplexgen.augment.assemble`` with barge-ins and backchannels, written with ``pipeline.shards.write_shard``.
The reference agent stream must score like the data was built: every barge-in stops 0.64 s after the
user starts, every turn is taken 0.64 s after the user ends, and no backchannel stops the agent."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from duplexgen.augment import AugmentConfig, assemble, plan_conversation
from duplexgen.augment.layout import to_samples
from duplexgen.pipeline.records import AGENT, USER, Conversation, RenderedTurn, Turn, Word
from duplexgen.pipeline.shards import assembled_to_cut, write_shard
from duplexgen.training.eval import AuditConfig, EvalConfig, audit_dir, format_audit, run_eval
from duplexgen.training.eval.audit import audit_cut

SR = {USER: 16000, AGENT: 22050}
CFG = AugmentConfig.from_dict({"barge_in": {"prob": 0.6, "max_per_conversation": 2}, "backchannel": {"prob": 0.9}})


def tone_turn(turn: Turn, rng: np.random.Generator) -> RenderedTurn:
    """Tone bursts as words (0.2-0.35 s) with 80 ms of digital silence between them."""
    sr = SR[turn.role]
    freq = 220.0 if turn.role == AGENT else 330.0
    chunks, words, t = [], [], 0
    texts = turn.text.split()
    for k, w in enumerate(texts):
        n = int(rng.uniform(0.2, 0.35) * sr)
        chunks.append((0.3 * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32))
        words.append(Word(w, t / sr, (t + n) / sr))
        t += n
        if k < len(texts) - 1:
            chunks.append(np.zeros(int(0.08 * sr), np.float32))
            t += int(0.08 * sr)
    return RenderedTurn(turn.role, turn.text, np.concatenate(chunks), sr, voice="tone", words=words,
                        timing_source="synthetic", kind=turn.kind)


def build_assembled(seed: int):
    rng = np.random.default_rng(seed)
    turns = []
    for p in range(3):
        turns.append(Turn(USER, " ".join(f"q{p}w{k}" for k in range(4))))
        turns.append(Turn(AGENT, " ".join(f"a{p}w{k}" for k in range(14))))
    conv = plan_conversation(Conversation(f"eval-{seed}", "test", "test", str(seed), seed, turns), CFG, seed)
    return assemble(conv, [tone_turn(t, rng) for t in conv.turns], CFG, seed)


def write(cuts, root: Path) -> Path:
    write_shard(cuts, root / "test", 0, root / ".staging")
    return root


@pytest.fixture(scope="module")
def eval_shards(tmp_path_factory) -> Path:
    cuts = [assembled_to_cut(build_assembled(seed), f"eval-{seed}", {"source": "test"}) for seed in range(5)]
    root = write(cuts, tmp_path_factory.mktemp("eval_shards"))
    return root


def test_audit_of_clean_data_measures_the_layout(eval_shards):
    result = audit_dir(eval_shards, cfg=AuditConfig(vad="energy"))
    s = result["summary"]
    assert s["conversations"] == 5 and s["with_problems"] == 0, result["worst"]
    assert s["boundary_error_s"]["max"] <= 0.001  # a sine starts below the VAD threshold for a few samples
    assert s["gap_s"]["n"] >= 10 and s["gap_s"]["mean"] == pytest.approx(0.64, abs=1e-3)
    assert s["barge_ins"] >= 3 and s["barge_in_silent_after"] == s["barge_ins"]
    assert s["barge_in_kept_s"]["mean"] == pytest.approx(0.64, abs=2e-3)
    # Tones of amplitude 0.3 (-13.5 dBFS RMS) with 80 ms pauses between words inside the speech intervals.
    tone_db = 20 * np.log10(0.3 / np.sqrt(2))
    assert tone_db - 2.0 < s["levels"]["agent"]["speech_rms_dbfs"]["mean"] < tone_db
    assert s["levels"]["user"]["clip_ratio"]["max"] == 0.0
    assert "OK: no problems" in format_audit(result)


def test_audit_flags_broken_audio(tmp_path):
    a = build_assembled(1)
    assert a.custom["barge_in"], "seed 1 must have a barge-in"
    b = a.custom["barge_in"][0]
    # 1. The agent keeps talking after the barge-in cut (audio pasted into the silence after it).
    i = to_samples(b["end"], 22050)
    a.agent_audio[i + 100 : i + 100 + 4410] = 0.3
    # 2. A user supervision that is 0.1 s late against its speech.
    seg = next(s for s in a.segments if s.speaker == USER and s.start > 0)
    seg.start += 0.1
    seg.duration -= 0.1
    # 3. A clipping user stream.
    a.user_audio[:8000] = 1.0
    cut = assembled_to_cut(a, "broken", {})
    root = write([cut], tmp_path)
    result = audit_dir(root, cfg=AuditConfig(vad="energy"))
    problems = " | ".join(result["worst"][0]["problems"])
    assert "not silent after the barge-in cut" in problems
    assert "supervision/speech boundary off by" in problems
    shifted = next(b for b in result["cuts"][0]["boundaries"] if b["speaker"] == USER and b["start"] == pytest.approx(seg.start, abs=1e-4))
    assert shifted["start_err"] == pytest.approx(-0.1, abs=1e-3) and abs(shifted["end_err"]) < 1e-3
    assert "user stream clips" in problems
    assert "agent speech outside agent supervisions" in problems
    assert result["summary"]["with_problems"] == 1 and "worst conversations" in format_audit(result)
    # The per-cut function measures the same thing on the in-memory cut.
    assert audit_cut(cut, AuditConfig(vad="energy"))["barge_in"][0]["silent_after"] is False


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


def test_reference_eval_with_silero_on_espeak_speech(tmp_path):
    """Real speech, the public metric's VAD: the reference behaviour still scores as built."""
    espeak = pytest.importorskip("duplexgen.tts.espeak")
    render_mod = pytest.importorskip("duplexgen.tts.render")
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
    root = write([assembled_to_cut(out, "espeak-eval", {})], tmp_path / "shards")
    r = run_eval(None, str(root), str(tmp_path / "ref"), EvalConfig(vad="silero", timelines=1), reference=True)
    assert r["barge_in"]["rate"] == 1.0 and r["barge_in"]["scored"] == len(out.custom["barge_in"])
    assert r["barge_in"]["latency"]["mean"] == pytest.approx(0.64, abs=0.1)
    assert r["turn_taking"]["rate"] == 1.0
    assert r["turn_taking"]["latency"]["mean"] == pytest.approx(0.64, abs=0.1)
