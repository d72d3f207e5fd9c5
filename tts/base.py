"""The one interface every TTS backend implements: text + voice -> audio at its native rate + word timings.

A :class:`Voice` is an immutable, hashable description of one speaker of one backend (name plus
parameters such as pitch and rate); its :meth:`Voice.key` is what the render cache and the metadata
use. A backend returns a :class:`Synthesis`: float32 mono audio at the backend's own sample rate,
word timings in seconds from the start of that audio, and where those timings come from
(``timing_source``: "espeak-events", "durations", "forced-alignment", "estimate", "none").

Resampling, trimming, level checks and caching are not the backend's job: :mod:`duplexgen.tts.render`
does them the same way for every backend.

Example::

    voice = Voice.make("en-us+m3", "espeak", pitch=55, rate=170)
    syn = EspeakBackend().synthesize("Hello there.", voice)
    syn.sample_rate, [w.text for w in syn.words]   # 22050, ['Hello', 'there']
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from duplexgen.core.records import RejectError, Word

#: Values of ``Synthesis.timing_source``; "estimate" and "none" mark timings that were not measured.
TIMING_SOURCES = ("espeak-events", "durations", "forced-alignment", "estimate", "none")


@dataclass(frozen=True)
class Voice:
    """One speaker of one backend. ``params`` is a sorted tuple of (key, value) pairs so the voice is hashable."""

    name: str
    backend: str
    params: tuple = ()

    @classmethod
    def make(cls, name: str, backend: str, **params: Any) -> "Voice":
        return cls(name=name, backend=backend, params=tuple(sorted(params.items())))

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    def key(self) -> str:
        """A stable string naming the voice exactly (backend, name, every parameter): cache key and metadata."""
        if not self.params:
            return f"{self.backend}:{self.name}"
        return f"{self.backend}:{self.name}:" + json.dumps(dict(self.params), sort_keys=True, separators=(",", ":"))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, **dict(self.params)}

    def __str__(self) -> str:
        return self.key()


@dataclass
class Synthesis:
    """A backend's raw output: audio at its native rate and word timings in seconds from the audio's start."""

    audio: np.ndarray  # float32, mono, in [-1, 1]
    sample_rate: int
    words: list[Word] = field(default_factory=list)
    timing_source: str = "none"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


class TTSBackend(ABC):
    """A text-to-speech engine. Subclasses set ``name`` and implement :meth:`list_voices` and :meth:`synthesize`.

    ``synthesize`` raises :class:`RejectError` for text the engine cannot speak; any other exception is
    a backend failure (the pipeline fails only the conversation that hit it)."""

    name: str = "base"
    #: Native output rate in Hz (informational; each Synthesis carries its own).
    sample_rate: int = 0

    @abstractmethod
    def list_voices(self) -> list[Voice]:
        """The voices this backend can speak with (used to build voice pools)."""

    @abstractmethod
    def synthesize(self, text: str, voice: Voice) -> Synthesis:
        """Render ``text`` with ``voice``."""

    def params_key(self) -> str:
        """Backend-level settings that change the audio (model file, engine version): part of the cache key."""
        return self.name

    def synthesize_batch(self, texts: list[str], voices: list[Voice]) -> list[Synthesis | Exception]:
        """Render many texts; a failure of one item is returned in its place, not raised. Backends that batch override it."""
        out: list[Synthesis | Exception] = []
        for text, voice in zip(texts, voices):
            try:
                out.append(self.synthesize(text, voice))
            except Exception as e:  # noqa: BLE001 - one item's failure must not fail the batch
                out.append(e)
        return out


# The estimate lives with the aligners; re-exported here for backends that import it from base.
from duplexgen.tts.align import estimate_word_timings  # noqa: E402


__all__ = ["Voice", "Synthesis", "TTSBackend", "RejectError", "Word", "TIMING_SOURCES", "estimate_word_timings"]
