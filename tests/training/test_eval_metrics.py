"""Behavioural metrics on synthetic timelines with known answers (no audio, no model)."""

from __future__ import annotations

import pytest
from lhotse import MonoCut, SupervisionSegment

from duplexgen.core.events import cut_events, merge_intervals
from duplexgen.training.eval.metrics import (
    barge_in,
    bleu,
    false_alarms,
    latency_stats,
    score_cut,
    summarize,
    summarize_false_alarms,
    turn_taking,
    wer,
)


def test_barge_in_agent_that_stops_after_0_4_s_succeeds_with_latency_0_4():
    [r] = barge_in([4.0], [(2.0, 4.4)])
    assert r["success"] is True and r["latency"] == pytest.approx(0.4) and r["stop"] == pytest.approx(4.4)


def test_barge_in_agent_that_keeps_talking_fails():
    [r] = barge_in([4.0], [(2.0, 9.0)])
    assert r["success"] is False and r["reason"] == "kept_talking"
    assert summarize([r])["rate"] == 0.0


def test_barge_in_threshold_is_configurable_and_inclusive():
    agent = [(2.0, 5.5)]
    assert barge_in([4.0], agent)[0]["success"] is True  # exactly 1.5 s
    assert barge_in([4.0], agent, max_latency=1.0)[0]["success"] is False
    assert barge_in([4.0], [(2.0, 5.51)])[0]["success"] is False


def test_barge_in_pause_between_words_is_not_a_stop_and_silent_agent_is_not_scored():
    # The agent pauses 0.1 s right at the interruption, then goes on until 4.6 s: stop is 4.6, not 3.95.
    [r] = barge_in([4.0], [(2.0, 3.95), (4.05, 4.6)], )
    assert r["success"] is True and r["latency"] == pytest.approx(0.6)
    # The interruption falls in a longer pause (between sentences) and the agent goes on over the user.
    [r] = barge_in([4.0], [(2.0, 3.8), (4.1, 4.6)])
    assert r["success"] is True and r["latency"] == pytest.approx(0.6)
    assert barge_in([4.0], [(2.0, 3.8), (4.1, 6.0)])[0]["success"] is False
    # A pause of 0.1 s before the interruption (agent already finishing) counts as latency 0.
    [r] = barge_in([4.0], [(2.0, 3.9)])
    assert r["success"] is True and r["latency"] == 0.0
    # Not speaking at all around the interruption: nothing to interrupt, not scored.
    [r] = barge_in([4.0], [(0.5, 1.0), (6.0, 7.0)])
    assert r["success"] is None and r["reason"] == "agent_silent"
    s = summarize([r, barge_in([4.0], [(2.0, 4.4)])[0]])
    assert s["events"] == 2 and s["scored"] == 1 and s["rate"] == 1.0


def test_turn_taking_success_latency_late_none_and_overlap():
    agent = [(1.84, 3.0), (6.5, 8.0)]
    r = turn_taking([1.2, 4.0, 8.5], agent)
    assert [x["success"] for x in r] == [True, False, False]
    assert r[0]["latency"] == pytest.approx(0.64)
    assert r[1]["reason"] == "late" and r[1]["onset"] == pytest.approx(6.5)  # 2.5 s > 1.6 s
    assert r[2]["reason"] == "none"
    # Starting 1.6 s after is still a success; a custom threshold tightens it.
    assert turn_taking([1.0], [(2.6, 3.0)])[0]["success"] is True
    assert turn_taking([1.0], [(2.6, 3.0)], max_latency=1.0)[0]["success"] is False
    # Already talking over the user's end and never starting anew: not a turn taken.
    r = turn_taking([2.0], [(1.0, 9.0)])[0]
    assert r["success"] is False and r["reason"] == "overlap"
    # A VAD onset a few ms before the user's end still counts (latency slightly negative).
    assert turn_taking([2.0], [(1.95, 3.0)])[0]["success"] is True


def test_false_alarms_backchannel_continue_stop_never_started():
    bc = [(3.0, 3.4)]
    # The agent talks through the backchannel and beyond: no false alarm.
    [r] = false_alarms(bc, [(1.0, 8.0)], prompt_ends=[0.5], reference_ends=[8.0])
    assert r["false_alarm"] is False and r["reason"] == "continued"
    # The agent stops 0.2 s after the backchannel: false alarm.
    [r] = false_alarms(bc, [(1.0, 3.6)], prompt_ends=[0.5], reference_ends=[8.0])
    assert r["false_alarm"] is True and r["reason"] == "stopped"
    # A short pause after the backchannel then going on is fine (speaking again at end + 1 s).
    [r] = false_alarms(bc, [(1.0, 3.6), (4.0, 8.0)], prompt_ends=[0.5], reference_ends=[8.0])
    assert r["false_alarm"] is False
    # Never started its answer (held back by the user's sound): false alarm.
    [r] = false_alarms(bc, [], prompt_ends=[0.5], reference_ends=[8.0])
    assert r["false_alarm"] is True and r["reason"] == "never_started"
    # Already finished a (short) answer before the backchannel: not scored.
    [r] = false_alarms(bc, [(1.0, 2.0)], prompt_ends=[0.5], reference_ends=[8.0])
    assert r["false_alarm"] is None and r["reason"] == "finished_before"
    # The reference answer itself ends before the check time: not scored.
    [r] = false_alarms(bc, [(1.0, 3.8)], prompt_ends=[0.5], reference_ends=[3.8])
    assert r["false_alarm"] is None
    s = summarize_false_alarms(false_alarms(bc * 2, [(1.0, 3.6)], prompt_ends=[0.5, 0.5], reference_ends=[8.0, 8.0]))
    assert s["false_alarms"] == 2 and s["rate"] == 1.0


def test_latency_stats_and_merge():
    s = latency_stats([0.1, 0.2, 0.3, None, 1.0])
    assert s["mean"] == pytest.approx(0.4) and s["median"] == pytest.approx(0.25) and s["max"] == 1.0
    assert s["p90"] == pytest.approx(0.79)
    assert latency_stats([])["mean"] is None
    assert merge_intervals([(3, 4), (0, 1), (1.1, 2)], max_gap=0.2) == [(0, 2), (3, 4)]


def test_bleu_and_wer():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert bleu(["completely different words here"], ["the cat sat on the mat"]) < 10
    assert wer(["The cat sat."], ["the cat sat"]) == 0.0
    assert wer(["the dog sat"], ["the cat sat"]) == pytest.approx(1 / 3, abs=1e-3)


def _sup(i, speaker, start, dur, kind="turn", text="w"):
    return SupervisionSegment(id=f"s{i}", recording_id="r", start=start, duration=dur, text=text, speaker=speaker,
                              custom={"kind": kind} if kind != "turn" else None)


def test_cut_events_from_supervisions_and_custom():
    # user 0-1, agent 1.64-5 (cut at 4.0 by the user's next turn, kept 0.64), user 4.0-5.5, agent 6.14-9,
    # backchannel 7.0-7.3 inside the last agent turn; noise burst 8.0-8.5 on the user stream.
    sups = [_sup(0, "user", 0.0, 1.0), _sup(1, "agent", 1.64, 3.0, text="hello there"), _sup(2, "user", 4.0, 1.5),
            _sup(3, "agent", 6.14, 2.86, text="fine thanks"), _sup(4, "user", 7.0, 0.3, kind="backchannel")]
    custom = {"barge_in": [{"agent_turn": 1, "t_cut": 4.0, "kept": 0.64, "end": 4.64}],
              "backchannels": [{"turn": 4, "agent_turn": 3, "start": 7.0, "end": 7.3}],
              "augmentations": [{"name": "noise", "noise_intervals": [[0.0, 0.5], [8.0, 8.5]]}]}
    cut = MonoCut(id="c", start=0, duration=9.64, channel=0, supervisions=sups, custom=custom)
    ev = cut_events(cut)
    assert ev.user_turn_ends == [1.0, 5.5]
    assert ev.reference_turn_latencies == pytest.approx([0.64, 0.64])
    assert ev.interruptions == [4.0] and ev.reference_kept == [0.64]
    assert ev.backchannels == [(7.0, 7.3)] and ev.noise == [(8.0, 8.5)]  # the burst at 0 s is not over the agent
    assert ev.fa_prompt_ends == [5.5, 5.5] and ev.fa_reference_ends == [9.0, 9.0]
    assert ev.agent_text == "hello there fine thanks"
    # The reference behaviour scores perfectly; an agent that ignores the interruption fails barge-in.
    ref = score_cut(ev, [(1.64, 4.64), (6.14, 9.0)])
    assert all(r["success"] for r in ref["turn_taking"]) and all(r["success"] for r in ref["barge_in"])
    assert ref["barge_in"][0]["latency"] == pytest.approx(0.64)
    assert [r["false_alarm"] for r in ref["false_alarm"]] == [False, None]  # noise ends 0.5 s before the answer
    bad = score_cut(ev, [(1.64, 9.0)])
    assert bad["barge_in"][0]["success"] is False and bad["turn_taking"][1]["reason"] == "overlap"
    # Without custom.barge_in the interruption is found from the overlap of supervisions.
    cut2 = MonoCut(id="c2", start=0, duration=9.64, channel=0, supervisions=sups, custom={})
    ev2 = cut_events(cut2)
    assert ev2.interruptions == [4.0] and ev2.reference_kept == pytest.approx([0.64])
    assert ev2.backchannels == [(7.0, 7.3)]
