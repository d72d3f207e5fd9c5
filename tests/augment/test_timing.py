"""Timing profiles (augment.timing): the natural profile meets its published anchors, the samplers and the fit are
exact, backchannel slots never start inside a word, the paper plan is untouched, and config mistakes name the key."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from duplexgen.augment import AugmentConfig, plan_conversation
from duplexgen.augment.config import TimingConfig
from duplexgen.augment.timing import (
    backchannel_slots,
    clip_slots,
    compare_offsets,
    draw_offsets,
    draw_stop_delays,
    fit_offsets,
    pick_in_slots,
    timing_params,
)
from duplexgen.core.records import AGENT, USER, Conversation, Turn

NATURAL = AugmentConfig.from_dict({"timing": "natural"})


def conv(n_pairs: int = 6, seed: int = 0) -> Conversation:
    turns = []
    for p in range(n_pairs):
        turns += [Turn(USER, f"Question number {p}?"), Turn(AGENT, f"Here is a long answer number {p}, with a pause in it.")]
    return Conversation(id="c", source="s", recipe="r", row_id="0", seed=seed, turns=turns)


def test_natural_profile_meets_the_published_anchors():
    x = draw_offsets(timing_params(NATURAL), 40000, seed=3)
    # Heldner & Edlund 2010: about 40 % of between-speaker intervals are overlaps.
    assert abs(np.mean(x < 0) - 0.40) < 0.01
    # Stivers et al. 2009 / Levinson & Torreira 2015: ONE mode, in 0..200 ms ("of the order of 200 ms").
    hist, edges = np.histogram(x, bins=np.arange(-1.0, 3.0001, 0.05))
    assert 0.0 <= edges[np.argmax(hist)] < 0.2
    # Unimodal (a two-part mixture of log-normals, the first version, had a notch at 0 and a second mode at -0.15 s):
    # 100 ms bins of 200k draws, without the clip atoms at both ends, rise to the mode and fall after it.
    y = draw_offsets(timing_params(NATURAL), 200000, seed=4)
    inner, _ = np.histogram(y[(y > -1.0) & (y < 3.0)], bins=np.arange(-0.95, 2.95, 0.1))
    peak, tol = int(np.argmax(inner)), 0.01 * inner.max()
    assert np.all(np.diff(inner[: peak + 1]) > -tol) and np.all(np.diff(inner[peak:]) < tol), inner
    assert 0.0 < np.median(x) < 0.2
    # Stivers et al. 2009: language means from 7 ms (Japanese) to 469 ms (Danish).
    assert 0.007 <= np.mean(x) <= 0.469
    # Schegloff 2000 + Greenberg et al. 2003: the interrupted speaker stops within one or two syllables (50-400 ms).
    stop = draw_stop_delays(timing_params(NATURAL), 20000, seed=3)
    assert 0.2 <= np.median(stop) <= 0.4 and np.percentile(stop, 90) <= 0.8 and stop.min() >= 0.12


def test_draws_are_deterministic_and_clipped():
    p = dataclasses.replace(TimingConfig(), max_gap_s=0.5, max_overlap_s=0.2)
    a, b = draw_offsets(p, 2000, seed=1), draw_offsets(p, 2000, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, draw_offsets(p, 2000, seed=2))
    assert a.max() <= 0.5 and a.min() >= -0.2 and np.any(a == 0.5) and np.any(a == -0.2)


def test_fit_recovers_the_parameters_it_was_drawn_with():
    truth = dataclasses.replace(TimingConfig(), offset_mu_s=0.1, offset_sigma_s=0.2, offset_tau_s=0.45, max_gap_s=10.0, max_overlap_s=10.0)
    drawn = draw_offsets(truth, 6000, seed=4)
    fitted, info = fit_offsets(drawn)
    assert info["transitions"] == 6000 and info["overlap_share"] == pytest.approx(np.mean(drawn < 0), abs=1e-4)
    assert fitted.offset_mu_s == pytest.approx(0.1, abs=0.02) and fitted.offset_sigma_s == pytest.approx(0.2, abs=0.02)
    assert fitted.offset_tau_s == pytest.approx(0.45, abs=0.03)
    # The fitted profile's own draws pass the check the audit applies; the natural profile's do not.
    sample = draw_offsets(truth, 800, seed=5)
    assert compare_offsets(sample, fitted)["ks_p"] > 0.01
    assert compare_offsets(sample, TimingConfig())["ks_p"] < 0.01
    with pytest.raises(ValueError, match="only 5 speaker changes"):
        fit_offsets([0.2, -0.1, 0.3, 0.4, 0.5])


def words_with_pauses(rng: np.random.Generator, n: int):
    words, t = [], 0.0
    for k in range(n):
        d = float(rng.uniform(0.1, 0.5))
        text = f"w{k}" + ("," if rng.random() < 0.25 else "")
        words.append(SimpleNamespace(text=text, start=t, end=t + d))
        t += d + (float(rng.uniform(0.1, 0.35)) if rng.random() < 0.3 else float(rng.uniform(0.0, 0.01)))
    return words, words[-1].end


def test_backchannel_slots_start_after_a_phrase_end_or_pause_never_inside_a_word():
    rng = np.random.default_rng(0)
    p = TimingConfig()
    checked = 0
    for _ in range(200):
        words, dur = words_with_pauses(rng, int(rng.integers(3, 25)))
        slots = backchannel_slots(words, dur, 0.4, p, margin_s=0.24)
        for a, b in slots:
            k = next(i for i, w in enumerate(words) if w.end == a)
            assert words[k].text.endswith(",") or words[k + 1].start - a >= p.backchannel_min_pause_s
            assert a >= p.backchannel_min_speech_s and b <= words[k + 1].start and b + 0.4 <= dur - 0.24 + 1e-9
        for u in rng.random((20, 2)):
            t = pick_in_slots(clip_slots(slots, 0.3, dur), u[0], u[1])
            if t is None:
                continue
            checked += 1
            assert not any(w.start < t < w.end for w in words), (t, words)
    assert checked > 1000
    assert pick_in_slots([], 0.5, 0.5) is None and clip_slots([(1.0, 2.0)], 2.5, 3.0) == []


def test_paper_plan_is_unchanged_and_natural_plan_records_its_draws():
    c = conv(6)
    paper = plan_conversation(c, AugmentConfig(), seed=9).meta["plan"]
    assert set(paper) == {"seed", "gaps", "gap_distribution", "barge_in", "backchannels"}
    assert all(g == 0.64 for g in paper["gaps"] if g is not None)
    assert all(set(b) == {"turn", "agent_turn", "frac"} for b in paper["backchannels"])
    assert all("kept" not in b for b in paper["barge_in"])

    cfg = AugmentConfig.from_dict({"timing": "natural", "barge_in": {"prob": 0.5}})
    planned = plan_conversation(c, cfg, seed=9)
    plan = planned.meta["plan"]
    assert plan["timing"]["profile"] == "natural" and plan["timing"]["params"] == TimingConfig().params()
    main = [k for k, t in enumerate(planned.turns) if t.kind != "backchannel"]
    assert plan["gaps"][main[-1]] == cfg.gap.s  # the trailing silence stays the paper's
    offsets = [plan["gaps"][k] for k in main[:-1]]
    assert all(g is not None for g in offsets) and any(g < 0 for g in offsets) and any(g > 0 for g in offsets)
    assert all(plan["gaps"][k] is None for k, t in enumerate(planned.turns) if t.kind == "backchannel")
    assert plan["barge_in"] and all(0.05 <= b["frac"] <= 0.95 and 0.12 <= b["kept"] <= 1.0 for b in plan["barge_in"])
    assert all(set(b) == {"turn", "agent_turn", "u_pick", "u_pause"} for b in plan["backchannels"])
    assert plan_conversation(c, cfg, seed=9).meta["plan"] == plan  # deterministic in the seed
    assert plan_conversation(c, cfg, seed=10).meta["plan"]["gaps"] != plan["gaps"]


def test_custom_profile_takes_its_numbers_and_config_mistakes_name_the_key():
    cfg = AugmentConfig.from_dict({"timing": "custom", "timing_custom": {"offset_mu_s": 0.3, "offset_tau_s": 0.5}})
    p = timing_params(cfg)
    assert p.offset_mu_s == 0.3 and p.offset_tau_s == 0.5 and p.offset_sigma_s == TimingConfig().offset_sigma_s
    assert timing_params(AugmentConfig()) is None
    with pytest.raises(ValueError, match="augment.timing must be one of"):
        AugmentConfig.from_dict({"timing": "human"})
    with pytest.raises(ValueError, match="set augment.timing=custom"):
        AugmentConfig.from_dict({"timing": "natural", "timing_custom": {"offset_mu_s": 0.1}})
    with pytest.raises(ValueError, match="timing_custom.offset_sigma_s must be > 0"):
        AugmentConfig.from_dict({"timing": "custom", "timing_custom": {"offset_sigma_s": 0.0}})
    with pytest.raises(ValueError, match="augment.timing_custom: unknown key"):
        AugmentConfig.from_dict({"timing": "custom", "timing_custom": {"overlap": 0.1}})
    unresolved = AugmentConfig.from_dict({"timing": "custom", "timing_custom": {"estimate_from": "real.jsonl"}})
    with pytest.raises(ValueError, match="resolve_timing"):
        timing_params(unresolved)
