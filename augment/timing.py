"""Timing profiles: how far apart turns are, how deep barge-ins cut and where backchannels land.

``paper`` (default) is the SALM-Duplex layout: every gap ``gap.s`` (0.64 s), every barge-in keeps
``barge_in.kept_s`` (0.64 s); its code path is the one in ``plan``/``assemble`` and nothing here runs.

``natural`` draws each turn transition from human conversation statistics (README "Natural timing"):

- floor-transfer offset (next turn start - current turn end, Roberts et al. 2015) at every speaker
  change: an overlap with probability 0.40 ("about 40 % of between-speaker intervals are overlaps",
  Heldner & Edlund 2010, J. Phonetics 38:555), its depth log-normal (overlap durations are ~log-normal,
  Laskowski, Heldner & Edlund 2012) with median 0.25 s, sigma 0.75, at most 1 s; else a gap, log-normal
  with median 0.30 s, sigma 0.70, at most 3 s. The mixture has its mode at 0.15-0.20 s and median
  0.15 s ("gaps of the order of 200 ms", Levinson & Torreira 2015; mode 0-200 ms and language means
  7-469 ms, Stivers et al. 2009, PNAS 106:10587). The parameters are chosen to meet these published
  anchors, not fitted to one corpus: fit your own with ``custom`` + ``estimate_from``.
- barge-in stop delay (agent speech after the user starts): log-normal, median 0.30 s, sigma 0.45, in
  [0.12, 1.0] s: overlaps are resolved within one or two beats (Schegloff 2000, Language in Society
  29:1) and spontaneous syllables last 50-400 ms (Greenberg et al. 2003, J. Phonetics 31:465).
- barge-in depth: fraction of the agent turn uniform in [0.05, 0.95], snapped to a word end (interrupt
  locations are associated with word endpoints, Shriberg et al. 2001). No published depth distribution
  was found; uniform is a choice, not a measurement.
- backchannels: in 45 % of agent turns (backchannels are ~19 % of Switchboard utterances, Stolcke et al.
  2000: B / (2 + B) = 0.19 gives B = 0.47 per exchange), started inside the silence after an agent word
  that ends a phrase or is followed by a pause (Ward & Tsukahara 2000; Gravano & Hirschberg 2009;
  Cathcart et al. 2003), after >= 0.7 s of agent speech (Ward & Tsukahara 2000): never inside a word.

``custom`` takes the same parameters from ``augment.timing_custom``; ``estimate_from`` (a JSONL of the
real-conversations recipe, two-channel form) fits the offset part (overlap share and both log-normals)
from the set's supervisions or from its audio by VAD.

Example::

    p = timing_params(AugmentConfig.from_dict({"timing": "natural"}))
    offsets = draw_offsets(p, 1000, seed=7)            # > 0 gaps, < 0 overlaps, seconds
    fitted, info = fit_offsets(offsets)                # overlap share and both log-normals back
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Sequence

import numpy as np

from duplexgen.augment.config import AugmentConfig, TimingConfig

#: A word whose text ends with one of these ends a phrase: a backchannel may follow it.
PHRASE_END = tuple(",.;:?!")


# ----------------------------------------------------------------------------- draws


def draw_offset(p: TimingConfig, rng: np.random.Generator) -> float:
    """One floor-transfer offset in seconds: > 0 a gap, < 0 an overlap (rounded to 0.1 ms).

    Always two draws (branch, size) so the stream advances the same way whichever branch is taken."""
    u, z = rng.random(), rng.standard_normal()
    if u < p.overlap_prob:
        x = -min(p.overlap_median_s * math.exp(p.overlap_sigma * z), p.max_overlap_s)
    else:
        x = min(p.gap_median_s * math.exp(p.gap_sigma * z), p.max_gap_s)
    return round(float(x), 4)


def draw_offsets(p: TimingConfig, n: int, seed: int = 0) -> np.ndarray:
    """``n`` offsets from the profile: the reference sample that measured offsets are compared with."""
    rng = np.random.default_rng(seed)
    return np.array([draw_offset(p, rng) for _ in range(n)], dtype=np.float64)


def draw_stop_delay(p: TimingConfig, rng: np.random.Generator) -> float:
    """Agent speech kept after a barge-in starts, seconds (log-normal, clipped to ``stop_range_s``)."""
    lo, hi = p.stop_range_s
    return round(float(min(max(p.stop_median_s * math.exp(p.stop_sigma * rng.standard_normal()), lo), hi)), 4)


def draw_stop_delays(p: TimingConfig, n: int, seed: int = 0) -> np.ndarray:
    """``n`` stop delays from the profile (the reference sample for measured barge-ins)."""
    rng = np.random.default_rng(seed)
    return np.array([draw_stop_delay(p, rng) for _ in range(n)], dtype=np.float64)


def depth_fraction(p: TimingConfig, u: float) -> float:
    """Where in the agent turn a barge-in starts, as a fraction, from a uniform ``u`` in [0, 1)."""
    lo, hi = p.depth_range
    return round(lo + (hi - lo) * float(u), 4)


# ----------------------------------------------------------------------------- backchannel slots


def backchannel_slots(words: Sequence[Any], turn_duration: float, bc_duration: float, p: TimingConfig,
                      margin_s: float) -> list[tuple[float, float]]:
    """Turn-relative windows ``(a, b)`` where a backchannel may START.

    A slot is the silence after a word that ends a phrase (punctuation) or is followed by a pause of at
    least ``backchannel_min_pause_s``, once ``backchannel_min_speech_s`` of the agent turn has passed;
    it is cut so the backchannel ends ``margin_s`` before the agent turn does. ``a`` is the word's end and
    ``b`` never passes the next word's start, so a start in the window is never inside a word."""
    out = []
    for w, nxt in zip(words, words[1:]):
        if w.end < p.backchannel_min_speech_s:
            continue
        if not (w.text.rstrip().endswith(PHRASE_END) or nxt.start - w.end >= p.backchannel_min_pause_s):
            continue
        hi = min(nxt.start, turn_duration - margin_s - bc_duration)
        if hi >= w.end:
            out.append((float(w.end), float(hi)))
    return out


def clip_slots(slots: Sequence[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    """The parts of ``slots`` inside ``[lo, hi]`` (the free time on the user's channel)."""
    return [(max(a, lo), min(b, hi)) for a, b in slots if max(a, lo) <= min(b, hi)]


def pick_in_slots(slots: Sequence[tuple[float, float]], u_pick: float, u_pause: float) -> Optional[float]:
    """A start time: slot ``floor(u_pick * n)``, at ``u_pause`` of the way through it; None without slots."""
    if not slots:
        return None
    a, b = slots[min(int(u_pick * len(slots)), len(slots) - 1)]
    return a + float(u_pause) * (b - a)


# ----------------------------------------------------------------------------- fitting and comparing
# (offsets are measured with duplexgen.core.events.floor_transfer_offsets / between_speaker_intervals)


#: Fewest transitions (and of each kind) a fit accepts.
MIN_FIT_TRANSITIONS = 20
MIN_FIT_PER_SIDE = 5


def fit_offsets(offsets: Sequence[float], base: Optional[TimingConfig] = None) -> tuple[TimingConfig, dict[str, Any]]:
    """Overlap share and the two log-normals (maximum likelihood: mean and sd of the logs) from offsets.

    A side with fewer than ``MIN_FIT_PER_SIDE`` values keeps ``base``'s shape (its share is still fitted).
    Raises ValueError with fewer than ``MIN_FIT_TRANSITIONS`` offsets."""
    base = base or TimingConfig()
    x = np.asarray([o for o in offsets if o is not None and math.isfinite(o) and o != 0.0], dtype=np.float64)
    if len(x) < MIN_FIT_TRANSITIONS:
        raise ValueError(f"only {len(x)} speaker changes to fit (need >= {MIN_FIT_TRANSITIONS}); give more conversations")
    gaps, overlaps = x[x > 0], -x[x < 0]
    changes: dict[str, Any] = {"overlap_prob": round(float(len(overlaps) / len(x)), 4)}
    info: dict[str, Any] = {"transitions": int(len(x)), "gaps": int(len(gaps)), "overlaps": int(len(overlaps))}
    for side, vals in (("gap", gaps), ("overlap", overlaps)):
        if len(vals) >= MIN_FIT_PER_SIDE:
            logs = np.log(vals)
            changes[f"{side}_median_s"] = round(float(np.exp(logs.mean())), 4)
            changes[f"{side}_sigma"] = round(float(logs.std(ddof=1)), 4)
            changes[f"max_{side}_s"] = round(max(float(vals.max()), getattr(base, f"max_{side}_s")), 4)
        else:
            info[f"{side}_shape"] = "kept from the base profile (too few to fit)"
    return dataclasses.replace(base, **changes), info


def compare_offsets(measured: Sequence[float], p: TimingConfig, seed: int = 0, ratio: int = 20) -> dict[str, Any]:
    """Two-sample KS test of measured offsets against ``ratio`` x as many (at least 1000) draws from the profile."""
    return _compare(measured, lambda n: draw_offsets(p, n, seed), ratio, overlap_share=True)


def compare_stop_delays(measured: Sequence[float], p: TimingConfig, seed: int = 0, ratio: int = 20) -> dict[str, Any]:
    """Two-sample KS test of measured barge-in stop delays against draws from the profile."""
    return _compare(measured, lambda n: draw_stop_delays(p, n, seed), ratio)


def _compare(measured: Sequence[float], draw, ratio: int, overlap_share: bool = False) -> dict[str, Any]:
    from scipy.stats import ks_2samp

    m = np.asarray([x for x in measured if x is not None], dtype=np.float64)
    if m.size == 0:
        return {"n": 0}
    ref = draw(max(1000, ratio * m.size))
    ks = ks_2samp(m, ref)
    out = {
        "n": int(m.size),
        "ks_statistic": round(float(ks.statistic), 5),
        "ks_p": float(ks.pvalue),
        "median_measured": round(float(np.median(m)), 4),
        "median_profile": round(float(np.median(ref)), 4),
    }
    if overlap_share:
        out.update(overlap_share_measured=round(float(np.mean(m < 0)), 4), overlap_share_profile=round(float(np.mean(ref < 0)), 4))
    return out


def timing_params(cfg: AugmentConfig) -> Optional[TimingConfig]:
    """The parameters of ``cfg.timing``: None for ``paper``, the defaults for ``natural``, ``timing_custom`` for ``custom``."""
    if cfg.timing == "paper":
        return None
    if cfg.timing == "natural":
        return TimingConfig()
    tc = cfg.timing_custom
    if tc.estimate_from and not tc.estimated:
        raise ValueError("augment.timing_custom.estimate_from is fitted once before planning (duplexgen generate does it; "
                         "in your own code call duplexgen.pipeline.timing.resolve_timing(cfg) first) or give the parameters")
    return tc


def profile_record(cfg: AugmentConfig, p: TimingConfig) -> dict[str, Any]:
    """What a cut records about its timing (``custom["timing"]``): the profile name and every parameter."""
    rec: dict[str, Any] = {"profile": cfg.timing, "params": p.params()}
    if cfg.timing == "custom" and p.estimate_from:
        rec["estimated"] = {"from": p.estimate_from, "with": p.estimate_with, **p.estimated}
    return rec


def params_from_record(rec: dict[str, Any]) -> TimingConfig:
    """The TimingConfig a cut's ``custom["timing"]`` was drawn with (to draw the reference sample again)."""
    return TimingConfig(**rec["params"])


__all__ = [
    "draw_offset", "draw_offsets", "draw_stop_delay", "draw_stop_delays", "compare_stop_delays", "depth_fraction", "backchannel_slots", "clip_slots", "pick_in_slots",
    "fit_offsets", "compare_offsets", "timing_params", "profile_record",
    "params_from_record", "PHRASE_END", "MIN_FIT_TRANSITIONS",
]
