"""User-stream realism: each augmentation does what it says, is recorded with its parameters, and the
agent stream stays clean."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from duplexgen.augment import AugmentConfig, assemble, plan_conversation
from duplexgen.augment.config import UserStreamConfig
from duplexgen.augment.user_stream import (
    FolderNoise,
    LhotseNoise,
    add_echo,
    apply_reverb,
    augment_user_stream,
    colored_noise,
    silent_stretch_mask,
    simulate_rir,
)
from duplexgen.core.records import AGENT, USER, Conversation, RenderedTurn, Turn, Word

ALL_ON = dict(enabled=True, gain_prob=1.0, noise_prob=1.0, echo_reverb_prob=1.0)


def tone(sr: int, dur: float, f: float, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * f * np.arange(int(dur * sr)) / sr)).astype(np.float32)


def rendered_conv(seed: int = 0):
    turns = [Turn(USER, "one two"), Turn(AGENT, "three four five"), Turn(USER, "six"), Turn(AGENT, "seven eight")]
    conv = Conversation("c", "s", "r", "0", seed, turns)
    out = []
    for t in turns:
        sr = 16000 if t.role == USER else 22050
        n = len(t.text.split())
        audio = np.concatenate([tone(sr, 0.4, 300 + 50 * k) for k in range(n)])
        words = [Word(w, 0.4 * k, 0.4 * (k + 1)) for k, w in enumerate(t.text.split())]
        out.append(RenderedTurn(t.role, t.text, audio, sr, "v", words))
    return conv, out


def test_everything_applied_is_recorded_and_agent_stays_clean():
    conv, rendered = rendered_conv()
    clean_cfg = AugmentConfig.from_dict({"barge_in": {"enabled": False}, "backchannel": {"enabled": False}})
    cfg = AugmentConfig.from_dict({"barge_in": {"enabled": False}, "backchannel": {"enabled": False}, "user_stream": ALL_ON})
    planned = plan_conversation(conv, clean_cfg, 0)
    clean, aug = assemble(planned, rendered, clean_cfg, 5), assemble(planned, rendered, cfg, 5)
    np.testing.assert_array_equal(clean.agent_audio, aug.agent_audio)
    assert clean.custom["augmentations"] == []
    names = [r["name"] for r in aug.custom["augmentations"]]
    assert {"reverb", "echo", "noise", "gain"} <= set(names)
    rec = {r["name"]: r for r in aug.custom["augmentations"]}
    assert 0.0 <= rec["echo"]["gain"] <= 0.2 and 100 <= rec["echo"]["delay_ms"] <= 500
    assert -24 <= rec["gain"]["db"] <= 15 and -30 <= rec["noise"]["relative_db"] <= 6
    assert 0.2 <= rec["reverb"]["rt60_s"] <= 0.8 and rec["noise"]["source"] == "generated"
    assert not np.array_equal(clean.user_audio, aug.user_audio) and np.max(np.abs(aug.user_audio)) <= 0.99 + 1e-6
    # Off by default: the clean demo data.
    assert AugmentConfig().user_stream.enabled is False


def test_gain_alone_scales_exactly():
    x = tone(16000, 1.0, 440, 0.01)
    y, rec = augment_user_stream(x, np.zeros(22050, np.float32), 16000, 22050, 0.01,
                                 UserStreamConfig(enabled=True, gain_prob=1, noise_prob=0, echo_reverb_prob=0), seed=1)
    assert [r["name"] for r in rec] == ["gain"]
    np.testing.assert_allclose(y, x * 10 ** (rec[0]["db"] / 20), rtol=1e-5, atol=1e-7)


def test_echo_is_the_agent_delayed_and_scaled():
    sr = 16000
    rng = np.random.default_rng(0)
    agent = rng.standard_normal(sr).astype(np.float32) * 0.1
    y = add_echo(np.zeros(sr, np.float32), agent, 0.15, 0.25, sr)
    d = int(0.25 * sr)
    assert not np.any(y[:d])
    np.testing.assert_allclose(y[d:], 0.15 * agent[: sr - d], rtol=1e-6)
    # Through the full function: cross-correlation peaks at the recorded delay.
    agent22 = rng.standard_normal(22050 * 2).astype(np.float32) * 0.1
    y, rec = augment_user_stream(np.zeros(2 * sr, np.float32), agent22, sr, 22050, 0.1,
                                 UserStreamConfig(enabled=True, gain_prob=0, noise_prob=0, echo_reverb_prob=1, reverb=False), seed=4)
    import soxr

    a16 = soxr.resample(agent22, 22050, sr)
    xc = np.correlate(y[: sr], a16[: sr // 2], mode="valid")
    assert abs(np.argmax(xc) / sr * 1000 - rec[0]["delay_ms"]) <= 1.0


def test_noise_level_relative_to_speech_and_silent_stretches():
    rng = np.random.default_rng(1)
    for kind in ("white", "pink", "brown"):
        n = colored_noise(32000, kind, rng)
        assert np.sqrt(np.mean(n**2)) == pytest.approx(1.0, rel=1e-3)
    # Pink noise has more low-frequency power than white.
    spec = lambda x: np.abs(np.fft.rfft(x)) ** 2  # noqa: E731
    w, p = spec(colored_noise(32000, "white", rng)), spec(colored_noise(32000, "pink", rng))
    assert p[10:200].sum() / p.sum() > 5 * w[10:200].sum() / w.sum()
    env, intervals = silent_stretch_mask(16000 * 20, 16000, rng)
    assert intervals and 0 < env.mean() < 1 and env.min() == 0 and env.max() == 1
    cfg = UserStreamConfig(enabled=True, gain_prob=0, noise_prob=1, echo_reverb_prob=0, noise_silent_stretch_prob=0)
    silence = np.zeros(16000 * 3, np.float32)
    y, rec = augment_user_stream(silence, np.zeros(22050 * 3, np.float32), 16000, 22050, 0.05, cfg, seed=2)
    level_db = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)) / 0.05)
    assert level_db == pytest.approx(rec[0]["relative_db"], abs=0.1)


def test_reverb_rir_decays_at_rt60_and_keeps_length():
    rng = np.random.default_rng(0)
    h = simulate_rir(16000, 0.5, 6.0, rng)
    assert h[0] == 1.0 and len(h) == 8000
    tail_db = 10 * np.log10(np.sum(h[1:] ** 2))
    assert tail_db == pytest.approx(-6.0, abs=0.01)
    early, late = np.mean(h[1:800] ** 2), np.mean(h[-800:] ** 2)
    assert 10 * np.log10(early / late) > 40  # ~54 dB of decay over 0.45 s at RT60 0.5 s
    x = tone(16000, 1.0, 300)
    y = apply_reverb(x, h)
    assert len(y) == len(x) and not np.allclose(x, y)


def test_noise_from_a_folder_and_from_a_lhotse_manifest(tmp_path):
    rng = np.random.default_rng(0)
    src = (0.2 * np.sin(2 * np.pi * 50 * np.arange(8000) / 8000)).astype(np.float32)
    (tmp_path / "noises").mkdir()
    sf.write(tmp_path / "noises" / "hum.wav", src, 8000)  # another rate: resampled to 16 kHz
    audio, info = FolderNoise(tmp_path / "noises")(40000, 16000, rng)
    assert len(audio) == 40000 and info["path"].endswith("hum.wav") and np.sqrt(np.mean(audio**2)) == pytest.approx(1, rel=1e-3)
    # The hum is at 50 Hz after resampling.
    assert np.argmax(np.abs(np.fft.rfft(audio))) * 16000 / 40000 == pytest.approx(50, abs=1)

    from lhotse import Recording, RecordingSet

    RecordingSet.from_recordings([Recording.from_file(tmp_path / "noises" / "hum.wav", recording_id="hum")]).to_file(tmp_path / "n.jsonl.gz")
    audio, info = LhotseNoise(tmp_path / "n.jsonl.gz")(20000, 16000, rng)
    assert len(audio) == 20000 and info == {"source": "lhotse", "id": "hum", "offset_s": info["offset_s"]}

    cfg = UserStreamConfig(enabled=True, gain_prob=0, noise_prob=1, echo_reverb_prob=0, noise_dir=str(tmp_path / "noises"))
    _, rec = augment_user_stream(np.zeros(16000, np.float32), np.zeros(22050, np.float32), 16000, 22050, 0.1, cfg, seed=0)
    assert rec[0]["source"] == "file"
    with pytest.raises(ValueError, match="noise_dir"):
        FolderNoise(tmp_path / "empty_missing")
