"""Piper and NeMo backends: contract tests that run when a voice file / checkpoint is given, else skip.

Set DUPLEXGEN_PIPER_VOICE=/path/voice.onnx or DUPLEXGEN_NEMO_FASTPITCH + DUPLEXGEN_NEMO_HIFIGAN."""

import os

import numpy as np
import pytest

from duplexgen.tts.base import Voice
from duplexgen.tts.render import Renderer


def _contract(backend, voice, tmp_path):
    turn = Renderer(backend, str(tmp_path)).render("Hello there, this is a test.", voice, "agent")
    assert turn.sample_rate == 22050 and turn.duration > 0.5
    assert np.abs(turn.audio).max() > 0.05
    assert all(0 <= w.start <= w.end <= turn.duration for w in turn.words)
    assert [w.start for w in turn.words] == sorted(w.start for w in turn.words)
    return turn


def test_piper_contract(tmp_path):
    path = os.environ.get("DUPLEXGEN_PIPER_VOICE")
    if not path:
        pytest.skip("no Piper voice file (set DUPLEXGEN_PIPER_VOICE)")
    pytest.importorskip("piper")
    from duplexgen.tts.piper import PiperBackend

    backend = PiperBackend([path])
    turn = _contract(backend, backend.list_voices()[0], tmp_path)
    assert turn.timing_source in ("durations", "estimate")


def test_nemo_contract(tmp_path):
    fp, voc = os.environ.get("DUPLEXGEN_NEMO_FASTPITCH"), os.environ.get("DUPLEXGEN_NEMO_HIFIGAN")
    if not (fp and voc):
        pytest.skip("no NeMo FastPitch/HiFi-GAN checkpoints (set DUPLEXGEN_NEMO_FASTPITCH and DUPLEXGEN_NEMO_HIFIGAN)")
    from duplexgen.tts.nemo_tts import NemoTTSBackend

    turn = _contract(NemoTTSBackend(fp, voc), Voice.make("0", "nemo"), tmp_path)
    assert turn.timing_source in ("durations", "estimate")


def test_missing_files_are_config_errors(tmp_path):
    from duplexgen.tts.nemo_tts import NemoTTSBackend
    from duplexgen.tts.piper import PiperBackend

    with pytest.raises(ValueError, match="piper_voices"):
        PiperBackend([str(tmp_path / "nope.onnx")])
    with pytest.raises(ValueError, match="does not exist"):
        NemoTTSBackend(str(tmp_path / "fp.nemo"), str(tmp_path / "hifigan.nemo"))
