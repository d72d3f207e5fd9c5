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


#: Texts and voices that exercise espeak's carried-over state: the default wave generator, klatt (heap state in
#: its speech player), fast speech (the sonic speed-up stream, rate 450), whisper, numbers.
HISTORY_CASES = [
    ("Hello there friend, how are you?", Voice.make("en-us+f2", "espeak")),
    ("Something else in between, with another voice.", Voice.make("en+m3", "espeak", pitch=80)),
    ("Klatt voice speaking now.", Voice.make("en-us+klatt2", "espeak", pitch=55, rate=170)),
    ("Fast talker here, it costs 42 dollars.", Voice.make("en-us+m1", "espeak", rate=450)),
    ("Whisper it quietly.", Voice.make("en+whisper", "espeak")),
    ("Is this a question? Yes! It is.", Voice.make("en-gb-scotland+m3", "espeak", pitch=60, range=40, rate=180)),
]


def test_same_text_same_samples_whatever_came_before(backend):
    """In one process, over many random orders: a text and voice always give the same samples. Without the
    per-text reset of the library this fails for every case (the pitch-flutter phase alone moves on)."""
    import random

    first = [backend.synthesize(t, v).audio for t, v in HISTORY_CASES]
    rng = random.Random(7)
    for _ in range(12):
        for i in rng.sample(range(len(HISTORY_CASES)), len(HISTORY_CASES)):
            assert np.array_equal(backend.synthesize(*HISTORY_CASES[i]).audio, first[i]), HISTORY_CASES[i][1].key()


RENDER_IN_FRESH_PROCESS = """
import hashlib, json, sys
from duplexgen.tts.espeak import EspeakBackend
from duplexgen.tts.base import Voice
cases = json.loads(sys.argv[1])
print(json.dumps([hashlib.sha256(EspeakBackend().synthesize(t, Voice.make(n, "espeak", **p)).audio.tobytes()).hexdigest() for t, n, p in cases]))
"""


def _hashes(backend, cases):
    import hashlib

    return [hashlib.sha256(backend.synthesize(t, v).audio.tobytes()).hexdigest() for t, v in cases]


def test_same_samples_in_any_process_after_anything_at_any_time(backend):
    """A process that rendered other texts (and used the *shared* libespeak-ng on its own, as a phonemizer
    would) agrees with a fresh process started a second later; the helper process agrees too."""
    import ctypes
    import json
    import subprocess
    import sys
    import time

    from duplexgen.tts.espeak import _paths

    lib_path, data_path = _paths()
    shared = ctypes.CDLL(lib_path)  # someone else's espeak in this process: our engine has a private copy
    shared.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    assert shared.espeak_Initialize(2, 0, data_path.encode(), 0x8000) == 22050
    for t, v in HISTORY_CASES[::-1]:
        backend.synthesize(t + " Again and again.", v)
    here = _hashes(backend, HISTORY_CASES)
    time.sleep(1.1)  # espeak_Initialize seeds its random generator from time(NULL): the clock must have moved on
    cases = json.dumps([(t, v.name, dict(v.params)) for t, v in HISTORY_CASES])
    fresh = subprocess.run([sys.executable, "-c", RENDER_IN_FRESH_PROCESS, cases], capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert json.loads(fresh.stdout) == here
    assert _hashes(EspeakBackend(isolate=True), HISTORY_CASES) == here


def test_a_killed_helper_is_replaced():
    import os
    import signal

    from duplexgen.tts import espeak

    isolated = EspeakBackend(isolate=True)
    voice = Voice.make("en-us+f2", "espeak")
    before = isolated.synthesize("Still here.", voice).audio
    os.kill(espeak._HELPER.proc.pid, signal.SIGKILL)
    espeak._HELPER.proc.wait()
    assert np.array_equal(isolated.synthesize("Still here.", voice).audio, before)


def test_library_layout_is_found():
    """The reset needs the library's writable sections and, to stay fast and leak-free, three symbols."""
    from duplexgen.tts.espeak import _Engine, _paths
    from duplexgen.tts.espeak_fresh import elf_sections, elf_symbols, load_address

    image = open(_paths()[0], "rb").read()
    sections, symbols = elf_sections(image), elf_symbols(image)
    assert {".data", ".bss"} <= set(sections) and sections[".bss"][1] > 0
    assert {"voices_list", "n_voices_list", "sonicSpeedupStream"} <= set(symbols)
    assert _Engine.get().fresh.keeps_voice_list
    maps = "7f00-7f10 r--p 00000000 08:01 42 /x/lib.so\n7f10-7f20 r-xp 00010000 08:01 42 /x/lib.so\n"
    assert load_address("/x/lib.so", maps) == 0x7F00


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
