"""Word timings that spell the text, for audio that came without them (or with ones that do not).

Every rendered turn ends with one :class:`Word` per word of its text (:func:`duplexgen.core.words.word_tokens`),
in order, inside the audio, and says where the times come from (``timing_source``, kept on each supervision):

- ``"espeak-events"``: espeak's own word and phoneme events (:mod:`duplexgen.tts.espeak`);
- ``"durations"``: piper / nemo model durations, when they give one span per word of the text;
- ``"forced-alignment"``: otherwise (the OpenAI speech API, durations that do not match the words, recorded
  user turns), the text forced onto the audio by pocketsphinx's bundled en-us acoustic model;
- ``"estimate"``: when no aligner is configured or alignment fails, :func:`estimate_word_timings` (the time
  shared by character count). A barge-in never cuts on estimated boundaries.

Why pocketsphinx: it is already a dependency (the ASR quality gate), its model ships inside the wheel (offline,
no download), it runs on CPU (LibriSpeech 2412-153948-0000, 11.7 s: 0.14 s) and aligns at 10 ms frames. On the
real AMI clip in ../shared/data its word edges fall within 50 ms of the annotated segment edges (see
tests/tts/test_align.py). torchaudio's ``forced_align`` is not an option here: it needs a compiled extension that
this install removes on CPU machines (Makefile) and wav2vec2 weights that would be downloaded. pocketsphinx does
not align espeak's formant speech (it puts most of it in silence), which is why espeak keeps its own events and
why a failed alignment falls back to the estimate instead of being trusted.

Words outside pocketsphinx's dictionary (cmudict: names, numbers, "U.S.A.") get a pronunciation from espeak's
phonemes mapped to the CMU phone set (:data:`IPA_TO_CMU`).

Example::

    words, source = spelled_words(text, syn.words, syn.timing_source, audio, sample_rate, ForcedAligner.shared())
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Optional, Protocol, Sequence

import numpy as np

from duplexgen.core.audio import quantize_int16, resample
from duplexgen.core.records import Word
from duplexgen.core.words import alignment_problem, word_tokens
from duplexgen.tts.config import ALIGNERS

log = logging.getLogger(__name__)

#: espeak's en-us IPA phonemes -> CMU (pocketsphinx en-us) phones; stress marks are dropped first.
IPA_TO_CMU = {
    "ɑ": "AA", "ɑː": "AA", "ɒ": "AA", "æ": "AE", "a": "AE", "ʌ": "AH", "ə": "AH", "ɐ": "AH", "ɔ": "AO", "ɔː": "AO",
    "aʊ": "AW", "aɪ": "AY", "b": "B", "tʃ": "CH", "d": "D", "ð": "DH", "ɛ": "EH", "e": "EH", "ɚ": "ER", "ɜː": "ER",
    "ɝ": "ER", "eɪ": "EY", "f": "F", "ɡ": "G", "g": "G", "h": "HH", "ɪ": "IH", "ᵻ": "IH", "ɨ": "IH", "i": "IY",
    "iː": "IY", "dʒ": "JH", "k": "K", "x": "K", "l": "L", "m": "M", "n": "N", "ŋ": "NG", "oʊ": "OW", "o": "OW",
    "ɔɪ": "OY", "p": "P", "ɹ": "R", "r": "R", "s": "S", "ʃ": "SH", "t": "T", "ɾ": "T", "θ": "TH", "ʊ": "UH",
    "u": "UW", "uː": "UW", "v": "V", "w": "W", "j": "Y", "z": "Z", "ʒ": "ZH",
    "ɑːɹ": "AA R", "ɔːɹ": "AO R", "oːɹ": "AO R", "ɛɹ": "EH R", "ɪɹ": "IH R", "ʊɹ": "UH R", "aɪɚ": "AY ER",
    "aɪə": "AY AH", "iə": "IY AH", "əl": "AH L", "n̩": "AH N", "ʊə": "UH AH", "eə": "EH AH",
}


def ipa_to_cmu(phonemes: Sequence[str]) -> list[str]:
    """espeak IPA phonemes -> CMU phones (an unknown multi-letter phoneme is mapped letter by letter)."""
    out: list[str] = []
    for p in phonemes:
        p = p.replace("ˈ", "").replace("ˌ", "")
        mapped = IPA_TO_CMU.get(p) or IPA_TO_CMU.get(p.replace("ː", ""))
        if mapped is None:
            mapped = " ".join(m for m in (IPA_TO_CMU.get(ch) for ch in p) if m)
        out.extend(mapped.split())
    return out


def estimate_word_timings(text: str, duration: float) -> list[Word]:
    """The documented estimate: the audio shared among the words of ``text`` in proportion to their character
    count (+1 for the following space or pause). Mark it ``timing_source="estimate"``.

    Speech rate in characters per second is roughly constant within an utterance, so this is usually within a
    word of the truth, but it ignores pauses at punctuation; no barge-in cuts on it."""
    tokens = word_tokens(text)
    if not tokens or duration <= 0:
        return []
    weights = np.array([t.token_end - t.start + 1 for t in tokens], dtype=np.float64)
    edges = np.concatenate([[0.0], np.cumsum(weights) / weights.sum() * duration])
    return [Word(t.text, float(edges[i]), float(edges[i + 1])) for i, t in enumerate(tokens)]


def words_spell(text: str, words: Sequence[Word], duration: Optional[float] = None) -> bool:
    """True when ``words`` are exactly the words of ``text``, in order, not overlapping, inside [0, duration]."""
    return alignment_problem(text, [(w.text, w.start, w.end) for w in words], 0.0, duration) is None


class Aligner(Protocol):
    name: str

    def align(self, audio: np.ndarray, sample_rate: int, text: str) -> Optional[list[Word]]:
        """One Word per word of ``text``, or None when the text cannot be aligned to the audio."""


class ForcedAligner:
    """pocketsphinx forced alignment of a text onto 16 kHz audio (one decoder per instance, calls serialised)."""

    name = "pocketsphinx"
    _shared: Optional["ForcedAligner"] = None
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls) -> "ForcedAligner":
        """The process-wide aligner (its model loads once, ~0.5 s)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=16000, loglevel="FATAL", bestpath=False)
        self.lock = threading.Lock()
        self._added: dict[str, str] = {}

    def _entry(self, word: str) -> Optional[str]:
        """The dictionary entry for one word of the text (added from espeak's phonemes when unknown)."""
        key = re.sub(r"[^a-z']", "", word.lower())
        if key and self.decoder.lookup_word(key) is not None:
            return key
        name = "w_" + "".join(f"{ord(ch):x}" for ch in word.lower())[:80]
        if name not in self._added:
            from duplexgen.tts.espeak import espeak_phonemes

            phones = ipa_to_cmu(espeak_phonemes(word))
            if not phones:
                return None
            self.decoder.add_word(name, " ".join(phones), True)
            self._added[name] = " ".join(phones)
        return name

    def align(self, audio: np.ndarray, sample_rate: int, text: str) -> Optional[list[Word]]:
        tokens = word_tokens(text)
        if not tokens or len(audio) == 0:
            return None
        duration = len(audio) / sample_rate
        pcm = quantize_int16(resample(np.asarray(audio, np.float32), sample_rate, 16000)).tobytes()
        with self.lock:
            entries = [self._entry(t.text) for t in tokens]
            if not all(entries):
                return None
            self.decoder.set_align_text(" ".join(entries))
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            segments = self.decoder.seg()
            spans = [(s.start_frame / 100, (s.end_frame + 1) / 100) for s in segments or []
                     if not s.word.startswith(("<", "[", "+"))]
        if len(spans) != len(tokens):  # a failed search ends in silence or drops words
            return None
        words = []
        for t, (a, b) in zip(tokens, spans):
            a, b = min(a, duration), min(b, duration)
            words.append(Word(t.text, round(a, 6), round(max(a, b), 6)))
        return words if words_spell(text, words, duration) else None


def build_aligner(name: str) -> Optional[Aligner]:
    if name not in ALIGNERS:
        raise ValueError(f"tts.aligner must be one of {ALIGNERS}, got {name!r}")
    return ForcedAligner.shared() if name == "pocketsphinx" else None


def spelled_words(
    text: str, words: Sequence[Word], timing_source: str, audio: np.ndarray, sample_rate: int, aligner: Optional[Aligner]
) -> tuple[list[Word], str]:
    """The backend's words when they spell ``text``, else forced-aligned ones, else the estimate; and their source."""
    duration = len(audio) / sample_rate
    if words and words_spell(text, words, duration):
        return list(words), timing_source
    if aligner is not None:
        try:
            aligned = aligner.align(audio, sample_rate, text)
        except Exception as e:  # noqa: BLE001 - an aligner failure costs precision, never the turn
            log.warning("forced alignment failed on %r: %s: %s", text[:40], type(e).__name__, e)
            aligned = None
        if aligned:
            return aligned, "forced-alignment"
    return estimate_word_timings(text, duration), "estimate"


def align_recorded(text: str, audio: np.ndarray, sample_rate: int, aligner: Optional[Aligner]) -> tuple[list[Word], str]:
    """Words of a recorded turn (real speech and its transcript): forced alignment, or none at all. No
    estimate: a transcript may be longer than its (clipped) audio, and a wrong alignment is worse than none."""
    if aligner is not None and text.strip():
        try:
            aligned = aligner.align(audio, sample_rate, text)
        except Exception as e:  # noqa: BLE001
            log.warning("forced alignment failed on %r: %s: %s", text[:40], type(e).__name__, e)
            aligned = None
        if aligned:
            return aligned, "forced-alignment"
    return [], "none"


__all__ = ["align_recorded", "ALIGNERS", "IPA_TO_CMU", "Aligner", "ForcedAligner", "build_aligner", "estimate_word_timings",
           "ipa_to_cmu", "spelled_words", "words_spell"]
