"""duplexgen.tts: text + voice -> speech audio with word timings, one fixed agent voice, many user voices.

Backends (one interface, :class:`~duplexgen.tts.base.TTSBackend`): espeak-ng (embedded default,
:mod:`.espeak`), an OpenAI-compatible ``/v1/audio/speech`` server (:mod:`.openai_speech`), NeMo
FastPitch/HiFi-GAN or Magpie (:mod:`.nemo_tts`), Piper (:mod:`.piper`). :class:`~.render.Renderer`
trims, resamples (16 kHz user, 22,050 Hz agent), checks and caches every backend's output the same way.

Example::

    cfg = TTSConfig()
    renderer = build_renderer(cfg, cache_dir="out/cache/tts")
    pool = build_voice_pool(cfg, seed=1234)
    turn = renderer.render("Hi!", pool.user_voice(42), "user")
"""

from __future__ import annotations

import os
from typing import Optional

from duplexgen.tts.base import Synthesis, TTSBackend, Voice
from duplexgen.tts.config import TTSConfig
from duplexgen.tts.render import RenderOptions, Renderer
from duplexgen.tts.voices import VoicePool, espeak_voice_pool, named_voice_pool


def build_backend(cfg: TTSConfig) -> TTSBackend:
    """The backend named by ``cfg.backend`` (heavy imports only for the one chosen)."""
    if cfg.backend == "espeak":
        from duplexgen.tts.espeak import EspeakBackend

        return EspeakBackend(isolate=cfg.espeak_isolate)
    if cfg.backend == "openai":
        from duplexgen.tts.openai_speech import OpenAISpeechBackend

        return OpenAISpeechBackend(
            base_url=cfg.openai_base_url,
            api_key=os.environ.get(cfg.openai_api_key_env) or None,
            model=cfg.openai_model,
            voices=[*cfg.user_voices, cfg.agent_voice],
            concurrency=cfg.openai_concurrency,
            retries=cfg.openai_retries,
            timeout_s=cfg.openai_timeout_s,
        )
    if cfg.backend == "nemo":
        from duplexgen.tts.nemo_tts import NemoTTSBackend

        return NemoTTSBackend(cfg.nemo_model_path, cfg.nemo_vocoder_path, device=cfg.nemo_device, batch_size=cfg.nemo_batch_size)
    if cfg.backend == "piper":
        from duplexgen.tts.piper import PiperBackend

        return PiperBackend(cfg.piper_voices)
    raise ValueError(f"tts.backend: unknown backend {cfg.backend!r}")


def build_quality_gate(cfg: TTSConfig):
    """None, or a callable (audio, sr, text) -> metrics that raises RejectError above ``quality_max_wer``."""
    if cfg.quality_gate == "none":
        return None
    from duplexgen.tts.quality import AsrRoundTripGate

    return AsrRoundTripGate(engine=cfg.quality_gate, max_wer=cfg.quality_max_wer, model_path=cfg.asr_model_path)


def build_renderer(cfg: TTSConfig, cache_dir: Optional[str] = None, backend: Optional[TTSBackend] = None) -> Renderer:
    """A Renderer for ``cfg``; ``cfg.cache_dir`` wins over ``cache_dir`` (the pipeline passes <output>/cache/tts).
    No disk cache when ``cfg.cache`` is false, or null with espeak (rendering is cheaper than writing the cache)."""
    options = RenderOptions(
        trim_threshold_db=cfg.trim_threshold_db,
        max_chars=cfg.max_chars,
        max_non_latin_fraction=cfg.max_non_latin_fraction,
        max_clip_fraction=cfg.max_clip_fraction,
        min_peak_db=cfg.min_peak_db,
    )
    gate = build_quality_gate(cfg)
    gate_name = f"{cfg.quality_gate}:{cfg.quality_max_wer}:{cfg.asr_model_path or ''}" if gate else ""
    use_cache = cfg.cache if cfg.cache is not None else cfg.backend != "espeak"
    return Renderer(backend or build_backend(cfg), (cfg.cache_dir or cache_dir) if use_cache else None, options, gate, gate_name,
                    aligner=cfg.aligner)


def build_voice_pool(cfg: TTSConfig, seed: int) -> VoicePool:
    """The agent voice and the user voices for ``cfg``, reproducible from ``seed``."""
    if cfg.backend == "espeak":
        agent = Voice.make(cfg.agent_voice or "en-us", "espeak", pitch=cfg.agent_pitch, range=50, rate=cfg.agent_rate)
        if cfg.user_voices:
            from duplexgen.tts.espeak import EspeakBackend

            for name in cfg.user_voices:
                EspeakBackend.check_voice_name(name)
            return named_voice_pool("espeak", cfg.user_voices, agent, seed)
        return espeak_voice_pool(
            num_user_voices=cfg.num_user_voices,
            seed=seed,
            agent=agent,
            pitch_range=tuple(cfg.user_pitch_range),
            rate_range=tuple(cfg.user_rate_range),
        )
    if cfg.backend == "piper":
        from pathlib import Path

        names = [Path(p).name.removesuffix(".onnx") for p in cfg.piper_voices]
        agent = cfg.agent_voice or names[0]
        users = cfg.user_voices or [n for n in names if n != agent]
        return named_voice_pool("piper", users, agent, seed)
    if cfg.backend == "nemo":
        agent = cfg.agent_voice or "0"
        users = cfg.user_voices or [str(i) for i in range(1, 1 + cfg.num_user_voices)]
        return named_voice_pool("nemo", users, agent, seed)
    return named_voice_pool(cfg.backend, cfg.user_voices, cfg.agent_voice, seed)


__all__ = [
    "TTSConfig", "TTSBackend", "Voice", "Synthesis", "VoicePool", "Renderer", "RenderOptions",
    "build_backend", "build_renderer", "build_voice_pool", "build_quality_gate", "espeak_voice_pool", "named_voice_pool",
]
