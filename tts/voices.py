"""Voice pools: one fixed agent voice, many user voices, picked reproducibly per conversation.

The agent must always sound the same (the model learns to speak with that voice); users must sound
like many different people. A :class:`VoicePool` holds the agent voice and a list of user voices that
never contains the agent voice; :meth:`VoicePool.user_voice` maps a conversation seed to one user
voice, so a user keeps one voice across the turns of a conversation and a rerun picks the same one.

Example::

    pool = espeak_voice_pool(num_user_voices=64, seed=1234)
    pool.agent.key()                 # 'espeak:en-us:{"pitch":50,"range":50,"rate":170}'
    pool.user_voice(derive_seed(1234, "alpaca-000003-s0"))   # same voice on every call and rerun
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from duplexgen.tts.base import Voice

#: English espeak voices with distinct accents (file names under espeak-ng-data/lang; 'en' is British).
ESPEAK_ENGLISH = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
#: Human-sounding espeak variants (voices/!v); robotic, whisper and novelty variants are left out.
ESPEAK_USER_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "adam", "Alex", "Andy", "andrea", "anika", "annie", "aunty", "belinda", "benjamin", "caleb", "david",
    "edward", "grandma", "grandpa", "ian", "iven", "john", "linda", "max", "michael", "norbert", "paul",
    "quincy", "rob", "robert", "steph", "travis", "victor", "zac",
)
#: The default agent: American English, espeak's default variant, fixed pitch and rate.
DEFAULT_ESPEAK_AGENT = Voice.make("en-us", "espeak", pitch=50, range=50, rate=170)


#: What each English espeak voice sounds like, for people reading a report.
ESPEAK_ACCENTS = {
    "en-us": "US English", "en": "British English", "en-gb-scotland": "Scottish English", "en-gb-x-rp": "British English (RP)",
    "en-gb-x-gbclan": "Lancashire English", "en-gb-x-gbcwmd": "West Midlands English", "en-029": "Caribbean English",
    "en-us-nyc": "New York English",
}


def voice_label(key: str) -> str:
    """A voice key (``Voice.key()``: 'espeak:en-gb-scotland+m5:{"pitch":50,"range":42,"rate":172}') in words a
    person reads: 'Scottish English, m5, pitch 50, 172 wpm'; 'recorded synthetic_q00' for real audio; other
    backends: 'piper joe'. The key itself stays the exact name (reports show it next to the label)."""
    if not key:
        return "(none)"
    backend, _, rest = key.partition(":")
    name, _, params_json = rest.partition(":")
    try:
        params = json.loads(params_json) if params_json else {}
    except json.JSONDecodeError:
        params = {}
    if backend == "real":
        return f"recorded {name}"
    if backend == "espeak":
        lang, _, variant = name.partition("+")
        parts = [ESPEAK_ACCENTS.get(lang, lang)] + ([variant] if variant else [])
        if "pitch" in params:
            parts.append(f"pitch {params['pitch']}")
        if "rate" in params:
            parts.append(f"{params['rate']} wpm")
        return ", ".join(parts)
    extra = ", ".join(f"{k} {v}" for k, v in params.items())
    return f"{backend} {name}" + (f" ({extra})" if extra else "")


@dataclass(frozen=True)
class VoicePool:
    """The agent voice plus the user voices (the agent voice is removed from the users)."""

    voices: tuple
    agent: Voice
    seed: int = 0

    def __init__(self, voices: Sequence[Voice], agent: Voice, seed: int = 0):
        users = tuple(v for v in voices if v != agent and v.key() != agent.key())
        if not users:
            raise ValueError("tts voice pool has no user voice distinct from the agent voice")
        object.__setattr__(self, "voices", users)
        object.__setattr__(self, "agent", agent)
        object.__setattr__(self, "seed", int(seed))

    def user_voice(self, conversation_seed: int) -> Voice:
        """The user voice of one conversation: a pure function of (pool seed, conversation seed)."""
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, int(conversation_seed) & ((1 << 63) - 1)])
        return self.voices[int(rng.integers(len(self.voices)))]

    def describe(self) -> dict:
        return {"agent": self.agent.key(), "num_user_voices": len(self.voices)}


def espeak_voice_pool(
    num_user_voices: int = 64,
    seed: int = 0,
    agent: Optional[Voice] = None,
    languages: Sequence[str] = ESPEAK_ENGLISH,
    variants: Sequence[str] = ESPEAK_USER_VARIANTS,
    pitch_range: tuple[int, int] = (30, 75),
    rate_range: tuple[int, int] = (140, 200),
) -> VoicePool:
    """Draw ``num_user_voices`` distinct (language, variant, pitch, rate) combinations with ``seed``.

    Variant names are checked against espeak's data folder (a wrong name would silently fall back)."""
    from duplexgen.tts.espeak import EspeakBackend, espeak_variants

    agent = agent or DEFAULT_ESPEAK_AGENT
    known = set(espeak_variants())
    variants = [v for v in variants if v in known]
    for lang in languages:
        EspeakBackend.check_voice_name(lang)
    if not variants:
        raise ValueError("tts: none of the requested espeak variants exist in this espeak-ng data folder")
    if num_user_voices < 1:
        raise ValueError(f"tts.num_user_voices must be >= 1, got {num_user_voices}")
    rng = np.random.default_rng(seed)
    voices: dict[str, Voice] = {}
    attempts = 0
    while len(voices) < num_user_voices and attempts < num_user_voices * 50:
        attempts += 1
        voice = Voice.make(
            f"{languages[rng.integers(len(languages))]}+{variants[rng.integers(len(variants))]}",
            "espeak",
            pitch=int(rng.integers(pitch_range[0], pitch_range[1] + 1)),
            range=int(rng.integers(30, 80)),
            rate=int(rng.integers(rate_range[0], rate_range[1] + 1)),
        )
        if voice != agent:
            voices.setdefault(voice.key(), voice)
    return VoicePool(list(voices.values()), agent, seed)


def named_voice_pool(backend: str, user_names: Sequence[str], agent: "str | Voice", seed: int = 0) -> VoicePool:
    """A pool from plain voice names (OpenAI-compatible servers, Piper files, NeMo speakers); a user name
    equal to the agent's name is dropped."""
    agent_voice = agent if isinstance(agent, Voice) else Voice.make(agent, backend)
    users = [Voice.make(n, backend) for n in user_names if n != agent_voice.name]
    return VoicePool(users, agent_voice, seed)


__all__ = ["VoicePool", "espeak_voice_pool", "named_voice_pool", "DEFAULT_ESPEAK_AGENT", "ESPEAK_ENGLISH", "ESPEAK_USER_VARIANTS",
           "ESPEAK_ACCENTS", "voice_label"]
