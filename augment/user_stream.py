"""User-stream realism (Moshi's recipe): gain, background noise with silent stretches, echo of the agent, reverb.

Only the user (input) stream is changed; the agent stream stays clean because it is the target the
model learns to produce. Each step is a small pure function over numpy arrays; :func:`augment_user_stream`
draws the parameters from a seed and returns the records that go into the cut's ``custom.augmentations``.

Order (what a microphone would pick up): reverberate the user's speech in a simulated room, add the
agent's echo (the loudspeaker leaking into the mic, delayed and attenuated), add background noise,
then apply the mic gain; finally scale down if the result would clip.

Noise comes from a *noise provider* ``(n_samples, sample_rate, rng) -> (audio, info)``: generated
coloured noise by default, a folder of audio files (``FolderNoise``) or a Lhotse manifest
(``LhotseNoise``) when configured.

Example::

    y, records = augment_user_stream(user, agent, 16000, 22050, ref_rms=0.05,
                                     cfg=UserStreamConfig(enabled=True), seed=3)
    [r["name"] for r in records]   # e.g. ['reverb', 'echo', 'gain']
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import soxr

from duplexgen.augment.config import UserStreamConfig
from duplexgen.augment.plan import rng_for

NoiseProvider = Callable[[int, int, np.random.Generator], "tuple[np.ndarray, dict[str, Any]]"]
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus")


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def apply_gain(x: np.ndarray, db: float) -> np.ndarray:
    return (x * db_to_gain(db)).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white (flat), pink (1/f power) or brown (1/f^2 power) noise, shaped in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
    y = np.fft.irfft(spec / f**exponent, n)
    y -= y.mean()
    return (y / (rms(y) + 1e-12)).astype(np.float32)


class GeneratedNoise:
    """Noise provider: coloured noise, no files needed."""

    def __init__(self, kinds: tuple[str, ...] | list[str] = ("white", "pink", "brown")):
        self.kinds = list(kinds)

    def __call__(self, n: int, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        return colored_noise(n, kind, rng), {"source": "generated", "kind": kind}


def _fit_length(x: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Loop or crop ``x`` to ``n`` samples from a random offset."""
    offset = int(rng.integers(len(x)))
    reps = int(np.ceil((n + offset) / len(x)))
    return np.tile(x, reps)[offset : offset + n], offset


class FolderNoise:
    """Noise provider: a random file from a folder (recursive), mono, resampled, looped to length."""

    def __init__(self, folder: str | Path):
        self.files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        if not self.files:
            raise ValueError(f"augment.user_stream.noise_dir {folder!s} has no audio files ({', '.join(AUDIO_EXTENSIONS)})")

    def __call__(self, n: int, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        import soundfile as sf

        path = self.files[int(rng.integers(len(self.files)))]
        x, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if file_sr != sr:
            x = soxr.resample(x, file_sr, sr).astype(np.float32)
        x, offset = _fit_length(x, n, rng)
        return (x / (rms(x) + 1e-12)).astype(np.float32), {"source": "file", "path": str(path), "offset_s": round(offset / sr, 4)}


class LhotseNoise:
    """Noise provider: a random recording or cut from a Lhotse manifest (RecordingSet or CutSet)."""

    def __init__(self, manifest: str | Path):
        from lhotse import load_manifest

        self.items = list(load_manifest(manifest))
        if not self.items:
            raise ValueError(f"augment.user_stream.noise_manifest {manifest!s} is empty")

    def __call__(self, n: int, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        item = self.items[int(rng.integers(len(self.items)))]
        x = item.resample(sr).load_audio()
        x = np.asarray(x, dtype=np.float32).reshape(-1, x.shape[-1]).mean(axis=0)
        x, offset = _fit_length(x, n, rng)
        return (x / (rms(x) + 1e-12)).astype(np.float32), {"source": "lhotse", "id": item.id, "offset_s": round(offset / sr, 4)}


def make_noise_provider(cfg: UserStreamConfig) -> NoiseProvider:
    """The provider the config asks for: a noise folder, else a Lhotse manifest, else generated noise."""
    if cfg.noise_dir:
        return _cached_folder(str(cfg.noise_dir))
    if cfg.noise_manifest:
        return _cached_lhotse(str(cfg.noise_manifest))
    return GeneratedNoise(cfg.noise_kinds)


@functools.lru_cache(maxsize=4)
def _cached_folder(folder: str) -> FolderNoise:
    return FolderNoise(folder)


@functools.lru_cache(maxsize=4)
def _cached_lhotse(manifest: str) -> LhotseNoise:
    return LhotseNoise(manifest)


def silent_stretch_mask(
    n: int, sr: int, rng: np.random.Generator, on_s: tuple[float, float] = (1.0, 5.0), off_s: tuple[float, float] = (0.5, 3.0), ramp_s: float = 0.02
) -> tuple[np.ndarray, list[list[float]]]:
    """A 0..1 envelope that alternates noise stretches and silent stretches (short ramps, no clicks).

    Returns the envelope and the noisy intervals in seconds."""
    env = np.zeros(n, dtype=np.float32)
    intervals = []
    t = int(rng.uniform(*off_s) * sr) if rng.random() < 0.5 else 0
    ramp = max(1, int(ramp_s * sr))
    while t < n:
        length = int(rng.uniform(*on_s) * sr)
        a, b = t, min(n, t + length)
        seg = np.ones(b - a, dtype=np.float32)
        r = min(ramp, (b - a) // 2)
        if r > 0:
            seg[:r] = np.linspace(0, 1, r, endpoint=False)
            seg[len(seg) - r :] = np.linspace(1, 0, r, endpoint=False)
        env[a:b] = seg
        intervals.append([round(a / sr, 4), round(b / sr, 4)])
        t = b + int(rng.uniform(*off_s) * sr)
    return env, intervals


def add_noise(x: np.ndarray, noise: np.ndarray, level: float, envelope: Optional[np.ndarray] = None) -> np.ndarray:
    """``x + level * noise`` (noise is unit RMS), optionally shaped by a 0..1 envelope."""
    n = noise[: len(x)] * level
    if envelope is not None:
        n = n * envelope[: len(x)]
    return (x + n).astype(np.float32)


def simulate_rir(sr: int, rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """A simple room impulse response: a unit direct path then exponentially decaying noise.

    The tail decays by 60 dB over ``rt60`` seconds; its energy is set so the direct-to-reverberant
    ratio is ``drr_db``."""
    n = max(2, int(rt60 * sr))
    t = np.arange(n - 1) / sr
    tail = rng.standard_normal(n - 1) * np.exp(-6.907755 * t / rt60)  # ln(1000) = 60 dB in amplitude
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    return np.concatenate([[1.0], tail]).astype(np.float32)


def apply_reverb(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with an RIR, keep the original length (the tail past the end is cut)."""
    from scipy.signal import fftconvolve  # here, not at import: scipy.signal costs ~1 s of start-up per worker

    return fftconvolve(x, rir, mode="full")[: len(x)].astype(np.float32)


def add_echo(user: np.ndarray, agent_at_user_sr: np.ndarray, gain: float, delay_s: float, sr: int) -> np.ndarray:
    """Add the agent stream, delayed by ``delay_s`` and scaled by ``gain``, to the user stream."""
    d = int(round(delay_s * sr))
    out = user.astype(np.float32, copy=True)
    if d < len(out):
        seg = agent_at_user_sr[: len(out) - d]
        out[d : d + len(seg)] += gain * seg
    return out


def augment_user_stream(
    user: np.ndarray,
    agent: np.ndarray,
    user_sr: int,
    agent_sr: int,
    ref_rms: float,
    cfg: UserStreamConfig,
    seed: int,
    noise_provider: Optional[NoiseProvider] = None,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Apply the configured user-stream augmentations; return the new user stream and what was applied.

    ``ref_rms`` is the RMS of the user's speech (the noise level is relative to it)."""
    records: list[dict[str, Any]] = []
    if not cfg.enabled:
        return user, records
    r = rng_for(seed, "user_stream")
    # Draw all decisions first: each augmentation's parameters do not depend on the others.
    do_gain, do_noise, do_echo_reverb = r.random() < cfg.gain_prob, r.random() < cfg.noise_prob, r.random() < cfg.echo_reverb_prob
    y = user.astype(np.float32, copy=True)
    if do_echo_reverb and cfg.reverb:
        rr = rng_for(seed, "reverb")
        rt60, drr = float(rr.uniform(*cfg.rt60_s)), float(rr.uniform(*cfg.drr_db))
        y = apply_reverb(y, simulate_rir(user_sr, rt60, drr, rr))
        records.append({"name": "reverb", "rir": "exponential-noise", "rt60_s": round(rt60, 4), "drr_db": round(drr, 3)})
    if do_echo_reverb and cfg.echo:
        re_ = rng_for(seed, "echo")
        g, delay_ms = float(re_.uniform(*cfg.echo_gain)), float(re_.uniform(*cfg.echo_delay_ms))
        agent16 = soxr.resample(agent.astype(np.float32), agent_sr, user_sr).astype(np.float32) if agent_sr != user_sr else agent
        y = add_echo(y, agent16, g, delay_ms / 1000, user_sr)
        records.append({"name": "echo", "gain": round(g, 5), "delay_ms": round(delay_ms, 2)})
    if do_noise:
        rn = rng_for(seed, "noise")
        rel_db = float(rn.uniform(*cfg.noise_db))
        provider = noise_provider or make_noise_provider(cfg)
        noise, info = provider(len(y), user_sr, rn)
        env, intervals = (None, None)
        if rn.random() < cfg.noise_silent_stretch_prob:
            env, intervals = silent_stretch_mask(len(y), user_sr, rn)
        ref = ref_rms if ref_rms > 0 else db_to_gain(-30.0)
        y = add_noise(y, noise, ref * db_to_gain(rel_db), env)
        records.append({"name": "noise", "relative_db": round(rel_db, 3), "ref_rms": round(ref, 6), **info,
                        "silent_stretches": intervals is not None, **({"noise_intervals": intervals} if intervals else {})})
    if do_gain:
        db = float(rng_for(seed, "gain").uniform(*cfg.gain_db))
        y = apply_gain(y, db)
        records.append({"name": "gain", "db": round(db, 3)})
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.99:
        factor = 0.99 / peak
        y = (y * factor).astype(np.float32)
        records.append({"name": "peak_limit", "factor": round(factor, 6)})
    return y, records


__all__ = [
    "augment_user_stream",
    "apply_gain",
    "add_noise",
    "add_echo",
    "apply_reverb",
    "simulate_rir",
    "colored_noise",
    "silent_stretch_mask",
    "GeneratedNoise",
    "FolderNoise",
    "LhotseNoise",
    "make_noise_provider",
    "NoiseProvider",
]
