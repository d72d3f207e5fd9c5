"""Optional quality gate: transcribe each rendered turn and reject it when the word error rate vs its text is high.

Engines: ``pocketsphinx`` (offline, ships an en-us model, CPU, ~0.5 s per turn) or ``nemo`` (an ASR
``.nemo`` checkpoint given by path; GPU when present). WER is computed with ``jiwer`` on lower-cased
text with punctuation removed. The gate catches renders that say something else than the text
(garbled neural TTS, a wrong voice, truncated audio). pocketsphinx is a weak recogniser for
synthetic formant speech: measure WER on your backend first and set ``tts.quality_max_wer`` above
its typical value (see ``tests/test_tts_quality.py``).

Example::

    gate = AsrRoundTripGate("pocketsphinx", max_wer=0.8)
    gate(turn.audio, turn.sample_rate, turn.text)   # {'asr_wer': 0.33, 'asr_hyp': '...'} or RejectError
"""

from __future__ import annotations

import re
import threading
from typing import Optional

import numpy as np

from duplexgen.core.records import RejectError

_PUNCT = re.compile(r"[^\w\s']+")


def normalize_for_wer(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer

    ref, hyp = normalize_for_wer(reference), normalize_for_wer(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp or "<empty>"))


class PocketsphinxASR:
    """pocketsphinx's bundled en-us model at 16 kHz; one decoder per instance, calls serialised."""

    name = "pocketsphinx"

    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=16000, loglevel="FATAL")
        self.lock = threading.Lock()

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        from duplexgen.core.audio import quantize_int16, resample

        pcm = quantize_int16(resample(audio, sample_rate, 16000)).tobytes()
        with self.lock:
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


class NemoASR:
    """A NeMo ASR checkpoint (.nemo) loaded by path; transcribes 16 kHz audio on GPU when present."""

    name = "nemo"

    def __init__(self, model_path: str, device: str = "auto"):
        import torch
        from nemo.collections.asr.models import ASRModel

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = ASRModel.restore_from(model_path, map_location=device).eval()
        self.lock = threading.Lock()

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        from duplexgen.core.audio import resample

        with self.lock:
            out = self.model.transcribe([resample(audio, sample_rate, 16000)], batch_size=1, verbose=False)
        first = out[0] if isinstance(out, (list, tuple)) else out
        if isinstance(first, (list, tuple)):
            first = first[0]
        return getattr(first, "text", first) or ""


class AsrRoundTripGate:
    """Callable gate for :class:`~duplexgen.tts.render.Renderer`: RejectError when WER > ``max_wer``."""

    def __init__(self, engine: str = "pocketsphinx", max_wer: float = 0.5, model_path: Optional[str] = None):
        self.engine_name = engine
        self.max_wer = max_wer
        self.model_path = model_path
        self._asr = None
        self.name = f"asr-{engine}"

    @property
    def asr(self):
        if self._asr is None:  # lazy: heavy models load once per worker, on first use
            if self.engine_name == "pocketsphinx":
                self._asr = PocketsphinxASR()
            elif self.engine_name == "nemo":
                if not self.model_path:
                    raise ValueError("tts.asr_model_path is required for the nemo quality gate")
                self._asr = NemoASR(self.model_path)
            else:
                raise ValueError(f"tts.quality_gate: unknown ASR engine {self.engine_name!r}")
        return self._asr

    def __call__(self, audio: np.ndarray, sample_rate: int, text: str) -> dict:
        hyp = self.asr.transcribe(audio, sample_rate)
        wer = word_error_rate(text, hyp)
        if wer > self.max_wer:
            raise RejectError(
                f"ASR round trip ({self.engine_name}) heard {hyp[:60]!r}: WER {wer:.2f} > tts.quality_max_wer={self.max_wer}",
                code="tts.quality", stage="tts-quality",
            )
        return {"asr_wer": round(wer, 4), "asr_hyp": hyp, "asr_engine": self.engine_name}


__all__ = ["AsrRoundTripGate", "PocketsphinxASR", "NemoASR", "word_error_rate", "normalize_for_wer"]
