"""Audio helpers shared by the rooms: resampling, 16-bit quantisation, in-memory recordings.

Example::

    y = resample(x, 22050, 16000)                   # soxr HQ; identity when the rates match
    rec = memory_recording(y, 16000, "cut-0001")    # lhotse Recording holding lossless 16-bit WAV bytes
"""

from __future__ import annotations

import io

import numpy as np


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling with soxr (HQ) to float32; identity when the rates match."""
    audio = np.asarray(audio, dtype=np.float32)
    if sr_in == sr_out or len(audio) == 0:
        return audio
    import soxr

    return soxr.resample(audio, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def quantize_int16(audio: np.ndarray) -> np.ndarray:
    """float in [-1, 1] -> int16 samples (rounded, clipped): the precision FLAC stores, so a FLAC round trip is exact."""
    x = np.asarray(audio, np.float64) * 32768.0  # one float64 buffer, rounded and clipped in place
    np.rint(x, out=x)  # what np.round does with 0 decimals: half to even
    np.clip(x, -32768, 32767, out=x)
    return x.astype(np.int16)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes of ``audio`` (lossless once quantized)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, quantize_int16(audio), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def memory_recording(audio: np.ndarray, sample_rate: int, recording_id: str):
    """An in-memory lhotse Recording holding the 16-bit WAV bytes of ``audio``."""
    from lhotse import Recording

    return Recording.from_bytes(wav_bytes(audio, sample_rate), recording_id=recording_id)


__all__ = ["resample", "quantize_int16", "wav_bytes", "memory_recording"]
