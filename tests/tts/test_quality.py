"""Quality gate: a real pocketsphinx ASR round trip on real espeak audio."""

import numpy as np
import pytest

pytest.importorskip("pocketsphinx")

from duplexgen.core.records import RejectError
from duplexgen.tts import TTSConfig, build_renderer
from duplexgen.tts.base import Voice
from duplexgen.tts.espeak import EspeakBackend
from duplexgen.tts.quality import AsrRoundTripGate, word_error_rate
from duplexgen.tts.render import Renderer

TEXT = "Please turn on the kitchen lights tonight."
OTHER = "Seven green elephants dance quietly under purple umbrellas."
VOICE = Voice.make("en-us", "espeak", rate=150)


def test_word_error_rate_normalises_case_and_punctuation():
    assert word_error_rate("Hello, World!", "hello world") == 0.0
    assert word_error_rate("one two three four", "one two") == 0.5


@pytest.fixture(scope="module")
def rendered():
    return Renderer(EspeakBackend(), None).render(TEXT, VOICE, "user")


def test_gate_accepts_matching_text_and_rejects_other_text(rendered):
    # pocketsphinx hears espeak poorly (WER ~0.7 on matching text, measured), so the gate is set at 0.8
    gate = AsrRoundTripGate("pocketsphinx", max_wer=0.8)
    ok = gate(rendered.audio, rendered.sample_rate, TEXT)
    assert ok["asr_wer"] <= 0.8 and ok["asr_hyp"]
    with pytest.raises(RejectError, match="WER"):
        gate(rendered.audio, rendered.sample_rate, OTHER)
    with pytest.raises(RejectError):
        gate(np.zeros(16000, np.float32), 16000, TEXT)  # nothing said


def test_renderer_applies_gate_from_config(tmp_path):
    cfg = TTSConfig(quality_gate="pocketsphinx", quality_max_wer=0.8)
    renderer = build_renderer(cfg, str(tmp_path))
    turn = renderer.render(TEXT, VOICE, "user")
    assert turn.meta["quality"]["asr_engine"] == "pocketsphinx" and turn.meta["quality"]["asr_wer"] <= 0.8
    strict = build_renderer(TTSConfig(quality_gate="pocketsphinx", quality_max_wer=0.1), str(tmp_path))
    with pytest.raises(RejectError, match="quality_max_wer"):
        strict.render(TEXT, VOICE, "user")
