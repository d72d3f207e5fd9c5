"""Assembly on real espeak-ng speech: barge-in and turn-taking timing measured with Silero-VAD."""

from __future__ import annotations

import numpy as np
import pytest

from duplexgen.augment import AugmentConfig, assemble, plan_conversation
from duplexgen.core.records import AGENT, USER, Conversation, Turn

import duplexgen.tts.espeak as espeak
import duplexgen.tts.render as render_mod
from duplexgen.core.vad import silero_intervals# noqa: E402
from duplexgen.tts.base import Voice  # noqa: E402

TURNS = [
    (USER, "What are the three primary colors?"),
    (AGENT, "The three primary colors are red, yellow and blue. Mixing two of them gives you a secondary color, "
            "for example red and yellow make orange, and blue and yellow make green."),
    (USER, "And what about black and white?"),
    (AGENT, "Black and white are not part of the color wheel. In painting, black darkens a color and white lightens it, "
            "which is how artists make shades and tints."),
]


def test_espeak_conversation_barge_in_timing_with_silero():
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 1.0, "position_weights": [0, 1, 0], "interruption": "mixed"},
                                   "backchannel": {"enabled": False}})
    conv = Conversation("espeak-demo", "test", "test", "0", 11, [Turn(r, t) for r, t in TURNS])
    planned = plan_conversation(conv, cfg, 11)
    renderer = render_mod.Renderer(espeak.EspeakBackend())
    voices = {USER: Voice.make("en-us+f2", "espeak"), AGENT: Voice.make("en-us+m3", "espeak")}
    rendered = [renderer.render(t.text, voices[t.role], t.role, kind=t.kind) for t in planned.turns]
    out = assemble(planned, rendered, cfg, 11)

    assert len(out.custom["barge_in"]) == 2, out.custom["barge_in_skipped"]
    user_vad = silero_intervals(out.user_audio, 16000, min_silence_ms=300)
    agent_vad = silero_intervals(out.agent_audio, 22050, min_silence_ms=300)
    for b in out.custom["barge_in"]:
        seg = next(s for s in out.segments if s.turn_index == b["agent_turn"])
        # The spoken text is a strict prefix of the full answer, ending on a whole word.
        assert b["full_text"].startswith(seg.text) and len(seg.text) < len(b["full_text"])
        assert seg.end - b["t_cut"] == pytest.approx(0.64, abs=1e-6)
        # Measured: the user starts at t_cut and the agent stops at t_cut + 0.64, within one 80 ms frame.
        assert min(abs(s - b["t_cut"]) for s, _ in user_vad) <= 0.08
        assert min(abs(e - b["end"]) for _, e in agent_vad) <= 0.08
    # Turn-taking gaps measured from the audio match the layout within one frame.
    cut = {b["agent_turn"] for b in out.custom["barge_in"]}
    main = [s for s in out.segments if s.kind != "backchannel"]
    measured = 0
    for a, b in zip(main, main[1:]):
        if a.turn_index in cut or a.speaker == b.speaker:
            continue
        offset = min((e for _, e in (user_vad if a.speaker == USER else agent_vad)), key=lambda e: abs(e - a.end))
        onset = min((s for s, _ in (user_vad if b.speaker == USER else agent_vad)), key=lambda s: abs(s - b.start))
        assert abs((onset - offset) - (b.start - a.end)) <= 0.08, (a, b)
        measured += 1
    assert measured >= 2
    assert not np.any(out.agent_audio[: int(main[0].end * 22050)])
