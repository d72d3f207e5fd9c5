"""Renderer: trimming, resampling, levels, bad input, cache (real espeak audio)."""

import io

import numpy as np
import pytest
import soundfile as sf

from duplexgen.core.records import RejectError
from duplexgen.tts import TTSConfig, build_renderer, build_voice_pool
from duplexgen.tts.base import Voice
from duplexgen.tts.espeak import EspeakBackend
from duplexgen.tts.render import (
    TRIM_THRESHOLD_DB,
    Renderer,
    RenderOptions,
    check_levels,
    clean_text,
    frame_db,
    resample,
    trim_silence,
)

SR = 22050


def _tone(seconds, sr=SR, freq=220.0, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_trim_silence_removes_edges_and_reports_offset():
    rng = np.random.default_rng(0)
    noise = lambda s: (rng.standard_normal(int(s * SR)) * 10 ** (-70 / 20)).astype(np.float32)  # noqa: E731
    audio = np.concatenate([noise(0.3), _tone(0.5), noise(0.2)])
    trimmed, offset = trim_silence(audio, SR)
    assert abs(offset - 0.3) <= 0.01
    assert abs(len(trimmed) / SR - 0.5) <= 0.02
    db = frame_db(trimmed, SR)
    assert db[0] >= db.max() + TRIM_THRESHOLD_DB and db[-1] >= db.max() + TRIM_THRESHOLD_DB
    silent = np.zeros(1000, np.float32)
    assert trim_silence(silent, SR)[0] is silent


def test_trim_threshold_keeps_weak_edges():
    """The measurement behind TRIM_THRESHOLD_DB: weak fricative edges stay, only silence/echo tails go."""
    backend = EspeakBackend()
    for voice in ("en-us", "en-gb-scotland+m3"):
        for word in ("fifth", "thief", "his", "hush"):
            audio = backend.synthesize(word, Voice.make(voice, "espeak")).audio
            db = frame_db(audio, SR)
            speech = np.nonzero(db > -119)[0]
            rel = db - db.max()
            # edge frames of real speech are far above the threshold (the last partial frame may decay)
            assert rel[speech[0]] > TRIM_THRESHOLD_DB + 10 and rel[speech[-2]] > TRIM_THRESHOLD_DB + 10
            trimmed, offset = trim_silence(audio, SR)
            assert offset <= speech[0] * 0.01 + 1e-9
            assert len(trimmed) >= (speech[-2] - speech[0] + 1) * int(SR * 0.01)


def test_resample_is_band_limited_and_keeps_duration():
    tone = _tone(1.0, freq=1000.0)
    out = resample(tone, SR, 16000)
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) - 1000) <= 1  # 1 Hz bins
    aliased = resample(_tone(1.0, freq=10000.0), SR, 16000)  # above the new Nyquist: must be filtered out
    assert np.sqrt(np.mean(aliased[1000:-1000] ** 2)) < 1e-3


def test_check_levels_rejects_clipping_and_silence():
    assert check_levels(_tone(0.5), SR)["clip_fraction"] == 0
    with pytest.raises(RejectError, match="clipped"):
        check_levels(np.clip(_tone(0.5, amp=3.0), -1, 1), SR)
    with pytest.raises(RejectError, match="near silent"):
        check_levels(_tone(0.5, amp=1e-4), SR)
    with pytest.raises(RejectError, match="shorter"):
        check_levels(_tone(0.01), SR)


@pytest.mark.parametrize(
    "text, outcome",
    [
        ("", "reject"),
        ("   \n\t ", "reject"),
        ("😀😀🎉", "reject"),
        ("Great job 🎉 see you!", "Great job see you!"),
        ("Hello\x00 there\x1b[0m friend", "Hello there [0m friend"),
        ("你好，世界，今天天气很好", "reject"),
        ("Привет, как дела?", "reject"),
        ("Café au lait, naïve façade.", "Café au lait, naïve façade."),
        ("The value of π is about 3.14.", "The value of π is about 3.14."),
    ],
)
def test_clean_text_renders_or_rejects_with_reason(text, outcome):
    if outcome == "reject":
        with pytest.raises(RejectError) as err:
            clean_text(text)
        assert err.value.reason and err.value.stage == "tts"
    else:
        assert clean_text(text)[0] == outcome


@pytest.fixture()
def renderer(tmp_path):
    return build_renderer(TTSConfig(), cache_dir=str(tmp_path / "cache"))


def test_render_roles_rates_words_and_voice(renderer):
    pool = build_voice_pool(TTSConfig(), seed=3)
    text = "Sure, the meeting starts at nine tomorrow morning."
    for role, voice, sr in (("user", pool.user_voice(11), 16000), ("agent", pool.agent, 22050)):
        turn = renderer.render(text, voice, role)
        assert turn.sample_rate == sr and turn.role == role and turn.voice == voice.key()
        assert turn.timing_source == "espeak-events"
        assert [w.text for w in turn.words][:3] == ["Sure", "the", "meeting"]
        assert turn.words[0].start == 0.0 or turn.words[0].start < 0.02  # trimmed: speech starts at once
        assert all(0 <= w.start <= w.end <= turn.duration for w in turn.words)
        assert all(a.end <= b.start for a, b in zip(turn.words, turn.words[1:]))
        db = frame_db(turn.audio, sr)
        assert db[0] > db.max() - 50 and db[-1] > db.max() - 50  # no silent lead-in or tail
        # int16 precision: a FLAC round trip is exact
        buf = io.BytesIO()
        sf.write(buf, turn.audio, sr, format="FLAC", subtype="PCM_16")
        buf.seek(0)
        back, _ = sf.read(buf, dtype="float32")
        assert np.array_equal(back, turn.audio)


def test_cache_hit_returns_same_bytes(tmp_path):
    voice = Voice.make("en-us+m3", "espeak", pitch=40)
    first = Renderer(EspeakBackend(), str(tmp_path / "c"))
    a = first.render("The cache should hit on the second render.", voice, "user")
    assert first.cache.stats() == {"hits": 0, "misses": 1}
    files = list((tmp_path / "c").rglob("*.pcm"))
    assert len(files) == 1 and not list((tmp_path / "c").rglob(".tmp-*"))
    second = Renderer(EspeakBackend(), str(tmp_path / "c"))  # a rerun: a new process would look the same
    b = second.render("The cache should hit on the second render.", voice, "user")
    assert second.cache.stats() == {"hits": 1, "misses": 0}
    assert np.array_equal(a.audio, b.audio) and a.words == b.words and a.meta == b.meta
    # same bytes as rendering afresh without a cache (deterministic renders)
    fresh = Renderer(EspeakBackend(), None).render("The cache should hit on the second render.", voice, "user")
    assert np.array_equal(fresh.audio, a.audio)
    # a different voice parameter is a different entry
    second.render("The cache should hit on the second render.", Voice.make("en-us+m3", "espeak", pitch=41), "user")
    assert second.cache.misses == 1
    # a truncated entry (a disk that filled up before the rename, a copy cut short) is a miss, never trusted
    files[0].write_bytes(files[0].read_bytes()[:-2])
    third = Renderer(EspeakBackend(), str(tmp_path / "c"))
    c = third.render("The cache should hit on the second render.", voice, "user")
    assert third.cache.stats() == {"hits": 0, "misses": 1} and np.array_equal(c.audio, a.audio)


def test_disk_cache_is_off_for_espeak_unless_asked(tmp_path):
    """An espeak render (~4 ms) costs less than writing its cache entry; other backends keep the cache."""
    server = {"backend": "openai", "user_voices": ["alloy"], "agent_voice": "echo"}
    assert build_renderer(TTSConfig(), cache_dir=str(tmp_path)).cache is None
    assert build_renderer(TTSConfig(cache=True), cache_dir=str(tmp_path)).cache is not None
    assert build_renderer(TTSConfig(**server), cache_dir=str(tmp_path), backend=EspeakBackend()).cache is not None
    assert build_renderer(TTSConfig(**server, cache=False), cache_dir=str(tmp_path), backend=EspeakBackend()).cache is None


def test_long_text_limit_is_configurable(tmp_path):
    paragraph = ("This is a rather long paragraph that goes on and on about nothing in particular. " * 70)[:5000]
    with pytest.raises(RejectError, match="max_chars"):
        build_renderer(TTSConfig(), str(tmp_path)).render(paragraph, Voice.make("en-us", "espeak"), "agent")
    long_ok = Renderer(EspeakBackend(), None, RenderOptions(max_chars=6000))
    turn = long_ok.render(paragraph, Voice.make("en-us", "espeak"), "agent")
    assert turn.duration > 120 and len(turn.words) == len(paragraph.split())


def test_rejects_are_cached_and_carry_reasons(tmp_path):
    r = Renderer(EspeakBackend(), str(tmp_path), RenderOptions(min_peak_db=-1.0))  # nothing espeak makes is this loud
    for _ in range(2):
        with pytest.raises(RejectError, match="near silent"):
            r.render("Too quiet for this gate.", Voice.make("en-us", "espeak"), "user")
    assert r.cache.stats() == {"hits": 1, "misses": 1}


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="tts.backend"):
        TTSConfig(backend="festival")
    with pytest.raises(ValueError, match="tts.user_pitch_range"):
        TTSConfig(user_pitch_range=[80, 20])
    with pytest.raises(ValueError, match="tts.asr_model_path"):
        TTSConfig(quality_gate="nemo")
