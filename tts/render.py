"""Backend output -> a :class:`RenderedTurn` ready for the two-stream layout; the same steps for every backend.

1. clean the text (control characters, emoji) and reject what cannot be spoken, with a reason;
2. synthesise (or load the cached result);
3. check levels: clipping and near silence are always rejected;
4. trim leading/trailing silence so the turn's supervision starts and ends on speech;
5. resample with soxr (HQ) to 16 kHz (user) or 22,050 Hz (agent);
6. shift word timings by the trim offset and clip them inside the audio; when they are not exactly the
   words of the text (:mod:`duplexgen.core.words`), force-align the text onto the audio, else estimate
   (:func:`duplexgen.tts.align.spelled_words`), so every turn's words spell its text;
7. optional quality gate (ASR round trip, :mod:`duplexgen.tts.quality`);
8. quantise to int16 precision so a FLAC round trip is exact, then cache.

Trim threshold (measured, see ``tests/test_tts_render.py::test_trim_threshold_keeps_weak_edges``):
frames are 10 ms; a frame is speech when its energy is within ``threshold_db`` of the loudest frame.
On espeak renders (en-us, en-us+f2, en+whisper, en-gb-scotland+m3) of words that begin or end with
weak fricatives ("fifth", "thief", "his", "hush", "fish", "sixth", "Hello"), the first and last
frames of speech sit 12-30 dB below the loudest frame (a decaying last partial frame down to -43 dB),
espeak's pauses are digital zero, and the echo tail of the f* variants is -75 to -90 dB (inaudible).
-45 dB keeps every speech edge we measured and cuts the echo tail and a -60 dB noise floor.

Example::

    renderer = Renderer(EspeakBackend(), cache_dir="out/tts-cache")
    turn = renderer.render("Hello there.", pool.agent, "agent")
    turn.sample_rate, [w.text for w in turn.words], turn.timing_source   # 22050, ['Hello', 'there'], 'espeak-events'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from duplexgen.core.records import AGENT, USER, RejectError, RenderedTurn, Word
from duplexgen.core.timing import AGENT_SAMPLE_RATE, USER_SAMPLE_RATE
from duplexgen.core.audio import quantize_int16, resample
from duplexgen.tts.align import Aligner, build_aligner, spelled_words
from duplexgen.tts.base import Synthesis, TTSBackend, Voice
from duplexgen.tts.cache import RenderCache

ROLE_SAMPLE_RATES = {USER: USER_SAMPLE_RATE, AGENT: AGENT_SAMPLE_RATE}
#: Default trim threshold relative to the loudest 10 ms frame (see the module docstring for how it was measured).
TRIM_THRESHOLD_DB = -45.0
_WS = re.compile(r"\s+")


# ---------------------------------------------------------------- text


def clean_text(text: str, max_chars: int = 1000, max_non_latin_fraction: float = 0.2) -> tuple[str, list[str]]:
    """Make a turn's text speakable, or raise RejectError saying why it is not.

    Control and format characters become spaces, emoji and other pictographs are dropped (a TTS would
    read their names aloud, which the text would not say). Returns (clean text, list of changes)."""
    if text is None or not str(text).strip():
        raise RejectError("empty text: the turn has nothing to speak; drop the turn or give it words", code="tts.empty-text", stage="tts")
    changes: list[str] = []
    out = []
    for ch in unicodedata.normalize("NFC", str(text)):
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Zl", "Zp") and not ch.isspace():
            out.append(" ")
            changes.append("control-chars")
        elif cat in ("So", "Cs", "Co", "Cn") or ch in "\ufe0f\ufe0e\u20e3":
            changes.append("symbols")
        else:
            out.append(ch)
    cleaned = _WS.sub(" ", "".join(out)).strip()
    changes = sorted(set(changes))
    if not any(ch.isalnum() for ch in cleaned):
        raise RejectError(f"no speakable characters left in {text[:40]!r} after removing {changes or 'nothing'}", code="tts.empty-text", stage="tts")
    if len(cleaned) > max_chars:
        raise RejectError(
            f"turn too long for the TTS ({len(cleaned)} chars > tts.max_chars={max_chars})",
            code="tts.too-long", stage="tts",
        )
    letters = [ch for ch in cleaned if ch.isalpha()]
    non_latin = sum(1 for ch in letters if not unicodedata.name(ch, "").startswith("LATIN"))
    if letters and non_latin / len(letters) > max_non_latin_fraction:
        raise RejectError(
            f"{non_latin}/{len(letters)} letters are not Latin script (over tts.max_non_latin_fraction="
            f"{max_non_latin_fraction}); the English voices cannot speak {cleaned[:30]!r}; translate the turn",
            code="tts.non-latin", stage="tts",
        )
    return cleaned, changes


# ---------------------------------------------------------------- audio math


def frame_db(audio: np.ndarray, sample_rate: int, frame_ms: float = 10.0) -> np.ndarray:
    """Energy of consecutive frames in dB (mean square; digital silence -> -120 dB). The last partial frame counts."""
    hop = max(1, int(round(sample_rate * frame_ms / 1000)))
    n = len(audio)
    if n == 0:
        return np.zeros(0)
    padded = np.zeros(-(-n // hop) * hop, dtype=np.float64)
    padded[:n] = audio
    return 10.0 * np.log10(np.mean(padded.reshape(-1, hop) ** 2, axis=1) + 1e-12)


def trim_silence(
    audio: np.ndarray, sample_rate: int, threshold_db: float = TRIM_THRESHOLD_DB, frame_ms: float = 10.0, pad_ms: float = 0.0,
    db: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, float]:
    """Cut leading and trailing frames quieter than ``threshold_db`` below the loudest frame.

    Returns (trimmed audio, offset in seconds of the first kept sample). ``pad_ms`` keeps a little
    context on both sides. All-silent audio is returned unchanged (the level check rejects it).
    ``db``: the frame energies when already computed (``frame_db(audio, sample_rate, frame_ms)``)."""
    db = frame_db(audio, sample_rate, frame_ms) if db is None else db
    if len(db) == 0 or db.max() <= -119:
        return audio, 0.0
    hop = max(1, int(round(sample_rate * frame_ms / 1000)))
    loud = np.nonzero(db >= db.max() + threshold_db)[0]
    pad = int(round(sample_rate * pad_ms / 1000))
    start = max(0, loud[0] * hop - pad)
    end = min(len(audio), (loud[-1] + 1) * hop + pad)
    return audio[start:end], float(start / sample_rate)


def fade_edges(audio: np.ndarray, sample_rate: int, fade_ms: float = 2.0) -> np.ndarray:
    """Half-cosine fade in/out so a cut inside low-level speech does not click."""
    n = min(len(audio) // 2, int(round(sample_rate * fade_ms / 1000)))
    if n <= 0:
        return audio
    out = audio.copy()
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, endpoint=False))).astype(out.dtype)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def check_levels(
    audio: np.ndarray, sample_rate: int = 16000, max_clip_fraction: float = 0.001, min_peak_db: float = -45.0, min_duration_s: float = 0.05,
    db: Optional[np.ndarray] = None,
) -> dict[str, float]:
    """Reject clipped, near-silent or too-short audio; return the measured levels for metadata.

    Clipping: fraction of samples at |x| >= 0.999. Near silence: the loudest 10 ms frame below
    ``min_peak_db`` dBFS (espeak speech peaks around -10 dBFS). ``db``: ``frame_db(audio, sample_rate)``
    when already computed."""
    a = np.asarray(audio, np.float32)
    duration = len(a) / sample_rate
    if duration < min_duration_s:
        raise RejectError(f"rendered audio is {duration * 1000:.0f} ms, shorter than {min_duration_s * 1000:.0f} ms", code="tts.too-short", stage="tts")
    clip = float(np.mean(np.abs(a) >= 0.999))
    peak_db = float((frame_db(a, sample_rate) if db is None else db).max())
    if clip > max_clip_fraction:
        raise RejectError(f"rendered audio is clipped ({clip:.2%} of samples at full scale, max {max_clip_fraction:.2%})", code="tts.clipped", stage="tts")
    if peak_db < min_peak_db:
        raise RejectError(f"rendered audio is near silent (loudest frame {peak_db:.1f} dBFS < {min_peak_db} dBFS)", code="tts.silent", stage="tts")
    return {"clip_fraction": clip, "peak_frame_db": round(peak_db, 2)}


def shift_words(words: list[Word], offset_s: float, duration_s: float) -> list[Word]:
    """Move words by -offset and clip them inside [0, duration], keeping them monotonic."""
    out, prev = [], 0.0
    for w in words:
        start = float(min(max(w.start - offset_s, prev), duration_s))
        end = float(min(max(w.end - offset_s, start), duration_s))
        out.append(Word(w.text, round(start, 6), round(end, 6), w.joined))
        prev = end
    return out


# ---------------------------------------------------------------- renderer

#: A quality gate: (audio, sample rate, text) -> metrics dict; raises RejectError for a bad turn.
QualityGate = Callable[[np.ndarray, int, str], dict]


@dataclass
class RenderOptions:
    trim_threshold_db: float = TRIM_THRESHOLD_DB
    trim_pad_ms: float = 0.0
    max_chars: int = 1000
    max_non_latin_fraction: float = 0.2
    max_clip_fraction: float = 0.001
    min_peak_db: float = -45.0

    def key(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Renderer:
    """Text + voice + role -> :class:`RenderedTurn` at the role's sample rate, trimmed, timed, cached."""

    def __init__(
        self,
        backend: TTSBackend,
        cache_dir: Optional[str] = None,
        options: Optional[RenderOptions] = None,
        quality_gate: Optional[QualityGate] = None,
        gate_name: str = "",
        aligner: "str | Aligner | None" = "pocketsphinx",
    ):
        """``aligner``: the forced aligner for words the backend did not time as the text spells them: a name
        (``tts.aligner``: "pocketsphinx", loaded on first use; "none") or an :class:`Aligner`."""
        self.backend = backend
        self._aligner = aligner
        self.aligner_name = aligner if isinstance(aligner, str) else getattr(aligner, "name", type(aligner).__name__)
        self.options = options or RenderOptions()
        self.cache = RenderCache(cache_dir) if cache_dir else None
        self.quality_gate = quality_gate
        self.gate_name = gate_name or (getattr(quality_gate, "name", "") if quality_gate else "")

    @property
    def aligner(self) -> Optional[Aligner]:
        if isinstance(self._aligner, str):
            self._aligner = build_aligner(self._aligner)
        return self._aligner

    def cache_key(self, text: str, voice: Voice, sample_rate: int) -> str:
        return RenderCache.key(
            self.backend.name, self.backend.params_key(), voice.key(), text, sample_rate, self.options.key(), self.gate_name,
            f"aligner={self.aligner_name}",
        )

    def render(self, text: str, voice: Voice, role: str, kind: str = "turn") -> RenderedTurn:
        if role not in ROLE_SAMPLE_RATES:
            raise ValueError(f"role must be 'user' or 'agent', got {role!r}")
        sr = ROLE_SAMPLE_RATES[role]
        cleaned, changes = clean_text(text, self.options.max_chars, self.options.max_non_latin_fraction)
        key = self.cache_key(cleaned, voice, sr)
        cached = self.cache.get(key) if self.cache else None
        if cached is None:
            samples, meta = self._render_new(cleaned, voice, sr)
            if self.cache:
                self.cache.put(key, samples, sr, meta)
        else:
            samples, _, meta = cached
        if "reject" in meta:
            # renders cached before codes existed carry none
            raise RejectError(meta["reject"], code=meta.get("reject_code", "unclassified"), stage="tts")
        meta = dict(meta)
        if changes:
            meta["text_changes"] = changes
            meta["original_text"] = text
        words = [Word(w["text"], w["start"], w["end"], bool(w.get("joined", False))) for w in meta.pop("words")]
        return RenderedTurn(
            role=role,
            text=cleaned,
            audio=samples.astype(np.float32) / 32768.0,
            sample_rate=sr,
            voice=voice.key(),
            words=words,
            timing_source=meta.pop("timing_source"),
            kind=kind,
            meta=meta,
        )

    def render_many(self, requests: list[tuple[str, Voice, str]], workers: Optional[int] = None) -> list:
        """Render (text, voice, role) requests with ``workers`` threads (default: the backend's ``concurrency``,
        else 1). Each slot holds a RenderedTurn or the exception that item raised."""
        from concurrent.futures import ThreadPoolExecutor

        def one(req):
            try:
                return self.render(*req)
            except Exception as e:  # noqa: BLE001 - one turn's failure stays in its slot
                return e

        with ThreadPoolExecutor(workers or getattr(self.backend, "concurrency", 1)) as pool:
            return list(pool.map(one, requests))

    def _render_new(self, text: str, voice: Voice, sr: int) -> tuple[np.ndarray, dict]:
        """Synthesise and post-process; a RejectError is cached too, so a rerun does not retry it."""
        try:
            syn: Synthesis = self.backend.synthesize(text, voice)
            # Frame energies once for the level check and the trim (both measure the float32 samples; other dtypes: each its own).
            db = frame_db(syn.audio, syn.sample_rate) if syn.audio.dtype == np.float32 else None
            levels = check_levels(syn.audio, syn.sample_rate, self.options.max_clip_fraction, self.options.min_peak_db, db=db)
            trimmed, offset = trim_silence(syn.audio, syn.sample_rate, self.options.trim_threshold_db, pad_ms=self.options.trim_pad_ms, db=db)
            audio = resample(fade_edges(trimmed, syn.sample_rate), syn.sample_rate, sr)
            samples = quantize_int16(audio)
            duration = len(samples) / sr
            words, timing_source = spelled_words(
                text, shift_words(syn.words, offset, duration), syn.timing_source, samples.astype(np.float32) / 32768.0, sr, self.aligner
            )
            meta: dict[str, Any] = {
                "backend": self.backend.name,
                "voice_params": voice.describe(),
                "trim_offset_s": round(float(offset), 6),
                "native_sample_rate": syn.sample_rate,
                **levels,
                **{k: v for k, v in syn.meta.items() if isinstance(v, (str, int, float, bool))},
            }
            if self.quality_gate is not None:
                meta["quality"] = self.quality_gate(samples.astype(np.float32) / 32768.0, sr, text)
        except RejectError as e:
            return np.zeros(0, np.int16), {"reject": e.reason, "reject_code": e.code}
        meta["words"] = [{"text": w.text, "start": w.start, "end": w.end, **({"joined": True} if w.joined else {})} for w in words]
        meta["timing_source"] = timing_source
        return samples, meta


__all__ = [
    "Renderer", "RenderOptions", "clean_text", "trim_silence", "resample", "check_levels", "frame_db",
    "quantize_int16", "shift_words", "fade_edges", "ROLE_SAMPLE_RATES", "TRIM_THRESHOLD_DB",
]
