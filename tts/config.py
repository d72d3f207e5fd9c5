"""``tts.*`` config: which backend, which voices, cache, trimming and the optional quality gate.

Example::

    cfg = TTSConfig(backend="espeak", num_user_voices=32)
    renderer = build_renderer(cfg, cache_dir="out/cache/tts"); pool = build_voice_pool(cfg, seed=1234)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from duplexgen.core.config import help_field

BACKENDS = ("espeak", "openai", "nemo", "piper")
QUALITY_GATES = ("none", "pocketsphinx", "nemo")
ALIGNERS = ("pocketsphinx", "none")


@dataclass
class TTSConfig:
    """Text-to-speech: one fixed agent voice, many user voices, cached renders."""

    backend: str = help_field("TTS backend: espeak (embedded default), openai (/v1/audio/speech server), nemo, piper", "espeak")
    agent_voice: Optional[str] = help_field("agent voice name (espeak 'lang+variant', server voice, piper file); null = backend default", None)
    agent_pitch: int = help_field("espeak agent pitch 0-100 (fixed)", 50)
    agent_rate: int = help_field("espeak agent rate in words per minute (fixed)", 170)
    user_voices: list = help_field("user voice names; empty = espeak: drawn from languages x variants; others: required", [])
    num_user_voices: int = help_field("espeak: how many distinct user voices to draw (language, variant, pitch, rate)", 64)
    user_pitch_range: list = help_field("espeak user pitch range [lo, hi] (0-100)", [30, 75])
    user_rate_range: list = help_field("espeak user rate range [lo, hi] in words per minute (80-450)", [140, 200])
    cache: Optional[bool] = help_field("render cache on disk: true, false, or null = every backend but espeak (an espeak render, ~4 ms, costs less than writing its cache entry; a rerun skips finished shards anyway)", None)
    cache_dir: Optional[str] = help_field("render cache folder; null = <output_dir>/cache/tts", None)
    trim_threshold_db: float = help_field("trim frames quieter than this many dB below the loudest 10 ms frame", -45.0)
    max_chars: int = help_field("reject turns longer than this many characters (after cleaning)", 1000)
    max_non_latin_fraction: float = help_field("reject turns whose letters are more than this fraction non-Latin script", 0.2)
    max_clip_fraction: float = help_field("reject renders with more than this fraction of samples at full scale", 0.001)
    min_peak_db: float = help_field("reject renders whose loudest 10 ms frame is below this dBFS (near silence)", -45.0)
    espeak_isolate: bool = help_field("render espeak in a long-lived helper process (a crash or hang costs the helper, not the worker); output is the same either way: every text starts from a freshly initialised espeak", False)
    aligner: str = help_field("forced aligner for turns whose backend gives no word timings that spell the text (openai; piper/nemo when their durations do not match the words; recorded user turns): pocketsphinx (offline, en-us) or none (the character-share estimate)", "pocketsphinx")
    quality_gate: str = help_field("ASR round-trip gate: none, pocketsphinx (offline, en-us), nemo (tts.asr_model_path)", "none")
    quality_max_wer: float = help_field("quality gate: reject turns whose ASR word error rate vs the text is above this", 0.5)
    asr_model_path: Optional[str] = help_field("NeMo ASR .nemo checkpoint for quality_gate=nemo", None)
    openai_base_url: str = help_field("OpenAI-compatible server base URL (…/v1)", "http://127.0.0.1:8000/v1")
    openai_api_key_env: str = help_field("environment variable holding the speech server's API key (keys never go in configs or outputs)", "OPENAI_API_KEY")
    openai_model: str = help_field("model name sent to /v1/audio/speech", "tts-1")
    openai_concurrency: int = help_field("parallel requests to the speech server per worker", 4)
    openai_retries: int = help_field("retries on 429/5xx/connection errors (exponential backoff)", 4)
    openai_timeout_s: float = help_field("timeout per speech request in seconds", 60.0)
    nemo_model_path: Optional[str] = help_field("NeMo TTS .nemo: FastPitch (spectrogram) or Magpie checkpoint", None)
    nemo_vocoder_path: Optional[str] = help_field("NeMo HiFi-GAN .nemo vocoder (FastPitch only)", None)
    nemo_device: str = help_field("device for NeMo TTS: auto (cuda when present), cpu, cuda", "auto")
    nemo_batch_size: int = help_field("texts per NeMo TTS batch", 16)
    piper_voices: list = help_field("Piper .onnx voice files (each needs its .onnx.json next to it); names = file stems", [])

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"tts.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.aligner not in ALIGNERS:
            raise ValueError(f"tts.aligner must be one of {ALIGNERS}, got {self.aligner!r}")
        if self.quality_gate not in QUALITY_GATES:
            raise ValueError(f"tts.quality_gate must be one of {QUALITY_GATES}, got {self.quality_gate!r}")
        if self.quality_gate == "nemo" and not self.asr_model_path:
            raise ValueError("tts.asr_model_path is required when tts.quality_gate=nemo")
        if self.num_user_voices < 1:
            raise ValueError(f"tts.num_user_voices must be >= 1, got {self.num_user_voices}")
        for key, (lo_ok, hi_ok) in (("user_pitch_range", (0, 100)), ("user_rate_range", (80, 450))):
            rng = list(getattr(self, key))
            if len(rng) != 2 or not lo_ok <= rng[0] <= rng[1] <= hi_ok:
                raise ValueError(f"tts.{key} must be [lo, hi] within [{lo_ok}, {hi_ok}], got {rng}")
        if not 0 <= self.agent_pitch <= 100:
            raise ValueError(f"tts.agent_pitch must be in [0, 100], got {self.agent_pitch}")
        if not 80 <= self.agent_rate <= 450:
            raise ValueError(f"tts.agent_rate must be in [80, 450], got {self.agent_rate}")
        if not -90 < self.trim_threshold_db < 0:
            raise ValueError(f"tts.trim_threshold_db must be in (-90, 0), got {self.trim_threshold_db}")
        if self.max_chars < 1:
            raise ValueError(f"tts.max_chars must be >= 1, got {self.max_chars}")
        if not 0 <= self.max_non_latin_fraction <= 1:
            raise ValueError(f"tts.max_non_latin_fraction must be in [0, 1], got {self.max_non_latin_fraction}")
        if not 0 <= self.quality_max_wer:
            raise ValueError(f"tts.quality_max_wer must be >= 0, got {self.quality_max_wer}")
        if self.openai_concurrency < 1:
            raise ValueError(f"tts.openai_concurrency must be >= 1, got {self.openai_concurrency}")
        if self.openai_retries < 0:
            raise ValueError(f"tts.openai_retries must be >= 0, got {self.openai_retries}")
        if self.backend == "nemo" and not self.nemo_model_path:
            raise ValueError("tts.nemo_model_path is required when tts.backend=nemo")
        if self.backend == "piper" and not self.piper_voices:
            raise ValueError("tts.piper_voices (list of .onnx files) is required when tts.backend=piper")
        if self.backend == "openai" and not self.user_voices:
            raise ValueError("tts.user_voices (the server's voice names) is required when tts.backend=openai")
        if self.backend == "openai" and not self.agent_voice:
            raise ValueError(f"tts.agent_voice is required when tts.backend={self.backend}")


__all__ = ["TTSConfig", "BACKENDS", "QUALITY_GATES", "ALIGNERS"]
