"""Property tests of duplex assembly on synthetic turns with known word timings (no Ray, no TTS).

Each "word" is a burst of non-zero noise and pauses are exact zeros, so speech boundaries are known to
the sample and the energy VAD measures them exactly."""

from __future__ import annotations

import numpy as np
import pytest

from duplexgen.augment import AugmentConfig, assemble, plan_conversation
from duplexgen.core.timing import eos_frame_ok, estimate_tokens, frame_of
from duplexgen.augment.layout import to_samples
from duplexgen.core.vad import speech_intervals
from duplexgen.core.records import AGENT, USER, Conversation, RejectError, RenderedTurn, Turn, Word

SR = {USER: 16000, AGENT: 22050}


def synth_audio(words_text: list[str], sr: int, rng: np.random.Generator) -> tuple[np.ndarray, list[Word]]:
    """Word bursts (never exactly zero) separated by silent pauses; audio starts and ends with speech."""
    chunks, words, t = [], [], 0
    for k, w in enumerate(words_text):
        n = int(rng.uniform(0.12, 0.45) * sr)
        chunks.append((rng.choice([-1.0, 1.0], n) * rng.uniform(0.2, 0.5, n)).astype(np.float32))
        words.append(Word(w, t / sr, (t + n) / sr))
        t += n
        if k < len(words_text) - 1:
            p = int(rng.uniform(0.04, 0.2) * sr)
            chunks.append(np.zeros(p, np.float32))
            t += p
    return np.concatenate(chunks), words


def render(turn: Turn, rng: np.random.Generator) -> RenderedTurn:
    audio, words = synth_audio(turn.text.split(), SR[turn.role], rng)
    return RenderedTurn(turn.role, turn.text, audio, SR[turn.role], voice="synthetic", words=words,
                        timing_source="synthetic", kind=turn.kind)


def random_conv(rng: np.random.Generator, n_pairs: int, seed: int) -> Conversation:
    turns = []
    for p in range(n_pairs):
        turns.append(Turn(USER, " ".join(f"q{p}w{k}" for k in range(int(rng.integers(1, 8))))))
        turns.append(Turn(AGENT, " ".join(f"a{p}w{k}" for k in range(int(rng.integers(1, 25))))))
    return Conversation(id=f"c{seed}", source="synthetic", recipe="test", row_id=str(seed), seed=seed, turns=turns)


def build(seed: int, cfg: AugmentConfig):
    rng = np.random.default_rng(seed)
    conv = plan_conversation(random_conv(rng, int(rng.integers(1, 5)), seed), cfg, seed)
    rendered = [render(t, rng) for t in conv.turns]
    return conv, rendered, assemble(conv, rendered, cfg, seed)


def seg_samples(seg, sr):
    return to_samples(seg.start, sr), to_samples(seg.end, sr)


BARGE_HEAVY = AugmentConfig.from_dict({"barge_in": {"prob": 0.8, "max_per_conversation": 3}, "backchannel": {"prob": 0.5}})


def test_streams_same_length_start_with_user_and_end_with_trailing_gap():
    for seed in range(15):
        _, _, out = build(seed, BARGE_HEAVY)
        assert len(out.user_audio) * 22050 == len(out.agent_audio) * 16000
        first = min(out.segments, key=lambda s: s.start)
        assert first.speaker == USER and first.start == 0.0
        last_end = max(s.end for s in out.segments)
        assert out.custom["trailing_gap"] >= 0.64 - 1e-9
        assert out.duration - last_end == pytest.approx(out.custom["trailing_gap"], abs=1e-6)
        assert not np.any(out.agent_audio[: to_samples(first.end, 22050)])


def test_gaps_exact_to_the_sample_and_supervisions_are_speech_boundaries():
    checked = 0
    for seed in range(30):
        conv, rendered, out = build(seed, BARGE_HEAVY)
        main = [s for s in out.segments if s.kind != "backchannel"]
        cut_turns = {b["agent_turn"] for b in out.custom["barge_in"]}
        for a, b in zip(main, main[1:]):
            if a.turn_index in cut_turns:
                continue
            gap = conv.meta["plan"]["gaps"][a.turn_index]
            if b.speaker == AGENT and any(x["user_turn"] == a.turn_index for x in out.custom["barge_in"]):
                gap = max(gap, b.start - a.end)  # an answer after a barge-in also waits for the cut audio
            # Measured on the streams: last sample of turn a, first sample of turn b.
            a_end = to_samples(a.start, SR[a.speaker]) + len(rendered[a.turn_index].audio)
            measured = to_samples(b.start, SR[b.speaker]) / SR[b.speaker] - a_end / SR[a.speaker]
            assert abs(measured - gap) <= 1 / 16000 + 1e-9, (seed, a, b)
            checked += 1
        # Each uncut segment holds exactly its rendered audio at the stream position.
        for s in out.segments:
            if s.turn_index in cut_turns:
                continue
            stream = out.user_audio if s.speaker == USER else out.agent_audio
            i0, _ = seg_samples(s, SR[s.speaker])
            audio = rendered[s.turn_index].audio
            np.testing.assert_array_equal(stream[i0 : i0 + len(audio)], audio)
            assert not np.any(stream[i0 - 1 : i0]) and not np.any(stream[i0 + len(audio) : i0 + len(audio) + 1])
            assert s.duration == pytest.approx(len(audio) / SR[s.speaker], abs=1e-9)
    assert checked > 50


def test_barge_in_keeps_exactly_kept_s_then_silence_and_text_is_spoken_words():
    n_barge = 0
    for seed in range(40):
        conv, rendered, out = build(seed, BARGE_HEAVY)
        by_turn = {s.turn_index: s for s in out.segments}
        for b in out.custom["barge_in"]:
            n_barge += 1
            i, j = b["agent_turn"], b["user_turn"]
            seg, user_seg, r = by_turn[i], by_turn[j], rendered[i]
            a0 = to_samples(seg.start, 22050)
            end = to_samples(seg.end, 22050)
            cut = to_samples(b["t_cut"], 22050)
            assert end - cut == to_samples(0.64, 22050) == 14112  # exactly 0.64 s of agent audio after the cut
            assert b["kept"] == 0.64 and seg.end == pytest.approx(b["t_cut"] + 0.64, abs=1e-6)
            # Audio up to the fade is the original turn; the agent is silent from the supervision end on.
            fade = int(round(0.005 * 22050))
            np.testing.assert_array_equal(out.agent_audio[a0 : end - fade], r.audio[: end - fade - a0])
            nxt = min((s.start for s in out.segments if s.speaker == AGENT and s.start > seg.start), default=out.duration)
            assert not np.any(out.agent_audio[end : to_samples(nxt, 22050)])
            assert out.agent_audio[end - 1] != 0  # the fade ends just above zero: the audio ends at `end`
            # The user starts at t_cut, inside the agent turn.
            assert user_seg.start == pytest.approx(b["t_cut"], abs=1e-9) and seg.start < user_seg.start < seg.end
            # Text = the words whose end <= t_cut + kept (turn-relative), and NeMo's EOS rule holds.
            spoken = [w.text for w in r.words if w.end <= seg.end - a0 / 22050 + 1e-9]
            assert seg.text == " ".join(spoken) == b["spoken_text"] and 0 < len(spoken) < len(r.words)
            assert eos_frame_ok(seg.start, seg.end, estimate_tokens(seg.text))
            last_sound = (a0 + np.flatnonzero(out.agent_audio[a0:end])[-1] + 1) / 22050
            assert frame_of(seg.end) == frame_of(last_sound)
        for s in out.custom["barge_in_skipped"]:
            assert s["reason"]
    assert n_barge >= 20


def test_barge_in_timing_measured_with_vad_within_one_frame():
    measured = 0
    for seed in range(12):
        _, _, out = build(seed, BARGE_HEAVY)
        agent_vad = speech_intervals(out.agent_audio, 22050, min_silence_s=0.1)
        user_vad = speech_intervals(out.user_audio, 16000, min_silence_s=0.3)
        for b in out.custom["barge_in"]:
            # The user starts speaking at t_cut; the agent's speech stops at t_cut + kept.
            assert min(abs(s - b["t_cut"]) for s, _ in user_vad) <= 0.08
            assert min(abs(e - b["end"]) for _, e in agent_vad) <= 0.08
            measured += 1
        # Normal turn-taking: each gap measured from VAD offsets/onsets matches the planned gap.
        main = [s for s in out.segments if s.kind != "backchannel"]
        cut = {b["agent_turn"] for b in out.custom["barge_in"]}
        for a, b in zip(main, main[1:]):
            if a.turn_index in cut or a.speaker == b.speaker:
                continue
            vad_a = agent_vad if a.speaker == AGENT else user_vad
            vad_b = agent_vad if b.speaker == AGENT else user_vad
            offset = min((e for _, e in vad_a), key=lambda e: abs(e - a.end))
            onset = min((st for st, _ in vad_b), key=lambda st: abs(st - b.start))
            assert abs((onset - offset) - (b.start - a.end)) <= 0.08
            measured += 1
    assert measured >= 25


def test_backchannels_never_change_the_agent_stream():
    cfg_on = AugmentConfig.from_dict({"barge_in": {"prob": 0.3}, "backchannel": {"prob": 1.0}})
    cfg_off = AugmentConfig.from_dict({"barge_in": {"prob": 0.3}, "backchannel": {"prob": 1.0, "enabled": False}})
    placed = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        conv = plan_conversation(random_conv(rng, 3, seed), cfg_on, seed)
        rendered = [render(t, rng) for t in conv.turns]
        on, off = assemble(conv, rendered, cfg_on, seed), assemble(conv, rendered, cfg_off, seed)
        np.testing.assert_array_equal(on.agent_audio, off.agent_audio)
        assert [(s.start, s.end, s.text) for s in on.segments if s.speaker == AGENT] == [
            (s.start, s.end, s.text) for s in off.segments if s.speaker == AGENT]
        diff = on.user_audio - off.user_audio
        for bc in on.custom["backchannels"]:
            placed += 1
            seg = next(s for s in on.segments if s.turn_index == bc["turn"])
            agent = next(s for s in on.segments if s.turn_index == bc["agent_turn"])
            assert seg.kind == "backchannel" and seg.speaker == USER
            assert agent.start < seg.start and seg.end < agent.end  # inside the agent turn
            i0 = to_samples(seg.start, 16000)
            np.testing.assert_allclose(diff[i0 : i0 + len(rendered[bc["turn"]].audio)], rendered[bc["turn"]].audio)
            diff[i0 : i0 + len(rendered[bc["turn"]].audio)] = 0
        assert not np.any(diff)  # the backchannels are the only difference on the user stream
    assert placed >= 15


def test_same_seed_same_output_and_seed_changes_choices():
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 0.5}, "user_stream": {"enabled": True, "gain_prob": 1, "noise_prob": 1}})
    _, _, a = build(3, cfg)
    _, _, b = build(3, cfg)
    np.testing.assert_array_equal(a.user_audio, b.user_audio)
    np.testing.assert_array_equal(a.agent_audio, b.agent_audio)
    assert a.custom == b.custom
    rng = np.random.default_rng(0)
    conv = random_conv(rng, 4, 0)
    plans = {str(plan_conversation(conv, cfg, s).meta["plan"]["barge_in"]) for s in range(8)}
    assert len(plans) > 1


def test_gap_jitter_and_mixture_are_recorded_and_applied():
    cfg = AugmentConfig.from_dict({"gap": {"distribution": "uniform", "jitter_s": 0.2}, "barge_in": {"enabled": False},
                                   "backchannel": {"enabled": False}})
    conv, rendered, out = build(5, cfg)
    gaps = out.custom["gaps"]
    assert len(set(gaps)) > 1 and all(0.44 - 1e-9 <= g <= 0.84 + 1e-9 for g in gaps)
    assert out.custom["gap_distribution"]["distribution"] == "uniform"
    segs = out.segments
    for a, b, g in zip(segs, segs[1:], gaps):
        assert b.start - a.end == pytest.approx(g, abs=1e-9)
    mix = AugmentConfig.from_dict({"gap": {"distribution": "mixture", "mixture": [[0.32, 1], [1.0, 1]]}})
    drawn = plan_conversation(random_conv(np.random.default_rng(1), 4, 1), mix, 1).meta["plan"]["gaps"]
    assert set(g for g in drawn if g is not None) <= {0.32, 1.0} and len(set(drawn) - {None}) == 2


def test_frame_rule_skips_barge_in_with_a_real_token_counter():
    # A token counter that says every word is 20 tokens: no truncated turn can hold its text.
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 1.0, "interruption": "phrase"}, "backchannel": {"enabled": False}})
    rng = np.random.default_rng(2)
    conv = plan_conversation(random_conv(rng, 2, 2), cfg, 2)
    rendered = [render(t, rng) for t in conv.turns]
    out = assemble(conv, rendered, cfg, 2, count_tokens=lambda s: 20 * len(s.split()))
    assert out.custom["barge_in"] == [] and out.custom["barge_in_skipped"]
    # A skipped phrase interruption drops its phrase and follow-up turns from the audio.
    assert not any(s.kind == "interruption" for s in out.segments)
    assert set(out.custom["dropped_turns"]) == {t for b in conv.meta["plan"]["barge_in"] for t in (b["user_turn"], b["followup_turn"])}
    assert all(s.text == rendered[s.turn_index].text for s in out.segments)


def test_bad_inputs_are_rejected():
    cfg = AugmentConfig()
    rng = np.random.default_rng(0)
    conv = plan_conversation(random_conv(rng, 2, 0), cfg, 0)
    rendered = [render(t, rng) for t in conv.turns]
    with pytest.raises(RejectError, match="rendered turns"):
        assemble(conv, rendered[:-1], cfg, 0)
    bad = list(rendered)
    bad[0] = RenderedTurn(USER, "x", rendered[0].audio, 22050, "v")
    with pytest.raises(RejectError, match="16000"):
        assemble(conv, bad, cfg, 0)


def test_spoken_text_is_an_exact_prefix_ending_on_a_word():
    from duplexgen.augment.bargein import spoken_text

    text = "Black and white are not part of the color wheel. In painting, black darkens"
    # The kept text is the text itself up to the n-th word and its punctuation: never rebuilt from timed words.
    assert spoken_text(text, 10) == "Black and white are not part of the color wheel."
    assert spoken_text(text, 12) == "Black and white are not part of the color wheel. In painting,"
    assert spoken_text("Okay, I'll stop there.", 2) == "Okay, I'll"
    with pytest.raises(ValueError, match="has 4 words"):
        spoken_text("Okay, I'll stop there.", 5)


def test_barge_in_never_cuts_inside_words_spoken_as_one_nor_on_estimates():
    from duplexgen.augment.bargein import choose_cut

    # "of the" spoken as one espeak word: the boundary between them was split, not measured.
    words = [Word("one", 0.0, 0.4), Word("of", 0.4, 0.6, joined=True), Word("the", 0.6, 0.7), Word("best", 0.7, 1.2), Word("ones", 1.2, 1.6)]
    cuts = {choose_cut(words, 1.6, frac, 0.1, 22050, 0.0).n_words for frac in np.linspace(0, 1, 21)}
    assert 2 not in cuts and cuts <= {1, 3, 4}
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 1.0}, "backchannel": {"enabled": False}})
    for seed in range(6):
        conv, rendered, out = build(seed, cfg)
        if not out.custom["barge_in"]:
            continue
        estimated = [RenderedTurn(r.role, r.text, r.audio, r.sample_rate, r.voice, r.words, "estimate", r.kind) for r in rendered]
        again = assemble(conv, estimated, cfg, seed)
        assert not again.custom["barge_in"]
        assert len([s for s in again.custom["barge_in_skipped"] if s["reason"].startswith("word boundaries are estimated")]) >= len(out.custom["barge_in"])
        break
    else:
        pytest.fail("no conversation with a barge-in")
