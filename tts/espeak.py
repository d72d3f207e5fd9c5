"""espeak-ng through ctypes: the embedded default backend (no download, ~hundreds x real time per core).

The shared library and its data come from the ``espeakng-loader`` wheel. espeak-ng keeps global state
that carries from one text to the next (pitch-flutter phase, resonators, echo buffer, ...), so the
process-wide :class:`_Engine` owns a private copy of the library and puts all of it back to the
just-loaded state before every text (:mod:`duplexgen.tts.espeak_fresh`): the same text and voice give
the same samples in any process, after anything, at any time. Calls hold a lock.
We run it in synchronous mode: ``espeak_Synth`` calls our callback with int16 samples and a list of
events; the ``espeakEVENT_WORD`` events give each word's character position in the text and its start
in the audio, the phoneme events (``espeakINITIALIZE_PHONEME_EVENTS``; they do not change a sample)
give every phoneme's start, so word timings are measured by the synthesiser, not estimated.
:func:`words_from_events` turns them into exactly the words of the text (:mod:`duplexgen.core.words`):
espeak times "I'll", "well-known", "U.S.A." by their first part and speaks some short words inside the
previous word's event ("of the" is one event); those share that span, split at a phoneme boundary.

Voices are ``"<language>+<variant>"`` (e.g. ``en-gb-scotland+m3``) with pitch, range and rate set per
voice. espeak silently falls back to a default for an unknown variant, so names are checked against
the data folder's ``voices/!v`` first.

Example::

    backend = EspeakBackend()
    syn = backend.synthesize("Hello there.", Voice.make("en-us+f2", "espeak", pitch=60, rate=180))
    syn.sample_rate, [w.text for w in syn.words]   # 22050, ['Hello', 'there']
"""

from __future__ import annotations

import bisect
import ctypes
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from duplexgen.core.records import RejectError, Word
from duplexgen.core.words import WordToken, word_tokens
from duplexgen.tts.base import Synthesis, TTSBackend, Voice

# espeak_ng/speak_lib.h constants.
AUDIO_OUTPUT_SYNCHRONOUS = 2
espeakINITIALIZE_PHONEME_EVENTS = 0x0001
espeakINITIALIZE_DONT_EXIT = 0x8000
espeakCHARS_UTF8 = 1
espeakENDPAUSE = 0x1000
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_SENTENCE, EVENT_END, EVENT_MSG_TERMINATED, EVENT_PHONEME = 0, 1, 2, 5, 6, 7
#: espeak_TextToPhonemes: IPA output, phonemes separated by "_".
_PHONEMES_IPA_SEPARATED = 0x02 | (ord("_") << 8)
espeakRATE, espeakVOLUME, espeakPITCH, espeakRANGE = 1, 2, 3, 4
EE_OK = 0

#: espeak's random generator is reseeded with this before every text (espeak_ng_SetRandSeed).
RAND_SEED = 1234

#: Allowed parameter ranges (speak_lib.h): rate in words per minute, pitch and range 0-100.
RATE_RANGE = (80, 450)
PITCH_RANGE = (0, 100)


log = logging.getLogger(__name__)

class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def _paths() -> tuple[str, str]:
    import espeakng_loader

    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


@lru_cache(maxsize=1)
def espeak_variants() -> tuple[str, ...]:
    """The voice variant names shipped in the data folder (``voices/!v``; case sensitive)."""
    return tuple(sorted(p.name for p in (Path(_paths()[1]) / "voices" / "!v").iterdir() if p.is_file()))


@lru_cache(maxsize=1)
def espeak_languages() -> tuple[str, ...]:
    """Language voice names espeak_SetVoiceByName accepts: the file names under ``lang/``, lower-cased
    (e.g. 'en', 'en-us', 'en-gb-scotland'; 'en' is British English, a bare code like 'en-gb' is not a name)."""
    root = Path(_paths()[1]) / "lang"
    return tuple(sorted({p.name.lower() for p in root.rglob("*") if p.is_file()}))


class _Engine:
    """The process-wide espeak-ng instance (espeak's state is global: one init, calls serialised)."""

    _instance: Optional["_Engine"] = None
    _create_lock = threading.Lock()

    @classmethod
    def get(cls) -> "_Engine":
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self):
        from duplexgen.tts.espeak_fresh import FreshLibrary

        lib_path, data_path = _paths()
        self.fresh = FreshLibrary(lib_path)
        self.lib = self.fresh.lib
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetVoiceByName.restype = ctypes.c_int
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_SetParameter.restype = ctypes.c_int
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]
        self.lib.espeak_Synth.restype = ctypes.c_int
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        # espeak_Initialize seeds espeak's random generator (used for voice variation) from the wall clock,
        # so two processes rendering the same text a second apart differ; reseeding before each text removes that.
        self._set_seed = getattr(self.lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
            self._set_seed.restype = None
        self.lock = threading.Lock()
        # Phoneme events time the words espeak speaks inside another word's event; they change no sample.
        self._init_args = (AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), espeakINITIALIZE_DONT_EXIT | espeakINITIALIZE_PHONEME_EVENTS)
        self._chunks: list[bytes] = []
        self._events: list[tuple[int, int, int, int, str]] = []
        self._callback = _SynthCallback(self._on_audio)  # keep a reference: ctypes must not free it
        self.sample_rate = self.fresh.reset(self._initialize)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed with data at {data_path}")
        self.version = "espeak-ng"

    def _initialize(self) -> int:
        sample_rate = self.lib.espeak_Initialize(*self._init_args)
        self.lib.espeak_SetSynthCallback(self._callback)
        return sample_rate

    def _on_audio(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(ctypes.string_at(wav, 2 * num_samples))  # ~75 calls per text: the cheapest copy
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            # A phoneme event names its phoneme in id.string ("" for a pause); other events have no name.
            name = bytes(e.id.string).split(b"\0")[0].decode("utf-8", "replace") if e.type == EVENT_PHONEME else ""
            self._events.append((e.type, e.text_position, e.length, e.sample, name))
            i += 1
        return 0  # 0 = carry on

    def synth(self, text: str, voice_name: str, rate: int, pitch: int, pitch_range: int, fresh: bool = True):
        """-> (int16 samples, [(type, text_position, length, sample, phoneme)], phonemes per word of the text)."""
        with self.lock:
            if fresh:  # nothing of the previous text survives (False: espeak's own cost, for benchmarks only)
                self.fresh.reset(self._initialize)
            if self.lib.espeak_SetVoiceByName(voice_name.encode()) != EE_OK:
                raise ValueError(f"espeak does not know the voice {voice_name!r}")
            for param, value in ((espeakRATE, rate), (espeakPITCH, pitch), (espeakRANGE, pitch_range)):
                self.lib.espeak_SetParameter(param, int(value), 0)
            self._chunks, self._events = [], []
            if self._set_seed is not None:
                self._set_seed(RAND_SEED)
            data = text.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(data, len(data))
            rc = self.lib.espeak_Synth(buf, len(data), 0, 0, 0, espeakCHARS_UTF8 | espeakENDPAUSE, None, None)
            if rc != EE_OK:
                raise RuntimeError(f"espeak_Synth failed with code {rc}")
            audio = np.frombuffer(bytearray().join(self._chunks), dtype=np.int16)  # writable
            events = self._events
            self._chunks, self._events = [], []
            # After the audio, so the count cannot change a sample: the phonemes of each word on its own.
            counts = [self.phoneme_count(w.text) for w in word_tokens(text)]
            return audio, events, counts

    def phoneme_count(self, word: str) -> int:
        """How many phonemes the current voice says for ``word`` (call with the lock held)."""
        return len(self.phonemes_of(word))

    def phonemes_of(self, text: str) -> list[str]:
        """The IPA phonemes the current voice says for ``text`` (espeak_TextToPhonemes; call with the lock held)."""
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        out: list[str] = []
        while ptr.value:  # one call per clause; it advances ptr and sets it to NULL at the end
            clause = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), espeakCHARS_UTF8, _PHONEMES_IPA_SEPARATED)
            out.extend(p for w in (clause or b"").decode("utf-8", "replace").split() for p in w.split("_") if p)
        return out


def _assign_events(tokens: list[WordToken], word_events: list[tuple[int, int]]) -> list[list[int]]:
    """Word events [(0-based char position, sample)] -> the samples of each token's events.

    espeak reports the character position of what it read as a word; that is inside the whitespace token
    for contractions, hyphenated words and abbreviations ("I'll" -> "I", "well-known" -> "well"), several
    events fall in one number ("42" -> "forty", "two"), and a few positions are stale by one word
    (measured: "such as" -> the event of "as" points into "such"; "5 - 3" -> the event of "three" points at "-")."""
    starts = [t.start for t in tokens]
    per: list[list[int]] = [[] for _ in tokens]
    loose: list[tuple[int, int]] = []  # (index of the next token, sample) for events between words
    for char, sample in word_events:
        j = bisect.bisect_right(starts, char) - 1
        if j >= 0 and char < tokens[j].token_end:
            per[j].append(sample)
        else:
            loose.append((j + 1, sample))
    for nxt, sample in loose:  # it speaks the next word when that word has no event of its own
        if nxt < len(tokens) and (not per[nxt] or nxt == 0):
            per[nxt].append(sample)
        else:
            per[nxt - 1].append(sample)
    for j in range(len(tokens) - 1):  # a stale second event of a word (numbers have several) moves on
        if len(per[j]) >= 2 and not per[j + 1] and not any(ch.isdigit() for ch in tokens[j].text):
            per[j].sort()
            per[j + 1].append(per[j].pop())
    return [sorted(p) for p in per]


def _split_points(a: int, b: int, weights: list[int], phonemes: list[int]) -> list[int]:
    """Boundaries inside [a, b) for tokens spoken as one espeak word, in proportion to ``weights`` (their
    phoneme counts): at phoneme starts when every token can get one (real boundaries in the audio), else
    by share of the time."""
    cum = np.cumsum([0] + weights) / max(1, sum(weights))
    inside = [p for p in phonemes if a <= p < b]
    n, m = len(weights), len(inside)
    if m < n:
        return [int(round(a + c * (b - a))) for c in cum]
    idx = [0] + [int(np.floor(c * m + 0.5)) for c in cum[1:-1]] + [m]
    for k in range(1, n):  # every token keeps at least one phoneme
        idx[k] = min(max(idx[k], idx[k - 1] + 1), m - (n - k))
    return [a] + [inside[i] for i in idx[1:-1]] + [b]


def words_from_events(
    text: str,
    events: list[tuple],
    audio: np.ndarray,
    sample_rate: int,
    phoneme_counts: Optional[list[int]] = None,
    silence_db: float = -45.0,
) -> list[Word]:
    """One :class:`Word` per word of ``text`` (:func:`duplexgen.core.words.word_tokens`), in order, from espeak's
    events ``(type, 1-based character position, length, sample[, phoneme name])``.

    A word starts at its first WORD event. espeak speaks some short words inside the previous word's event
    ("of the" -> one event, phonemes ʌ v ð ə); such a word shares that span, split at the phoneme events in
    proportion to ``phoneme_counts`` (each word's phonemes from espeak_TextToPhonemes), so the split lies on
    a phoneme boundary; its predecessor is marked ``joined`` (its end was not an espeak word boundary). A
    span ends where the next span or clause starts, pulled back over trailing frames quieter than
    ``silence_db`` relative to the loudest 10 ms frame (the pause after a comma)."""
    tokens = word_tokens(text)
    n = len(audio)
    if not tokens or n == 0:
        return []

    def clamp(s: int) -> int:
        return min(max(int(s), 0), n)

    word_events = [(e[1] - 1, clamp(e[3])) for e in events if e[0] == EVENT_WORD]
    phonemes = sorted(clamp(e[3]) for e in events if e[0] == EVENT_PHONEME and len(e) > 4 and e[4])
    clause_ends = {clamp(e[3]) for e in events if e[0] in (EVENT_SENTENCE, EVENT_END)}
    per = _assign_events(tokens, word_events)
    if not per[0]:
        per[0].append(0)  # a text whose first words espeak did not time starts with the audio
    groups: list[list[int]] = []  # a timed token and the untimed tokens espeak spoke inside its event
    for j, samples in enumerate(per):
        if samples:
            groups.append([j])
        else:
            groups[-1].append(j)
    starts = [per[g[0]][0] for g in groups]
    for i in range(1, len(starts)):
        starts[i] = max(starts[i], starts[i - 1])
    bounds = sorted(set(starts) | clause_ends | {n})
    hop = max(1, sample_rate // 100)
    usable = n - n % hop
    frames = audio[:usable].astype(np.float64).reshape(-1, hop)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12) if len(frames) else np.zeros(0)
    loud = energy > (energy.max() + silence_db) if len(energy) else np.zeros(0, bool)
    words: list[Word] = []
    for gi, group in enumerate(groups):
        a = starts[gi]
        b = next((x for x in bounds if x > a), n)
        if gi + 1 < len(starts):
            b = min(b, starts[gi + 1])  # two events at one sample: the first span is empty, never overlapping
        f0, f1 = a // hop, b // hop
        voiced = np.nonzero(loud[f0:f1])[0]
        if len(voiced):
            b = min(b, (f0 + voiced[-1] + 1) * hop)
        b = max(a, b)
        if len(group) == 1:
            cuts = [a, b]
        else:
            weights = [max(1, phoneme_counts[j]) if phoneme_counts else max(1, len(tokens[j].text)) for j in group]
            cuts = _split_points(a, b, weights, phonemes if phoneme_counts else [])
        for k, j in enumerate(group):
            words.append(Word(tokens[j].text, float(cuts[k] / sample_rate), float(cuts[k + 1] / sample_rate), joined=k < len(group) - 1))
    return words


def espeak_phonemes(text: str, voice_name: str = "en-us") -> list[str]:
    """IPA phonemes espeak says for ``text`` with ``voice_name`` ("of the" -> ['ʌ', 'v', 'ð', 'ə']), from this
    process's engine (pronunciations for the forced aligner's unknown words)."""
    engine = _Engine.get()
    with engine.lock:
        if engine.lib.espeak_SetVoiceByName(voice_name.encode()) != EE_OK:
            raise ValueError(f"espeak does not know the voice {voice_name!r}")
        return engine.phonemes_of(text)


# --- isolation: a long-lived helper process that renders with its own engine -----------------------


def _write_frame(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _read_exactly(fd: int, n: int, deadline: Optional[float]) -> Optional[bytes]:
    """``n`` bytes from ``fd``; None at end of file; TimeoutError past ``deadline``."""
    parts, left = [], n
    while left:
        if deadline is not None:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read_frame(fd: int, deadline: Optional[float] = None):
    header = _read_exactly(fd, 8, deadline)
    if header is None:
        return None
    data = _read_exactly(fd, struct.unpack("<Q", header)[0], deadline)
    return None if data is None else pickle.loads(data)


def serve_helper() -> None:
    """The helper's main loop: one framed request per text on stdin, one framed result on stdout."""
    inp, out = sys.stdin.fileno(), sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the frames
    engine = _Engine.get()
    while True:
        request = _read_frame(inp)
        if request is None:  # the render process closed the pipe or died: exit with it
            return
        try:
            result = ("ok", engine.synth(*request))
        except BaseException as e:  # noqa: BLE001 - every failure goes back as a message
            result = ("error", f"{type(e).__name__}: {e}")
        try:
            _write_frame(out, result)
        except BrokenPipeError:  # the render process went away mid-text
            return


class _Helper:
    """``python -c serve_helper()``: renders texts sent over a pipe, so a crash or a hang in espeak costs
    the helper (restarted for the next text), never the render worker. One process for all texts: the
    output is the same as in-process rendering (every text starts from a fresh library either way)."""

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from duplexgen.tts.espeak import serve_helper; serve_helper()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True,
        )

    def usable(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def synth(self, text: str, voice_name: str, rate: int, pitch: int, pitch_range: int, timeout_s: float):
        try:
            _write_frame(self.proc.stdin, (text, voice_name, rate, pitch, pitch_range))
            frame = _read_frame(self.proc.stdout.fileno(), deadline=time.monotonic() + timeout_s)
        except TimeoutError:
            self.close()
            raise RuntimeError(f"espeak took more than {timeout_s:.0f} s for one text; its helper process was killed") from None
        except BrokenPipeError:
            frame = None
        if frame is None:
            status = self.close()
            raise RuntimeError(f"espeak helper process stopped (exit status {status}); it restarts for the next text")
        kind, payload = frame
        if kind != "ok":
            raise RuntimeError(f"espeak failed: {payload}")
        return payload

    def close(self) -> Optional[int]:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        return self.proc.wait()


_HELPER: Optional[_Helper] = None
_HELPER_LOCK = threading.Lock()  # one text at a time through the pipe


def helper_cpu_seconds() -> float:
    """CPU seconds of this process's espeak helper (for benchmarks: it is not a reaped child, so
    RUSAGE_CHILDREN misses it)."""
    if _HELPER is None or not _HELPER.usable():
        return 0.0
    import psutil

    try:
        t = psutil.Process(_HELPER.proc.pid).cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system + t.children_user + t.children_system


def _synth_isolated(text: str, voice_name: str, rate: int, pitch: int, pitch_range: int, timeout_s: float):
    global _HELPER
    with _HELPER_LOCK:
        if _HELPER is None or not _HELPER.usable():
            _HELPER = _Helper()  # first use, after a crash or timeout, or in a forked copy of this process
        return _HELPER.synth(text, voice_name, rate, pitch, pitch_range, timeout_s)


class EspeakBackend(TTSBackend):
    """espeak-ng via ctypes; voice params: ``pitch`` (0-100), ``range`` (0-100), ``rate`` (words per minute)."""

    name = "espeak"
    sample_rate = 22050

    def __init__(
        self,
        default_rate: int = 175,
        default_pitch: int = 50,
        default_range: int = 50,
        isolate: bool = False,
        timeout_s: float = 120.0,
        fresh_library: bool = True,
    ):
        """Every text starts from a freshly initialised espeak, so the same text and voice give the same
        samples either way. ``isolate=True`` renders in a long-lived helper process instead of this one:
        a crash or a text that hangs longer than ``timeout_s`` costs the helper (restarted), not the caller.
        ``fresh_library=False`` skips the per-text reset (output then depends on earlier texts): only for measuring
        what espeak-ng itself costs (``duplexgen bench``)."""
        self.default_rate = default_rate
        self.default_pitch = default_pitch
        self.default_range = default_range
        self.isolate = isolate
        self.timeout_s = timeout_s
        self.fresh_library = fresh_library

    @property
    def engine(self) -> _Engine:
        return _Engine.get()

    def list_voices(self) -> list[Voice]:
        return [Voice.make(f"{lang}+{v}", self.name) for lang in espeak_languages() if lang.startswith("en") for v in espeak_variants()]

    def params_key(self) -> str:
        return _params_key()

    @staticmethod
    def check_voice_name(name: str) -> None:
        """Raise ValueError for an unknown language or variant (espeak would silently fall back)."""
        lang, _, variant = name.partition("+")
        if lang.lower() not in espeak_languages():
            raise ValueError(f"unknown espeak language {lang!r} in voice {name!r}; see espeak_languages()")
        if variant and variant not in espeak_variants():
            raise ValueError(f"unknown espeak variant {variant!r} in voice {name!r} (case sensitive); see espeak_variants()")

    def synthesize(self, text: str, voice: Voice) -> Synthesis:
        if not text or not text.strip():
            raise RejectError("empty text: nothing to speak", code="tts.empty-text", stage="tts")
        self.check_voice_name(voice.name)
        rate = int(voice.param("rate", self.default_rate))
        pitch = int(voice.param("pitch", self.default_pitch))
        pitch_range = int(voice.param("range", self.default_range))
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise ValueError(f"espeak rate must be in {RATE_RANGE}, got {rate} for voice {voice.key()}")
        if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1] or not 0 <= pitch_range <= 100:
            raise ValueError(f"espeak pitch and range must be in [0, 100], got {pitch}, {pitch_range} for {voice.key()}")
        if self.isolate:
            samples, events, counts = _synth_isolated(text, voice.name, rate, pitch, pitch_range, self.timeout_s)
        else:
            samples, events, counts = self.engine.synth(text, voice.name, rate, pitch, pitch_range, fresh=self.fresh_library)
        if len(samples) == 0:
            raise RejectError(f"espeak produced no audio for {text[:40]!r}", code="tts.no-audio", stage="tts")
        words = words_from_events(text, events, samples, self.sample_rate, counts)
        audio = samples.astype(np.float32) / 32768.0
        return Synthesis(audio, self.sample_rate, words, timing_source="espeak-events")


@lru_cache(maxsize=1)
def _params_key() -> str:
    """Once per process: the installed-package metadata lookup costs ~0.8 ms, and the cache key asks per turn."""
    import espeakng_loader

    version = getattr(espeakng_loader, "__version__", "") or _dist_version("espeakng-loader")
    # "words-v2": one timed word per word of the text (cached renders from before carry espeak's own words).
    return f"espeak-ng/{version}/words-v2"


def _dist_version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return "unknown"


__all__ = ["EspeakBackend", "espeak_variants", "espeak_languages", "espeak_phonemes", "words_from_events"]
