"""espeak-ng backend contract, word events, determinism and voice pools (real espeak audio)."""

import re

import numpy as np
import pytest

from duplexgen.core.records import derive_seed, RejectError
from duplexgen.tts import TTSConfig, build_voice_pool
from duplexgen.tts.base import Voice
from duplexgen.tts.espeak import EspeakBackend, espeak_languages, espeak_variants
from duplexgen.tts.render import frame_db
from duplexgen.tts.voices import DEFAULT_ESPEAK_AGENT, espeak_voice_pool

TEXT = "Hello there, my friend. It costs 42 dollars, okay?"


@pytest.fixture(scope="module")
def backend():
    return EspeakBackend()


def _text_words(text):
    return [re.sub(r"^\W+|\W+$", "", w) for w in text.split()]


def test_contract_rate_audio_and_timings(backend):
    syn = backend.synthesize(TEXT, Voice.make("en-gb-scotland+m3", "espeak", pitch=60, rate=180))
    assert syn.sample_rate == 22050
    assert syn.audio.dtype == np.float32 and syn.audio.ndim == 1
    assert 1.5 < syn.duration < 8
    assert frame_db(syn.audio, syn.sample_rate).max() > -30  # not silent
    assert syn.timing_source == "espeak-events"
    # one timing per text word ("42" is one word even though espeak says two), in text order
    assert [w.text for w in syn.words] == _text_words(TEXT)
    starts = [w.start for w in syn.words]
    assert starts == sorted(starts)
    for a, b in zip(syn.words, syn.words[1:]):
        assert a.start <= a.end <= b.start
    assert 0 <= syn.words[0].start and syn.words[-1].end <= syn.duration
    # the pause after "friend." is not counted inside the word
    friend, it = syn.words[3], syn.words[4]
    assert it.start - friend.end > 0.1


def test_word_timings_follow_the_speech(backend):
    """Each word's span carries speech energy; its timing is not a uniform estimate."""
    syn = backend.synthesize("one two three four five", Voice.make("en-us", "espeak"))
    db = frame_db(syn.audio, syn.sample_rate)
    for w in syn.words:
        seg = db[int(w.start * 100) : max(int(w.start * 100) + 1, int(w.end * 100))]
        assert seg.max() > db.max() - 20, w


def test_same_text_same_samples_whatever_came_before(backend):
    voice = Voice.make("en-us+f2", "espeak")
    first = backend.synthesize("Hello there friend.", voice).audio
    backend.synthesize("Something else in between, with another voice.", Voice.make("en+m3", "espeak", pitch=80))
    again = backend.synthesize("Hello there friend.", voice).audio
    assert np.array_equal(first, again)


RENDER_IN_FRESH_PROCESS = """
import hashlib
from duplexgen.tts.espeak import EspeakBackend
from duplexgen.tts.base import Voice
print(hashlib.sha256(EspeakBackend().synthesize("Hello there friend, how are you?", Voice.make("en-us+f2", "espeak")).audio.tobytes()).hexdigest())
"""


def test_same_samples_in_any_process_after_anything_at_any_time(backend):
    """Isolated renders come from a zygote (a fresh helper process) with espeak's clock-seeded random generator
    reseeded per text: a worker that used espeak in-process before, and another process a second later, agree."""
    import hashlib
    import subprocess
    import sys
    import time

    EspeakBackend(isolate=False).synthesize("Dirty this process's espeak state first.", Voice.make("en+m3", "espeak", pitch=80))
    here = hashlib.sha256(backend.synthesize("Hello there friend, how are you?", Voice.make("en-us+f2", "espeak")).audio.tobytes()).hexdigest()
    time.sleep(1.1)  # espeak_Initialize seeds from time(NULL): make sure the clock moved on
    fresh = subprocess.run([sys.executable, "-c", RENDER_IN_FRESH_PROCESS], capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert fresh.stdout.strip() == here


def test_a_killed_zygote_is_replaced(backend):
    import os
    import signal

    from duplexgen.tts import espeak

    voice = Voice.make("en-us+f2", "espeak")
    before = backend.synthesize("Still here.", voice).audio
    os.kill(espeak._ZYGOTE.proc.pid, signal.SIGKILL)
    espeak._ZYGOTE.proc.wait()
    assert np.array_equal(backend.synthesize("Still here.", voice).audio, before)


def test_in_process_mode_renders_too():
    syn = EspeakBackend(isolate=False).synthesize("Quick check.", Voice.make("en-us", "espeak"))
    assert syn.duration > 0.3 and [w.text for w in syn.words] == ["Quick", "check"]


def test_voices_change_the_sound(backend):
    a = backend.synthesize("Good morning.", Voice.make("en-us+m1", "espeak", pitch=30)).audio
    b = backend.synthesize("Good morning.", Voice.make("en-us+f3", "espeak", pitch=80)).audio
    assert len(a) != len(b) or not np.allclose(a, b)


def test_unknown_names_are_refused_not_silently_replaced(backend):
    assert "m3" in espeak_variants() and "en-us" in espeak_languages()
    with pytest.raises(ValueError, match="variant"):
        backend.synthesize("hi", Voice.make("en-us+M3", "espeak"))  # case sensitive
    with pytest.raises(ValueError, match="language"):
        backend.synthesize("hi", Voice.make("xx-nowhere", "espeak"))
    with pytest.raises(ValueError, match="rate"):
        backend.synthesize("hi", Voice.make("en-us", "espeak", rate=5))
    with pytest.raises(RejectError):
        backend.synthesize("   ", Voice.make("en-us", "espeak"))


def test_voice_pool_is_reproducible_and_never_uses_the_agent():
    pool = espeak_voice_pool(num_user_voices=40, seed=7)
    again = espeak_voice_pool(num_user_voices=40, seed=7)
    other = espeak_voice_pool(num_user_voices=40, seed=8)
    assert pool.voices == again.voices and pool.voices != other.voices
    assert len(set(pool.voices)) == 40
    assert pool.agent == DEFAULT_ESPEAK_AGENT and pool.agent not in pool.voices
    assert all(v.key() != pool.agent.key() for v in pool.voices)
    picks = [pool.user_voice(derive_seed(7, f"conv-{i}")) for i in range(200)]
    assert picks == [again.user_voice(derive_seed(7, f"conv-{i}")) for i in range(200)]
    assert len(set(picks)) > 25  # users sound like many people
    assert pool.agent not in picks
    for v in pool.voices:
        EspeakBackend.check_voice_name(v.name)


def test_voice_pool_from_config_drops_an_agent_listed_as_user():
    cfg = TTSConfig(agent_voice="en-us", user_voices=["en-us", "en+m3", "en-029+f2"])
    pool = build_voice_pool(cfg, seed=1)
    assert pool.agent.name == "en-us" and {v.name for v in pool.voices} == {"en+m3", "en-029+f2"}
    with pytest.raises(ValueError, match="distinct"):
        build_voice_pool(TTSConfig(agent_voice="en-us", user_voices=["en-us"]), seed=1)


def test_bench_reports_faster_than_real_time():
    from duplexgen.tts.bench import bench_backends

    res = bench_backends(["Hello there.", "How are you doing today?"])
    assert set(res) >= {"espeak", "espeak-in-process"}
    assert all(r["rtf_per_core"] > 5 and r["audio_s"] > 1 for r in res.values())
