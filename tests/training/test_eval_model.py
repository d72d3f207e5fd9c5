"""`duplexgen eval` end to end on a tiny SALM-Duplex checkpoint trained here on CPU (a few steps, no Ray):
the model's output goes into the same case folders and through the same scorer as any other model's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from duplexgen.core.evalset import read_labels
from duplexgen.training import infer, train
from duplexgen.training.config import load_train_config
from duplexgen.training.eval import EvalConfig, ScoreConfig, format_result, run_eval, score_dir
from duplexgen.training.eval.run import OUTPUT_TEXT, OUTPUT_TURNS


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("train_tiny")
    cfg = load_train_config("tiny_cpu", [f"train_shards=[{tiny_shards}]", f"output_dir={out}", "num_workers=1",
                                         "max_steps=2", "batch_duration=10", "checkpoint_every=2"])
    torch.set_num_threads(1)
    state = train.TrainState(cfg, torch.device("cpu"))
    it = iter(state.stream)
    for _ in range(2):
        state.train_step(next(it))
    state.save_checkpoint()
    ckpt = train.latest_checkpoint(str(out))
    assert ckpt is not None and (ckpt / "model.pt").exists()
    return ckpt


def test_eval_runs_the_model_on_the_cases_and_scores_them_like_any_model(tiny_checkpoint, tiny_shards, tmp_path):
    out = tmp_path / "eval"
    cfg = EvalConfig(max_conversations=2, score=ScoreConfig(vad="energy"))
    r = run_eval(str(tiny_checkpoint), str(tiny_shards), str(out), cfg)
    assert r["mode"] == "model" and r["checkpoint"] == str(tiny_checkpoint)
    # Every tiny conversation is one user turn answered by one agent turn: one turn-taking case each.
    assert r["cases"]["total"] == r["cases"]["scored"] == 2 and r["turn_taking"]["cases"] == 2
    assert r["turn_taking"]["tor"] in (0.0, 0.5, 1.0)
    assert r["text"]["n"] == 2 and r["text"]["bleu"] is not None and 0.0 <= r["text"]["bleu"] <= 100.0
    assert (out / "report.html").exists() and (out / "latency.png").exists()
    assert "model evaluation" in format_result(r)

    # The scored output.wav is the model's own output on the case's input.wav, time-aligned with it.
    case = out / r["per_case"][0]["case"]
    labels = read_labels(case)
    saved, sr = sf.read(str(case / "output.wav"), dtype="float32")
    assert sr == 22050 and len(saved) == int(round(labels["duration_s"] * 22050))
    user, _ = sf.read(str(case / "input.wav"), dtype="float32")
    g = infer.generate(infer.load_model(str(tiny_checkpoint)), torch.from_numpy(user)[None])
    audio = g["agent_audio_22k"][0, : int(g["agent_audio_lens"][0])].float().numpy()
    n = min(len(audio), len(saved))
    np.testing.assert_allclose(saved[:n], np.clip(audio[:n], -1, 1), atol=1e-4)  # 16-bit WAV quantisation
    assert (case / OUTPUT_TEXT).read_text().strip() == g["text"][0].strip()
    # Scoring the folder again (as `duplexgen score` would) gives the same numbers: one scoring path.
    again = score_dir(out, ScoreConfig(vad="energy"), report=False)
    assert again["turn_taking"] == r["turn_taking"] and json.loads((out / "metrics.json").read_text())["cases"]["scored"] == 2
    # ... and from the text channel: the model's own BOS..EOS turns, scored by the same per-case functions.
    assert r["text_channel"]["cases"] == 2 and r["text_channel"]["turn_taking"]["cases"] == 2
    assert json.loads((case / OUTPUT_TURNS).read_text()) == [list(t) for t in g["agent_intervals"][0]]


def test_batched_cases_get_the_turns_and_text_of_one_at_a_time(tiny_checkpoint, tiny_shards, tmp_path):
    """Cases of different lengths run right-padded in one batch: each keeps its own turns, text and audio."""
    dec = {"bos_threshold": 5e-4, "eos_threshold": 2e-4, "threshold_mode": "cumulative"}  # turns mid-case
    runs = {n: run_eval(str(tiny_checkpoint), str(tiny_shards), str(tmp_path / f"b{n}"),
                        EvalConfig(max_conversations=4, batch_cases=n, score=ScoreConfig(vad="energy"), decoding=dec))
            for n in (1, 4)}
    one, four = ({c["case"]: c for c in runs[n]["text_channel"]["per_case"]} for n in (1, 4))
    assert len(one) == 4 and one.keys() == four.keys()
    durations = {read_labels(tmp_path / "b1" / name)["duration_s"] for name in one}
    assert len(durations) > 1  # the batch really is padded
    assert any(c["turns"] for c in one.values())  # and the threshold makes turns to compare
    for name in one:
        assert one[name]["turns"] == four[name]["turns"], name
        assert (tmp_path / "b1" / name / OUTPUT_TEXT).read_text() == (tmp_path / "b4" / name / OUTPUT_TEXT).read_text()
        a, _ = sf.read(str(tmp_path / "b1" / name / "output.wav"), dtype="float32")
        b, _ = sf.read(str(tmp_path / "b4" / name / "output.wav"), dtype="float32")
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_eval_text_channel_with_thresholds(tiny_checkpoint, tiny_shards, tmp_path):
    """A threshold of 1e-9 on the cumulative BOS probability starts a turn at the first frame of every case, so the
    text channel shows the agent talking over the user's turn end (greedy decoding of this untrained model is silent)."""
    greedy = run_eval(str(tiny_checkpoint), str(tiny_shards), str(tmp_path / "greedy"),
                      EvalConfig(max_conversations=2, score=ScoreConfig(vad="energy")))
    assert all(not c["turns"] for c in greedy["text_channel"]["per_case"])
    cfg = EvalConfig(max_conversations=2, score=ScoreConfig(vad="energy"),
                     decoding={"bos_threshold": 1e-9, "eos_threshold": 1.0, "threshold_mode": "cumulative"})
    r = run_eval(str(tiny_checkpoint), str(tiny_shards), str(tmp_path / "thr"), cfg)
    for c in r["text_channel"]["per_case"]:
        assert c["turns"] and c["turns"][0][0] == pytest.approx(0.08)

