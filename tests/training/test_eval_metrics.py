"""Text metrics, and the scripted events of a cut (``core.events.cut_events``) on a synthetic timeline.

The behavioural metrics are tested in test_fdbench_metrics.py."""

from __future__ import annotations

import pytest
from lhotse import MonoCut, SupervisionSegment

from duplexgen.core.events import cut_events
from duplexgen.training.eval.metrics import bleu, wer


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
    # Without custom.barge_in the interruption is found from the overlap of supervisions.
    cut2 = MonoCut(id="c2", start=0, duration=9.64, channel=0, supervisions=sups, custom={})
    ev2 = cut_events(cut2)
    assert ev2.interruptions == [4.0] and ev2.reference_kept == pytest.approx([0.64])
    assert ev2.backchannels == [(7.0, 7.3)]
