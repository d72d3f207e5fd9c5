"""Full-Duplex-Bench-style metrics on synthetic timelines with known answers (pure functions, no audio)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from duplexgen.training.eval.fdbench import (
    ScoreConfig,
    distribution,
    interruption,
    is_backchannel,
    jsd,
    model_backchannels,
    overlap_event,
    pause_handling,
    score_case,
    summarize,
    turn_taking,
    utterances,
    window_counts,
)


def test_utterances_join_short_pauses_and_the_backchannel_rule():
    u = utterances([(1.0, 1.3), (1.6, 2.5), (3.5, 3.9)], gap_s=0.5)
    assert u == [(1.0, 2.5), (3.5, 3.9)]
    assert not is_backchannel(u[0]) and is_backchannel(u[1])  # 0.4 s: shorter than 1 s
    # With an ASR word count: fewer than two words AND shorter than 1 s (FDB v1 Sec. III).
    assert is_backchannel(u[1], words=1) and not is_backchannel(u[1], words=2)
    assert not is_backchannel((0.0, 1.0))  # exactly 1 s is not "shorter than 1 s"


def test_turn_taking_latency_backchannel_silence_and_talking_over():
    r = turn_taking(2.0, 8.0, [(2.64, 6.0)])
    assert r["to"] == 1 and r["latency"] == pytest.approx(0.64) and r["onset"] == pytest.approx(2.64)
    assert turn_taking(2.0, 8.0, []) == {"to": 0, "latency": None, "onset": None, "reason": "no_takeover"}
    # A backchannel after the end is not a take-over; the answer 2 s later is.
    r = turn_taking(2.0, 8.0, [(2.2, 2.5), (4.0, 6.0)])
    assert r["to"] == 1 and r["latency"] == pytest.approx(2.0)
    # Talking since before the user's end: no new take-over.
    assert turn_taking(2.0, 8.0, [(0.5, 7.0)])["reason"] == "talking_over_end"
    # A VAD onset 50 ms early is still the answer (latency -0.05); 200 ms early is not.
    assert turn_taking(2.0, 8.0, [(1.95, 4.0)])["latency"] == pytest.approx(-0.05)
    assert turn_taking(2.0, 8.0, [(1.8, 4.0)])["to"] == 0
    # An answer after the case end does not count.
    assert turn_taking(2.0, 3.0, [(3.5, 6.0)])["to"] == 0


def test_pause_handling_takeover_in_the_pause_over_the_user_and_backchannels():
    pause, end = (3.0, 3.8), 5.0
    assert pause_handling(pause, end, [(5.64, 8.0)])["to"] == 0       # answers after the turn: right
    assert pause_handling(pause, end, [(3.3, 6.0)])["reason"] == "spoke_in_pause"
    assert pause_handling(pause, end, [(3.3, 3.6)])["to"] == 0        # a backchannel in the pause is fine
    assert pause_handling(pause, end, [(4.2, 6.0)])["reason"] == "spoke_over_user"
    assert pause_handling(pause, end, [(0.0, 10.0)])["reason"] == "talking_already"
    assert pause_handling(pause, end, [(4.95, 7.0)])["to"] == 0       # onset within the VAD slack of the turn end


def test_interruption_reference_never_stopping_silent_and_late():
    # The model talks 1..4.64 over a user who interrupts at 4.0 (until 5.0), then answers at 5.64.
    r = interruption(4.0, 5.0, 9.0, [(1.0, 4.64), (5.64, 8.0)])
    assert r["to"] == 1 and r["success"] is True and r["reason"] == "yielded_and_answered"
    assert r["stop_latency"] == pytest.approx(0.64) and r["latency"] == pytest.approx(0.64)
    never = interruption(4.0, 5.0, 9.0, [(0.0, 9.0)])
    assert never["to"] == 0 and never["success"] is False and never["stop_latency"] == pytest.approx(5.0)
    assert never["reason"] == "kept_talking"
    silent = interruption(4.0, 5.0, 9.0, [])
    assert silent["to"] == 0 and silent["success"] is None and silent["speaking_at_onset"] is False
    # Stops 3 s after the onset, then answers: it took the turn (TO = 1) but did not yield in time.
    late = interruption(4.0, 5.0, 12.0, [(1.0, 7.0), (7.64, 10.0)])
    assert late["to"] == 1 and late["success"] is False and late["reason"] == "kept_talking"
    # Stops, but only a short "okay" afterwards (< 1 s: a backchannel by FDB's rule): yielded, no take-over.
    quiet = interruption(4.0, 5.0, 9.0, [(1.0, 4.3), (5.5, 5.8)])
    assert quiet["success"] is True and quiet["to"] == 0 and quiet["reason"] == "yielded_no_answer"
    # Speech that ended 0.2 s before the onset counts as interrupted (stop latency 0).
    assert interruption(4.0, 5.0, 9.0, [(1.0, 3.8), (5.6, 8.0)])["stop_latency"] == 0.0
    # Threshold is configurable and inclusive.
    assert interruption(4.0, 5.0, 9.0, [(1.0, 4.64), (5.64, 8.0)], stop_max_s=0.64)["success"] is True
    assert interruption(4.0, 5.0, 9.0, [(1.0, 4.64), (5.64, 8.0)], stop_max_s=0.5)["success"] is False


def test_overlap_event_keeps_talking_stops_and_not_scored():
    bc = (3.0, 3.4)
    assert overlap_event(bc, 8.0, [(1.0, 8.0)])["reason"] == "kept_talking"
    r = overlap_event(bc, 8.0, [(1.0, 3.3), (4.0, 5.0)])
    assert r["to"] == 1 and r["stop_latency"] == pytest.approx(0.3) and r["latency"] == pytest.approx(0.6)
    assert overlap_event(bc, 4.0, [(1.0, 3.3)])["reason"] == "reference_ends_first"
    assert overlap_event(bc, 8.0, [(5.0, 8.0)])["reason"] == "model_silent_at_onset"
    # Still talking exactly continue_s after the event: kept the floor.
    assert overlap_event(bc, 8.0, [(1.0, 4.4)])["to"] == 0
    assert overlap_event(bc, 8.0, [(1.0, 4.39)])["to"] == 1


def test_jsd_frequency_and_model_backchannels():
    q = distribution(window_counts([1.05], 2.0))
    assert len(q) == 10 and q[5] == 1.0
    assert jsd(q, q) == 0.0
    assert jsd(distribution(window_counts([0.1], 2.0)), q) == pytest.approx(1.0)  # disjoint: 1 bit
    uniform = distribution(np.zeros(10))  # a silent model (FDB v1 Sec. III-B.2)
    m = 0.5 * (uniform + q)
    expected = 0.5 * sum(u * math.log2(u / x) for u, x in zip(uniform, m)) + 0.5 * math.log2(1 / m[5])
    assert jsd(uniform, q) == pytest.approx(expected)
    assert 0 < jsd(uniform, q) < 1
    # Backchannels while the user speaks: short utterances starting inside a user turn.
    assert model_backchannels([(0.0, 5.0)], [(1.0, 1.4), (3.0, 6.0), (5.5, 5.8)]) == [1.0]


def _labels(task, **kw):
    base = {"task": task, "duration_s": 10.0, "reference": {"agent": [], "onset": None, "stop": None},
            "user_turns": [{"start": 0.3, "end": 3.0, "text": "q", "kind": "turn"}]}
    base.update(kw)
    return base


def test_score_case_dispatches_per_task_and_summarize_aggregates():
    cfg = ScoreConfig()
    tt = score_case(_labels("smooth_turn_taking", event={"start": 3.0, "end": 3.0}, turn_end=3.0), [(3.64, 5.0), (5.3, 6.0)], cfg)
    assert tt["to"] == 1 and tt["latency"] == pytest.approx(0.64) and tt["utterances"] == [[3.64, 6.0]]
    assert tt["model_backchannels"] == [] and tt["listening_s"] == pytest.approx(2.7)
    ph = score_case(_labels("pause_handling", event={"start": 1.5, "end": 2.2}, turn_end=3.7), [(1.7, 1.9), (4.3, 6.0)], cfg)
    assert ph["to"] == 0 and ph["model_backchannels"] == [1.7]
    ui = score_case(_labels("user_interruption", event={"start": 4.0, "end": 5.0}), [(3.5, 4.64), (5.64, 7.0)], cfg)
    assert ui["to"] == 1 and ui["success"]
    bc = score_case(_labels("user_backchannel", event={"start": 4.0, "end": 4.3},
                            reference={"agent": [], "onset": None, "stop": 8.0}), [(3.5, 4.2)], cfg)
    assert bc["to"] == 1 and bc["stop_latency"] == pytest.approx(0.2)
    # JSD only where the labels carry a reference distribution, and only when the model did not take over.
    with_ref = _labels("smooth_turn_taking", event={"start": 3.0, "end": 3.0}, turn_end=3.0, backchannel_reference=[1.5])
    assert score_case(with_ref, [(1.5, 1.8), (3.64, 6.0)], cfg)["jsd"] is None  # took the turn: not computed
    with_ref["turn_end"] = 9.0
    assert score_case(with_ref, [(1.5, 1.8)], cfg)["jsd"] == 0.0

    per = [{"task": "smooth_turn_taking", "result": tt}, {"task": "pause_handling", "result": ph},
           {"task": "user_interruption", "result": ui}, {"task": "user_backchannel", "result": bc},
           {"task": "smooth_turn_taking", "result": turn_taking(3.0, 10.0, [])}]
    s = summarize(per)
    assert s["turn_taking"]["tor"] == 0.5 and s["turn_taking"]["latency_mean_s"] == pytest.approx(0.64)
    assert s["interruption"]["tor"] == 1.0 and s["interruption"]["stop_latency_mean_s"] == pytest.approx(0.64)
    assert s["interruption"]["success_rate"] == 1.0 and s["pause_handling"]["tor"] == 0.0
    assert s["backchannel"]["tor"] == 1.0 and s["backchannel"]["scored"] == 1
    assert s["background_noise"]["tor"] is None and s["background_noise"]["cases"] == 0
    assert s["model_backchannel"]["events"] == 1
