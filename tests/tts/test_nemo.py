"""NeMo FastPitch + HiFi-GAN backend, run for real offline: tiny untrained models built from config, saved as .nemo.

The models are NeMo's own classes (``FastPitchModel`` with ``EnglishCharsTokenizer`` and a learned aligner, so no
g2p dictionary is needed; ``HifiGanModel`` with a 3-stage generator whose upsampling product is the 256-sample hop),
written with ``save_to`` and loaded by the backend through ``build_backend(TTSConfig(backend="nemo", ...))``.
Untrained weights speak noise; what is tested is the contract (rate, audio, word timings from the model's
durations, batching, speakers). The duration predictor's output bias is set to log(1 + 5) so every token lasts
about 5 frames (an untrained predictor says ~0 frames, i.e. no audio at all). The renderer's default level checks
pass on this noise (peak about -20 dBFS, no clipping), so no thresholds are changed.
"""

import math

import numpy as np
import pytest

pytest.importorskip("nemo.collections.tts")

from duplexgen.tts import TTSConfig, build_backend, build_renderer  # noqa: E402
from duplexgen.core.words import word_symbols  # noqa: E402
from duplexgen.tts.base import Voice  # noqa: E402

SR, HOP, WIN, NFFT, MELS, DIM = 22050, 256, 1024, 1024, 80, 32
FRAMES_PER_TOKEN = 5
TEXT = "Hello there, this is a test."


def _fastpitch_cfg():
    from omegaconf import OmegaConf

    def fft(cls):
        return {"_target_": f"nemo.collections.tts.modules.transformer.{cls}", "n_layer": 1, "n_head": 1, "d_model": DIM,
                "d_head": DIM, "d_inner": 2 * DIM, "kernel_size": 3, "dropout": 0.0, "dropatt": 0.0, "dropemb": 0.0}

    predictor = {"_target_": "nemo.collections.tts.modules.fastpitch.TemporalPredictor", "input_size": DIM, "kernel_size": 3,
                 "filter_size": DIM, "dropout": 0.0, "n_layers": 1}
    preprocessor = {
        "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor", "features": MELS, "lowfreq": 0,
        "highfreq": 8000, "n_fft": NFFT, "n_window_size": WIN, "window_size": False, "n_window_stride": HOP,
        "window_stride": False, "pad_to": 1, "pad_value": 0, "sample_rate": SR, "window": "hann", "normalize": None,
        "preemph": None, "dither": 0.0, "frame_splicing": 1, "log": True, "log_zero_guard_type": "add",
        "log_zero_guard_value": 1e-05, "mag_power": 1.0,
    }
    return OmegaConf.create({
        "sample_rate": SR, "n_mel_channels": MELS, "n_window_size": WIN, "n_window_stride": HOP, "n_fft": NFFT,
        "learn_alignment": True, "n_speakers": 2, "max_token_duration": 75, "symbols_embedding_dim": DIM,
        "pitch_embedding_kernel_size": 3, "pitch_mean": 200.0, "pitch_std": 50.0,
        "text_tokenizer": {"_target_": "nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers.EnglishCharsTokenizer",
                           "punct": True, "apostrophe": True, "pad_with_space": True},
        # defer_setup: no training data exists; FastPitch only reads the dataset class name.
        "train_ds": {"defer_setup": True, "dataset": {"_target_": "nemo.collections.tts.data.dataset.TTSDataset"}},
        "preprocessor": preprocessor, "input_fft": {**fft("FFTransformerEncoder"), "d_embed": DIM},
        "output_fft": fft("FFTransformerDecoder"),
        "alignment_module": {"_target_": "nemo.collections.tts.modules.aligner.AlignmentEncoder", "n_text_channels": DIM,
                             "n_mel_channels": MELS},
        "duration_predictor": predictor, "pitch_predictor": predictor,
        "optim": {"name": "adam", "lr": 1e-3},
    })


def _hifigan_cfg():
    from omegaconf import OmegaConf

    return OmegaConf.create({
        "preprocessor": {
            "_target_": "nemo.collections.asr.parts.preprocessing.features.FilterbankFeatures", "nfilt": MELS, "lowfreq": 0,
            "highfreq": 8000, "n_fft": NFFT, "n_window_size": WIN, "n_window_stride": HOP, "pad_to": 0, "pad_value": -11.52,
            "sample_rate": SR, "window": "hann", "normalize": None, "preemph": None, "dither": 0.0, "frame_splicing": 1,
            "log": True, "log_zero_guard_type": "clamp", "log_zero_guard_value": 1e-05, "mag_power": 1.0,
            "use_grads": False, "exact_pad": True,
        },
        "train_ds": {"defer_setup": True, "dataset": {"_target_": "nemo.collections.tts.data.dataset.VocoderDataset"}},
        "generator": {"_target_": "nemo.collections.tts.modules.hifigan_modules.Generator", "resblock": 1,
                      "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8], "upsample_initial_channel": 32,
                      "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]]},
        "optim": {"_target_": "torch.optim.AdamW", "lr": 2e-4},
        "max_steps": 1,
    })


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(fastpitch.nemo, hifigan.nemo) of tiny untrained models, weights from a fixed seed."""
    import torch
    from nemo.collections.tts.models import FastPitchModel, HifiGanModel

    folder = tmp_path_factory.mktemp("nemo_ckpt")
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        fastpitch = FastPitchModel(_fastpitch_cfg())
        hifigan = HifiGanModel(_hifigan_cfg())
    with torch.no_grad():  # every token ~FRAMES_PER_TOKEN frames (untrained: ~0, i.e. silence of length zero)
        fastpitch.fastpitch.duration_predictor.fc.weight.mul_(0.01)
        fastpitch.fastpitch.duration_predictor.fc.bias.fill_(math.log(1 + FRAMES_PER_TOKEN))
    fp_path, voc_path = folder / "fastpitch_tiny.nemo", folder / "hifigan_tiny.nemo"
    fastpitch.save_to(str(fp_path))
    hifigan.save_to(str(voc_path))
    return str(fp_path), str(voc_path)


@pytest.fixture(scope="module")
def setup(checkpoints):
    fp, voc = checkpoints
    cfg = TTSConfig(backend="nemo", nemo_model_path=fp, nemo_vocoder_path=voc, nemo_device="cpu", agent_voice="0", user_voices=["1"])
    return cfg, build_backend(cfg)


def _assert_words_inside(words, duration, texts):
    assert [w.text for w in words] == texts
    assert all(0 <= w.start < w.end <= duration + 1e-6 for w in words)
    assert all(a.end <= b.start for a, b in zip(words, words[1:])), "word timings must be monotonic and not overlap"


def test_backend_synthesizes_with_duration_timings(setup):
    cfg, backend = setup
    assert backend.name == "nemo" and backend.sample_rate == SR
    assert [v.name for v in backend.list_voices()] == ["0", "1"]
    syn = backend.synthesize(TEXT, Voice.make("0", "nemo"))
    assert syn.sample_rate == SR and syn.audio.dtype == np.float32 and np.abs(syn.audio).max() > 0.01
    # Audio length is exactly the model's durations: (tokens incl. the two edge spaces) x frames x hop.
    n_tokens = len(TEXT) + 2
    assert len(syn.audio) == n_tokens * FRAMES_PER_TOKEN * HOP
    assert syn.timing_source == "durations"
    _assert_words_inside(syn.words, syn.duration, word_symbols(TEXT))
    # "Hello" starts after the leading space token and spans its 5 characters.
    assert syn.words[0].start == pytest.approx(FRAMES_PER_TOKEN * HOP / SR)
    assert syn.words[0].end - syn.words[0].start == pytest.approx(5 * FRAMES_PER_TOKEN * HOP / SR, rel=0.25)


def test_batch_pads_with_pad_token_and_speakers_differ(setup):
    _, backend = setup
    short, long = "Hi there.", "This sentence is a good deal longer than the other one."
    v0, v1 = Voice.make("0", "nemo"), Voice.make("1", "nemo")
    batch = backend.synthesize_batch([long, short], [v0, v0])
    alone = backend.synthesize(short, v0)
    assert not any(isinstance(r, Exception) for r in batch)
    # Padding must be masked: the short text's durations (hence timings and length) do not change inside a batch.
    assert len(batch[1].audio) == len(alone.audio)
    assert [(w.start, w.end) for w in batch[1].words] == [(w.start, w.end) for w in alone.words]
    # ... nor does its audio (the vocoder's receptive field sees the batch's padding frames only near the end).
    head = len(alone.audio) // 2
    np.testing.assert_allclose(batch[1].audio[:head], alone.audio[:head], atol=1e-4)
    other = backend.synthesize(short, v1)
    assert not np.allclose(other.audio[: len(alone.audio)], alone.audio[: len(other.audio)])
    with pytest.raises(Exception, match="empty"):
        backend.synthesize("   ", v0)


def test_renderer_contract(setup, tmp_path):
    cfg, backend = setup
    renderer = build_renderer(cfg, cache_dir=str(tmp_path / "cache"), backend=backend)
    turn = renderer.render(TEXT, Voice.make(cfg.agent_voice, "nemo"), "agent")
    assert turn.sample_rate == 22050 and turn.duration > 0.5 and np.abs(turn.audio).max() > 0.01
    assert turn.timing_source == "durations"
    _assert_words_inside(turn.words, turn.duration, word_symbols(TEXT))
    user = renderer.render(TEXT, Voice.make(cfg.user_voices[0], "nemo"), "user")
    assert user.sample_rate == 16000 and user.timing_source == "durations"
    _assert_words_inside(user.words, user.duration, word_symbols(TEXT))
    again = renderer.render(TEXT, Voice.make(cfg.agent_voice, "nemo"), "agent")  # from the cache
    assert np.array_equal(again.audio, turn.audio) and again.words == turn.words
