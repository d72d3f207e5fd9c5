"""TTS throughput: seconds of audio per wall-clock second per core, per backend (raw synthesis, no cache).

Example::

    bench_backends(["Hello there.", "How are you today?"])
    # {'espeak': {'audio_s': 2.1, 'wall_s': 0.03, 'rtf_per_core': 70.0, 'cores': 1, ...}}
"""

from __future__ import annotations

import time
from typing import Optional, Sequence

from duplexgen.tts.base import TTSBackend, Voice

DEFAULT_SENTENCES = (
    "Could you tell me how long it takes to boil an egg?",
    "Sure. A soft boiled egg takes about six minutes, a hard boiled one about ten.",
    "Thanks, and what about poaching one?",
    "Bring the water to a gentle simmer, add a splash of vinegar, and cook it for three minutes.",
)


def bench_backend(backend: TTSBackend, voice: Voice, sentences: Sequence[str], cores: int = 1) -> dict:
    """Synthesise every sentence once (after one warm-up) and report audio seconds per wall second per core."""
    backend.synthesize(sentences[0], voice)  # warm-up: load models, start processes
    audio_s, t0 = 0.0, time.perf_counter()
    for s in sentences:
        audio_s += backend.synthesize(s, voice).duration
    wall = time.perf_counter() - t0
    return {
        "voice": voice.key(),
        "sentences": len(sentences),
        "audio_s": round(audio_s, 3),
        "wall_s": round(wall, 4),
        "cores": cores,
        "rtf_per_core": round(audio_s / max(wall, 1e-9) / cores, 1),
    }


def bench_backends(sentences: Optional[Sequence[str]] = None, extra: Optional[dict[str, tuple[TTSBackend, Voice]]] = None) -> dict:
    """espeak (isolated and in-process) plus any ``extra`` {name: (backend, voice)} that is available."""
    from duplexgen.tts.espeak import EspeakBackend

    sentences = list(sentences or DEFAULT_SENTENCES)
    voice = Voice.make("en-us", "espeak", pitch=50, range=50, rate=170)
    results = {
        "espeak": bench_backend(EspeakBackend(isolate=True), voice, sentences),
        "espeak-in-process": bench_backend(EspeakBackend(isolate=False), voice, sentences),
    }
    for name, (backend, v) in (extra or {}).items():
        try:
            results[name] = bench_backend(backend, v, sentences)
        except Exception as e:  # noqa: BLE001 - an unavailable backend is reported, not fatal
            results[name] = {"error": f"{type(e).__name__}: {e}"}
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(bench_backends(), indent=2))
