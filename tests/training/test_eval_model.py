"""`duplexgen eval` end to end on a tiny SALM-Duplex checkpoint trained here on CPU (a few steps, no Ray)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

import duplexgen.training.infer as infer
import duplexgen.training.train as train
from duplexgen.training.config import load_train_config  # noqa: E402
from duplexgen.training.eval import EvalConfig, format_result, run_eval  # noqa: E402
from duplexgen.training.eval.run import detect_speech  # noqa: E402


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


def test_eval_runs_the_model_and_writes_the_report(tiny_checkpoint, tiny_shards, tmp_path):
    out = tmp_path / "eval"
    cfg = EvalConfig(vad="energy", max_conversations=2, timelines=1)
    r = run_eval(str(tiny_checkpoint), str(tiny_shards), str(out), cfg)
    assert r["mode"] == "model" and r["checkpoint"] == str(tiny_checkpoint) and r["conversations"] == 2
    # Every tiny conversation is one user turn answered by one agent turn: one turn-taking event each.
    assert r["turn_taking"]["events"] == 2 and r["turn_taking"]["scored"] == 2
    assert r["turn_taking"]["rate"] in (0.0, 0.5, 1.0)
    assert r["text"]["n"] == 2 and r["text"]["bleu"] is not None and 0.0 <= r["text"]["bleu"] <= 100.0
    assert (out / "metrics.json").exists() and (out / "report.html").exists() and (out / "latency.png").exists()
    assert (out / "timeline_00.png").exists()
    assert "model evaluation of 2 conversations" in format_result(r)

    # The scored agent audio is the model's own output: rerun inference on the first conversation.
    conv = r["per_conversation"][0]
    saved, sr = sf.read(str(out / "audio" / f"{conv['id']}.wav"), dtype="float32")
    assert sr == 22050
    from duplexgen.core.shards import load_shards

    cut = next(c for c in load_shards(tiny_shards) if c.id == conv["id"])
    model = infer.load_model(str(tiny_checkpoint))
    g = infer.generate(model, torch.from_numpy(cut.load_audio()[0].astype(np.float32))[None])
    audio = g["agent_audio_22k"][0, : int(g["agent_audio_lens"][0])].float().numpy()
    assert len(saved) == len(audio)
    np.testing.assert_allclose(saved, np.clip(audio, -1, 1), atol=1e-4)  # 16-bit WAV quantisation
    speech = detect_speech(audio, 22050, cfg)
    assert conv["agent_speech_s"] == pytest.approx(sum(e - s for s, e in speech), abs=1e-3)
    assert conv["text"] == g["text"][0]
    saved_json = json.loads((out / "metrics.json").read_text())
    assert saved_json["per_conversation"][0]["text"] == conv["text"]
