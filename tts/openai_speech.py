"""An OpenAI-compatible speech server (``POST /v1/audio/speech``) as a TTS backend.

Works with OpenAI itself and with self-hosted servers that speak the same API (Kokoro-FastAPI,
openedai-speech, vLLM-Omni, ...). Voice names come from config (``tts.user_voices``,
``tts.agent_voice``). The ``openai`` client does the retries: 429, 5xx and connection errors are
retried with exponential backoff (honouring ``Retry-After``), up to ``retries`` times. WAV responses
are decoded at whatever rate the server uses; the renderer resamples.

These servers return no word timings, so the renderer fills them with the documented
character-proportional estimate (:func:`duplexgen.tts.base.estimate_word_timings`) over the trimmed
speech and records ``timing_source="estimate"``.

Example::

    backend = OpenAISpeechBackend("http://127.0.0.1:8880/v1", voices=["af_bella", "am_adam"])
    syn = backend.synthesize("Hello.", Voice.make("af_bella", "openai"))
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

import numpy as np

from duplexgen.core.records import RejectError
from duplexgen.tts.base import Synthesis, TTSBackend, Voice


class OpenAISpeechBackend(TTSBackend):
    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        model: str = "tts-1",
        voices: Sequence[str] = (),
        concurrency: int = 4,
        retries: int = 4,
        timeout_s: float = 60.0,
        response_format: str = "wav",
    ):
        from openai import OpenAI

        self.base_url = base_url
        self.model = model
        self.voice_names = [v for v in dict.fromkeys(voices) if v]
        self.concurrency = concurrency
        self.response_format = response_format
        self.client = OpenAI(
            base_url=base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "none",
            max_retries=retries,
            timeout=timeout_s,
        )

    def list_voices(self) -> list[Voice]:
        return [Voice.make(n, self.name) for n in self.voice_names]

    def params_key(self) -> str:
        return f"openai:{self.base_url}:{self.model}:{self.response_format}"

    def synthesize(self, text: str, voice: Voice) -> Synthesis:
        if not text.strip():
            raise RejectError("empty text: nothing to speak", code="tts.empty-text", stage="tts")
        import soundfile as sf

        response = self.client.audio.speech.create(
            model=self.model, voice=voice.name, input=text, response_format=self.response_format
        )
        data = response.content
        try:
            audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001 - a server answer we cannot decode is a backend failure
            raise RuntimeError(f"speech server returned {len(data)} bytes that are not {self.response_format} audio: {e}") from e
        return Synthesis(audio.mean(axis=1).astype(np.float32), int(sr), [], timing_source="none", meta={"server_model": self.model})

    def synthesize_batch(self, texts: list[str], voices: list[Voice]) -> list:
        """Up to ``concurrency`` requests in flight; one failure is returned in its slot."""

        def one(args):
            try:
                return self.synthesize(*args)
            except Exception as e:  # noqa: BLE001
                return e

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, zip(texts, voices)))


__all__ = ["OpenAISpeechBackend"]
