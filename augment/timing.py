"""Timing profiles: how far apart turns are, how deep barge-ins cut and where backchannels land.

``paper`` (default) is the SALM-Duplex layout: every gap ``gap.s`` (0.64 s), every barge-in keeps
``barge_in.kept_s`` (0.64 s); its code path is the one in ``plan``/``assemble`` and nothing here runs.

``natural`` draws each turn transition from human conversation statistics (README "Natural timing"):

- floor-transfer offset (next turn start - current turn end, Roberts et al. 2015) at every speaker
  change, negative = the next turn starts before this one ends (an overlap): ex-Gaussian (a normal plus
  an exponential, the classic response-time shape: one mode, a long right tail of slow answers and a
  normal left tail of overlaps) with mu -0.10 s, sigma 0.45 s, tau 0.24 s, clipped to [-1, 3] s. Its
  share below zero is 0.40 ("about 40 % of between-speaker intervals are overlaps", Heldner & Edlund
  2010, J. Phonetics 38:555), its mode 0.10 s and median 0.13 s (mode 0-200 ms in ten languages, whose
  means run from 7 to 469 ms: Stivers et al. 2009, PNAS 106:10587; "gaps of the order of 200 ms":
  Levinson & Torreira 2015), its mean 0.14 s. The parameters are chosen to meet these published
  anchors, not fitted to one corpus: fit your own with ``custom`` + ``estimate_from``. (A first version
  drew overlaps and gaps from two log-normals; that mixture has no density at 0 and two modes, unlike
  every published offset histogram.)
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
real-conversations recipe, two-channel form) fits the offset part (the ex-Gaussian's mu, sigma, tau)
from the set's supervisions or from its audio by VAD.

Example::

    p = timing_params(AugmentConfig.from_dict({"timing": "natural"}))
    offsets = draw_offsets(p, 1000, seed=7)            # > 0 gaps, < 0 overlaps, seconds
    fitted, info = fit_offsets(offsets)                # the ex-Gaussian back (maximum likelihood)
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
    """One floor-transfer offset in seconds (> 0 a gap, < 0 an overlap), ex-Gaussian, clipped, rounded to 0.1 ms."""
    z, u = rng.standard_normal(), rng.random()
    x = p.offset_mu_s + p.offset_sigma_s * z - p.offset_tau_s * math.log1p(-u)
    return round(float(min(max(x, -p.max_overlap_s), p.max_gap_s)), 4)


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


#: Fewest transitions a fit accepts.
MIN_FIT_TRANSITIONS = 20


def fit_offsets(offsets: Sequence[float], base: Optional[TimingConfig] = None) -> tuple[TimingConfig, dict[str, Any]]:
    """The ex-Gaussian (mu, sigma, tau; maximum likelihood, scipy ``exponnorm``) of measured offsets, on top of ``base``.

    The clip limits widen to the largest gap and overlap seen. ValueError with fewer than ``MIN_FIT_TRANSITIONS``."""
    from scipy.stats import exponnorm

    base = base or TimingConfig()
    x = np.asarray([o for o in offsets if o is not None and math.isfinite(o)], dtype=np.float64)
    if len(x) < MIN_FIT_TRANSITIONS:
        raise ValueError(f"only {len(x)} speaker changes to fit (need >= {MIN_FIT_TRANSITIONS}); give more conversations")
    k, loc, scale = exponnorm.fit(x)
    fitted = dataclasses.replace(
        base, offset_mu_s=round(float(loc), 4), offset_sigma_s=round(float(scale), 4), offset_tau_s=round(float(k * scale), 4),
        max_gap_s=round(max(float(x.max()), base.max_gap_s), 4), max_overlap_s=round(max(float(-x.min()), base.max_overlap_s), 4))
    info = {"transitions": int(len(x)), "overlap_share": round(float(np.mean(x < 0)), 4), "median_s": round(float(np.median(x)), 4)}
    return fitted, info


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
