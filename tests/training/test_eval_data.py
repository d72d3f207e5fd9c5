"""`duplexgen eval --reference` on real Lhotse Shar shards built with duplexgen's own assembly (``eval_shards``
in conftest.py: tone "words" with known timings, barge-ins and backchannels), scored with the energy VAD.

The reference agent stream must score like the data was built: every turn is taken one gap after the user
ends, every barge-in stops 0.64 s after the user starts and is answered one gap after the interruption,
and no backchannel makes the agent give up the floor. Real speech with Silero: tests/e2e/test_fdbench.py."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from duplexgen.core.timing import BARGE_IN_KEEP_S, GAP_S
from duplexgen.pipeline.cli import main
from duplexgen.training.eval import EvalConfig, ScoreConfig, format_result, run_eval


def test_reference_eval_scores_the_data_as_built(eval_shards, tmp_path):
    out = tmp_path / "ref"
    r = run_eval(None, str(eval_shards), str(out), EvalConfig(score=ScoreConfig(vad="energy")), reference=True)
    assert r["mode"] == "reference" and r["checkpoint"] is None and r["cases"]["bad"] == 0
    tt, ui, bc = r["turn_taking"], r["interruption"], r["backchannel"]
    assert tt["cases"] >= 8 and tt["tor"] == 1.0
    assert tt["latency_mean_s"] == pytest.approx(GAP_S, abs=0.01) and tt["latency"]["max"] <= GAP_S + 0.02
    assert ui["cases"] >= 3 and ui["success_rate"] == 1.0 and ui["speaking_at_onset"] == ui["cases"]
    # TO needs a take-over answer: the reference answers that are shorter than 1 s (tone words) are backchannels.
    cases = [json.loads((out / c["case"] / "labels.json").read_text()) for c in r["per_case"] if c["task"] == "user_interruption"]
    long_answers = [lab for lab in cases if lab["reference"]["agent"][-1]["end"] - lab["reference"]["agent"][-1]["start"] >= 1.0]
    assert 0 < len(long_answers) < len(cases) and ui["tor"] == pytest.approx(len(long_answers) / len(cases), abs=1e-4)
    assert ui["stop_latency_mean_s"] == pytest.approx(BARGE_IN_KEEP_S, abs=0.01)
    assert ui["latency_mean_s"] == pytest.approx(GAP_S, abs=0.01)
    assert bc["cases"] >= 2 and bc["tor"] == 0.0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["interruption"] == ui and len(saved["per_case"]) == r["cases"]["scored"]
    assert json.loads((out / "manifest.json").read_text())["created_by"] == "duplexgen eval"
    # The scored output.wav of each case is the shards' own agent stream, as long as the case's input.
    case = out / saved["per_case"][0]["case"]
    assert sf.info(str(case / "output.wav")).duration == pytest.approx(sf.info(str(case / "input.wav")).duration, abs=1e-4)
    html = (out / "report.html").read_text()
    assert "smooth_turn_taking" in html and "example_user_interruption_0.png" in html
    assert "reference evaluation" in format_result(r)
    # The same cases scored from the reference's text channel (BOS/EOS frames of its agent turns, NeMo's rule).
    tc = r["text_channel"]
    assert tc["cases"] == r["cases"]["scored"] and tc["turn_taking"]["tor"] == 1.0
    assert tc["turn_taking"]["latency_mean_s"] == pytest.approx(GAP_S, abs=0.08)  # frame-quantised
    assert tc["interruption"]["success_rate"] == 1.0 and tc["interruption"]["stop_latency_mean_s"] == pytest.approx(BARGE_IN_KEEP_S, abs=0.08)
    assert tc["backchannel"]["tor"] == 0.0
    assert "agent activity from the text channel" in format_result(r)


def test_eval_cli_reference_mode_applies_overrides(eval_shards, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["eval", "-", str(eval_shards), "score.vad=energy", "score.stop_max_s=0.5", "max_conversations=3",
                 "--out", str(out), "--reference"]) == 0
    assert "reference evaluation" in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert {c["cut_id"] for c in m["per_case"]} == {"eval-0", "eval-1", "eval-2"}
    # 0.64 s of kept speech is too slow against a 0.5 s threshold: the key=value override is applied.
    assert m["config"]["stop_max_s"] == 0.5 and m["interruption"]["success_rate"] == 0.0
    assert m["interruption"]["reasons"] == {"kept_talking": m["interruption"]["cases"]}
    assert main(["eval", "-", str(eval_shards), "score.vad=nope", "--out", str(tmp_path / "x"), "--reference"]) == 2
    assert main(["eval", str(tmp_path / "no_checkpoint"), str(eval_shards), "--out", str(tmp_path / "y")]) == 2
