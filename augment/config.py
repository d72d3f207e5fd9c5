"""Configuration of duplex assembly and augmentation (gaps, barge-in, backchannels, user-stream realism).

One dataclass per concern, grouped under :class:`AugmentConfig`. Every field has a one-line help
(the CLI turns it into ``--help``) and ``__post_init__`` names the key to fix when a value is bad.

Defaults follow the SALM-Duplex paper (0.64 s gaps, 0.64 s of agent speech kept after a barge-in)
and Moshi's user-stream recipe (gain -24..+15 dB p 0.5, noise -30..+6 dB p 0.3, echo 0..0.2 gain at
100..500 ms with reverb p 0.3). User-stream realism is OFF by default (``user_stream.enabled``) so the
clean demo data is easy to listen to and to check; switch it on for training data.

Example::

    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 0.5, "position_weights": [1, 1, 0]},
                                   "user_stream": {"enabled": True}})
    cfg.barge_in.kept_s == 0.64
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from duplexgen.core.timing import BARGE_IN_KEEP_S, FRAME_S, GAP_S

GAP_DISTRIBUTIONS = ("fixed", "uniform", "normal", "mixture")
INTERRUPTION_MODES = ("next_turn", "phrase", "mixed")
POSITIONS = ("early", "middle", "late")
#: ``augment.timing``: the paper's fixed layout, human-conversation statistics, or your own (``timing_custom``).
TIMING_PROFILES = ("paper", "natural", "custom")
ESTIMATE_SOURCES = ("segments", "vad")

#: (what the user says, what the agent answers next): short interruptions and a fitting follow-up.
DEFAULT_INTERRUPTIONS: list[list[str]] = [
    ["Wait, stop.", "Okay, I'll stop there."],
    ["Sorry, actually, never mind.", "No problem. What would you like to talk about instead?"],
    ["Hold on a second.", "Sure, take your time."],
    ["Okay, that's enough, thanks.", "You're welcome. Let me know if you need anything else."],
    ["Sorry, can you keep it shorter?", "Of course, I'll keep my answers brief."],
    ["Stop, stop.", "Alright, I've stopped."],
]

DEFAULT_BACKCHANNELS: list[str] = ["Mm-hmm.", "Yeah.", "Right.", "Uh-huh.", "Okay.", "I see."]


def _check_prob(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"augment.{name} must be in [0, 1], got {value}")


def _check_range(name: str, rng: Any, low: float = -math.inf, high: float = math.inf) -> None:
    if len(rng) != 2 or not (low <= rng[0] <= rng[1] <= high):
        raise ValueError(f"augment.{name} must be [min, max] with {low} <= min <= max <= {high}, got {rng}")


@dataclass
class GapConfig:
    """Silence between turns (the paper: 0.64 s = 8 frames of 80 ms)."""

    s: float = field(default=GAP_S, metadata={"help": "nominal gap between turns and after the last one, seconds"})
    distribution: str = field(
        default="fixed", metadata={"help": "fixed | uniform (s +- jitter_s) | normal (sd jitter_s) | mixture"}
    )
    jitter_s: float = field(default=0.0, metadata={"help": "half-width (uniform) or sd (normal) around each gap centre, seconds"})
    mixture: list[list[float]] = field(
        default_factory=lambda: [[GAP_S / 2, 0.2], [GAP_S, 0.6], [1.0, 0.2]],
        metadata={"help": "for distribution=mixture: [[centre_s, weight], ...], jitter_s applies around each centre"},
    )
    min_s: float = field(default=0.16, metadata={"help": "floor for every drawn gap (>= 2 frames keeps EOS and BOS apart)"})
    max_s: float = field(default=3.0, metadata={"help": "ceiling for every drawn gap, seconds"})

    def __post_init__(self) -> None:
        if self.distribution not in GAP_DISTRIBUTIONS:
            raise ValueError(f"augment.gap.distribution must be one of {GAP_DISTRIBUTIONS}, got {self.distribution!r}")
        if not (0.0 < self.min_s <= self.s <= self.max_s):
            raise ValueError(f"augment.gap.s must satisfy 0 < min_s <= s <= max_s, got min_s={self.min_s} s={self.s} max_s={self.max_s}")
        if self.jitter_s < 0:
            raise ValueError(f"augment.gap.jitter_s must be >= 0, got {self.jitter_s}")
        if self.distribution == "mixture":
            if not self.mixture or any(len(m) != 2 or m[0] <= 0 or m[1] < 0 for m in self.mixture):
                raise ValueError(f"augment.gap.mixture must be [[centre_s > 0, weight >= 0], ...], got {self.mixture}")
            if sum(m[1] for m in self.mixture) <= 0:
                raise ValueError("augment.gap.mixture weights must not all be zero")


@dataclass
class BargeInConfig:
    """The user starts talking inside an agent turn; the agent keeps ``kept_s`` of speech then stops."""

    enabled: bool = field(default=True, metadata={"help": "insert barge-ins at all"})
    prob: float = field(default=0.3, metadata={"help": "probability that an agent turn is interrupted"})
    max_per_conversation: int = field(default=3, metadata={"help": "cap on barge-ins in one conversation"})
    position_weights: list[float] = field(
        default_factory=lambda: [1.0, 1.0, 1.0],
        metadata={"help": "weights of cutting early / middle / late in the agent turn"},
    )
    position_ranges: list[list[float]] = field(
        default_factory=lambda: [[0.1, 0.35], [0.35, 0.65], [0.65, 0.9]],
        metadata={"help": "[lo, hi] fractions of the agent turn for early / middle / late cuts"},
    )
    kept_s: float = field(default=BARGE_IN_KEEP_S, metadata={"help": "agent speech kept after the user starts, seconds (paper: 0.64)"})
    fade_ms: float = field(default=5.0, metadata={"help": "fade-out at the end of the kept agent audio (inside kept_s), ms"})
    min_cut_s: float = field(default=FRAME_S, metadata={"help": "earliest cut after the agent turn starts, seconds (one 80 ms frame)"})
    interruption: str = field(
        default="mixed",
        metadata={"help": "what the user says: next_turn (the next user turn) | phrase (short interruption) | mixed"},
    )
    phrase_prob: float = field(default=0.5, metadata={"help": "for interruption=mixed: probability of a short phrase"})
    phrases: list[list[str]] = field(
        default_factory=lambda: [list(p) for p in DEFAULT_INTERRUPTIONS],
        metadata={"help": "[[user interruption, agent follow-up answer], ...]"},
    )

    def __post_init__(self) -> None:
        _check_prob("barge_in.prob", self.prob)
        _check_prob("barge_in.phrase_prob", self.phrase_prob)
        if self.max_per_conversation < 0:
            raise ValueError(f"augment.barge_in.max_per_conversation must be >= 0, got {self.max_per_conversation}")
        if len(self.position_weights) != 3 or min(self.position_weights) < 0 or sum(self.position_weights) <= 0:
            raise ValueError(
                f"augment.barge_in.position_weights must be 3 non-negative weights (early, middle, late), got {self.position_weights}"
            )
        if len(self.position_ranges) != 3:
            raise ValueError(f"augment.barge_in.position_ranges must have 3 [lo, hi] pairs, got {self.position_ranges}")
        for name, r in zip(POSITIONS, self.position_ranges):
            _check_range(f"barge_in.position_ranges ({name})", r, 0.0, 1.0)
        if self.kept_s <= 0:
            raise ValueError(f"augment.barge_in.kept_s must be > 0, got {self.kept_s}")
        if not (0 <= self.fade_ms <= 1000 * self.kept_s):
            raise ValueError(f"augment.barge_in.fade_ms must be in [0, kept_s*1000], got {self.fade_ms}")
        if self.min_cut_s < 0:
            raise ValueError(f"augment.barge_in.min_cut_s must be >= 0, got {self.min_cut_s}")
        if self.interruption not in INTERRUPTION_MODES:
            raise ValueError(f"augment.barge_in.interruption must be one of {INTERRUPTION_MODES}, got {self.interruption!r}")
        if self.interruption != "next_turn" and (
            not self.phrases or any(len(p) != 2 or not all(isinstance(s, str) and s.strip() for s in p) for p in self.phrases)
        ):
            raise ValueError("augment.barge_in.phrases must be a non-empty list of [interruption, follow-up] text pairs")


@dataclass
class BackchannelConfig:
    """Short user sounds over agent speech ("mm-hmm") that must not stop the agent."""

    enabled: bool = field(default=True, metadata={"help": "insert backchannels at all"})
    prob: float = field(default=0.2, metadata={"help": "probability that an agent turn gets a backchannel"})
    phrases: list[str] = field(default_factory=lambda: list(DEFAULT_BACKCHANNELS), metadata={"help": "backchannel texts"})
    position_range: list[float] = field(
        default_factory=lambda: [0.2, 0.7], metadata={"help": "[lo, hi] fraction of the agent turn where it starts"}
    )
    margin_s: float = field(
        default=0.24, metadata={"help": "keep a backchannel this far from the agent turn's start and end, seconds"}
    )

    def __post_init__(self) -> None:
        _check_prob("backchannel.prob", self.prob)
        if not self.phrases or not all(isinstance(p, str) and p.strip() for p in self.phrases):
            raise ValueError("augment.backchannel.phrases must be a non-empty list of texts")
        _check_range("backchannel.position_range", self.position_range, 0.0, 1.0)
        if self.margin_s < 0:
            raise ValueError(f"augment.backchannel.margin_s must be >= 0, got {self.margin_s}")


@dataclass
class UserStreamConfig:
    """Realism for the user (input) stream only; the agent stream stays clean. Moshi's numbers by default."""

    enabled: bool = field(default=False, metadata={"help": "apply user-stream augmentation (off for clean demo data)"})
    gain_prob: float = field(default=0.5, metadata={"help": "probability of a random gain on the user stream"})
    gain_db: list[float] = field(default_factory=lambda: [-24.0, 15.0], metadata={"help": "[min, max] gain, dB"})
    noise_prob: float = field(default=0.3, metadata={"help": "probability of background noise"})
    noise_db: list[float] = field(
        default_factory=lambda: [-30.0, 6.0], metadata={"help": "[min, max] noise level relative to the user speech, dB"}
    )
    noise_silent_stretch_prob: float = field(
        default=0.5, metadata={"help": "probability that the noise alternates with silent stretches"}
    )
    noise_kinds: list[str] = field(
        default_factory=lambda: ["white", "pink", "brown"], metadata={"help": "generated noise colours when no noise files are given"}
    )
    noise_dir: Optional[str] = field(default=None, metadata={"help": "folder of noise audio files (wav/flac/...), recursive"})
    noise_manifest: Optional[str] = field(default=None, metadata={"help": "Lhotse RecordingSet or CutSet manifest of noises"})
    echo_reverb_prob: float = field(default=0.3, metadata={"help": "probability of echo and reverb (applied together)"})
    echo: bool = field(default=True, metadata={"help": "when echo+reverb is drawn, add the agent's echo"})
    echo_gain: list[float] = field(default_factory=lambda: [0.0, 0.2], metadata={"help": "[min, max] echo gain (linear)"})
    echo_delay_ms: list[float] = field(default_factory=lambda: [100.0, 500.0], metadata={"help": "[min, max] echo delay, ms"})
    reverb: bool = field(default=True, metadata={"help": "when echo+reverb is drawn, reverberate the user speech"})
    rt60_s: list[float] = field(default_factory=lambda: [0.2, 0.8], metadata={"help": "[min, max] RT60 of the simulated room, s"})
    drr_db: list[float] = field(
        default_factory=lambda: [0.0, 12.0], metadata={"help": "[min, max] direct-to-reverberant ratio of the simulated RIR, dB"}
    )

    def __post_init__(self) -> None:
        for name in ("gain_prob", "noise_prob", "noise_silent_stretch_prob", "echo_reverb_prob"):
            _check_prob(f"user_stream.{name}", getattr(self, name))
        _check_range("user_stream.gain_db", self.gain_db, -60.0, 40.0)
        _check_range("user_stream.noise_db", self.noise_db, -80.0, 40.0)
        _check_range("user_stream.echo_gain", self.echo_gain, 0.0, 1.0)
        _check_range("user_stream.echo_delay_ms", self.echo_delay_ms, 0.0, 5000.0)
        _check_range("user_stream.rt60_s", self.rt60_s, 0.01, 5.0)
        _check_range("user_stream.drr_db", self.drr_db, -20.0, 60.0)
        bad = [k for k in self.noise_kinds if k not in ("white", "pink", "brown")]
        if not self.noise_kinds or bad:
            raise ValueError(f"augment.user_stream.noise_kinds must be a non-empty subset of white/pink/brown, got {self.noise_kinds}")


@dataclass
class TimingConfig:
    """Natural/custom timing parameters (``augment.timing_custom``). The defaults ARE the ``natural`` profile;
    every number's source is in ``duplexgen.augment.timing`` and the README ("Natural timing")."""

    offset_mu_s: float = field(default=-0.10, metadata={"help": "floor-transfer offset (ex-Gaussian): mean of its normal part, s"})
    offset_sigma_s: float = field(default=0.45, metadata={"help": "floor-transfer offset: sd of its normal part, s (the overlap side)"})
    offset_tau_s: float = field(default=0.24, metadata={"help": "floor-transfer offset: mean of its exponential part, s (the long-gap tail)"})
    max_gap_s: float = field(default=3.0, metadata={"help": "longest gap, s (longer draws are clipped)"})
    max_overlap_s: float = field(default=1.0, metadata={"help": "deepest overlap, s (deeper draws are clipped)"})
    min_solo_s: float = field(default=0.24, metadata={"help": "a turn is heard alone at least this long before the next one may overlap it, and one speaker's turns are at least this far apart, s (3 frames)"})
    stop_median_s: float = field(default=0.30, metadata={"help": "median agent speech kept after a barge-in starts (log-normal), s; replaces barge_in.kept_s"})
    stop_sigma: float = field(default=0.45, metadata={"help": "sigma (sd of ln) of the barge-in stop delay"})
    stop_range_s: list[float] = field(default_factory=lambda: [0.12, 1.0], metadata={"help": "[min, max] barge-in stop delay, s"})
    depth_range: list[float] = field(
        default_factory=lambda: [0.05, 0.95], metadata={"help": "[lo, hi] fraction of the agent turn where a barge-in starts (uniform); replaces barge_in.position_*"}
    )
    backchannel_prob: float = field(default=0.45, metadata={"help": "probability that an agent turn gets a backchannel; replaces backchannel.prob"})
    backchannel_min_speech_s: float = field(default=0.7, metadata={"help": "agent speech before the first backchannel slot, s (Ward & Tsukahara 2000)"})
    backchannel_min_pause_s: float = field(default=0.1, metadata={"help": "a pause at least this long after an agent word is a backchannel slot, s"})
    estimate_from: Optional[str] = field(
        default=None, metadata={"help": "fit the offset (offset_mu_s, offset_sigma_s, offset_tau_s) to real conversations: a real_conversations JSONL (two-channel rows)"}
    )
    estimate_with: str = field(default="segments", metadata={"help": "what estimate_from measures: segments (their start/end) | vad (the audio, energy VAD per channel)"})
    estimated: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "filled by the pipeline when it fits estimate_from (counts and source); leave empty"}
    )

    def __post_init__(self) -> None:
        where = "augment.timing_custom"
        _check_prob("timing_custom.backchannel_prob", self.backchannel_prob)
        for name in ("offset_sigma_s", "offset_tau_s", "max_gap_s", "max_overlap_s", "stop_median_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{where}.{name} must be > 0, got {getattr(self, name)}")
        for name in ("stop_sigma", "min_solo_s", "backchannel_min_speech_s", "backchannel_min_pause_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{where}.{name} must be >= 0, got {getattr(self, name)}")
        _check_range("timing_custom.stop_range_s", self.stop_range_s, 1e-3, 10.0)
        _check_range("timing_custom.depth_range", self.depth_range, 0.0, 1.0)
        if self.estimate_with not in ESTIMATE_SOURCES:
            raise ValueError(f"{where}.estimate_with must be one of {ESTIMATE_SOURCES}, got {self.estimate_with!r}")

    def params(self) -> dict[str, Any]:
        """The numbers only (what a cut records), without the estimation bookkeeping."""
        d = dataclasses.asdict(self)
        for k in ("estimate_from", "estimate_with", "estimated"):
            d.pop(k)
        return d


@dataclass
class AugmentConfig:
    """Everything the plan (text) and assemble (audio) steps need."""

    gap: GapConfig = field(default_factory=GapConfig, metadata={"help": "gaps between turns"})
    barge_in: BargeInConfig = field(default_factory=BargeInConfig, metadata={"help": "barge-in augmentation"})
    backchannel: BackchannelConfig = field(default_factory=BackchannelConfig, metadata={"help": "backchannel overlays"})
    user_stream: UserStreamConfig = field(default_factory=UserStreamConfig, metadata={"help": "user-stream realism"})
    timing: str = field(
        default="paper",
        metadata={"help": "timing profile: paper (every gap gap.s, barge-ins keep barge_in.kept_s) | natural (gaps, overlaps, "
                          "barge-in depth/stop and backchannel slots from human conversation statistics) | custom (timing_custom)"},
    )
    timing_custom: TimingConfig = field(default_factory=TimingConfig, metadata={"help": "for timing=custom: the parameters (defaults = natural)"})
    tokenizer: Optional[str] = field(
        default=None,
        metadata={"help": "training tokenizer (HF folder or .gguf) for the EOS-frame rule of shortened turns; null = the conservative estimate (core.timing.estimate_tokens)"},
    )

    def __post_init__(self) -> None:
        for name, cls in (("gap", GapConfig), ("barge_in", BargeInConfig), ("backchannel", BackchannelConfig), ("user_stream", UserStreamConfig),
                          ("timing_custom", TimingConfig)):
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, _from_dict(cls, value, f"augment.{name}"))
            elif not isinstance(value, cls):
                raise ValueError(f"augment.{name} must be a {cls.__name__} or a dict, got {type(value).__name__}")
        if self.timing not in TIMING_PROFILES:
            raise ValueError(f"augment.timing must be one of {TIMING_PROFILES}, got {self.timing!r}")
        if self.timing != "custom" and self.timing_custom != TimingConfig():
            raise ValueError(f"augment.timing_custom is only read with augment.timing: custom (got timing: {self.timing}); set augment.timing=custom")

    @classmethod
    def from_dict(cls, d: Optional[dict[str, Any]]) -> "AugmentConfig":
        return _from_dict(cls, dict(d or {}), "augment")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary for metadata and logs."""
        return {f.name: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v) for f in dataclasses.fields(self) for v in [getattr(self, f.name)]}


def _from_dict(cls: type, d: dict[str, Any], where: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    return cls(**d)


__all__ = [
    "AugmentConfig",
    "GapConfig",
    "BargeInConfig",
    "BackchannelConfig",
    "UserStreamConfig",
    "TimingConfig",
    "TIMING_PROFILES",
    "DEFAULT_INTERRUPTIONS",
    "DEFAULT_BACKCHANNELS",
]
