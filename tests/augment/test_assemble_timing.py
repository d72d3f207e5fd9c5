"""Natural timing laid out as two streams: overlaps keep both whole turns and stay out of the barge-in records,
the contract holds (no channel overlaps itself, no agent at frame 0, NeMo's token channel intact), barge-ins keep
their drawn stop delay, backchannels start in an agent pause, and the cut's events read overlaps right."""

from __future__ import annotations

import numpy as np
import pytest

from duplexgen.augment import AugmentConfig, assemble, plan_conversation
from duplexgen.core.events import cut_events
from duplexgen.core.records import AGENT, USER, Conversation, RenderedTurn, Turn, Word
from duplexgen.core.schema import check_custom
from duplexgen.core.timing import frame_of


class WordTokenizer:
    """What DuplexS2SDataset needs offline (bos, eos, pad, text_to_ids): one id per word, ~4 tokens/s of speech here."""

    bos, eos, pad, unk_id = 1, 2, 0, 3

    def text_to_ids(self, text: str) -> list[int]:
        return [4 + (sum(map(ord, w)) % 1000) for w in text.split()]


def pause_turn(turn: Turn, rng: np.random.Generator) -> RenderedTurn:
    """Noise-burst words; a word with a comma is followed by a 0.15-0.3 s pause, others by 10 ms."""
    sr = 16000 if turn.role == USER else 22050
    chunks, words, t = [], [], 0
    texts = turn.text.split()
    for k, w in enumerate(texts):
        n = int(rng.uniform(0.15, 0.35) * sr)
        chunks.append((rng.choice([-1.0, 1.0], n) * rng.uniform(0.2, 0.4, n)).astype(np.float32))
        words.append(Word(w.rstrip(","), t / sr, (t + n) / sr))  # a word alignment spells the word, not its comma
        t += n
        if k < len(texts) - 1:
            p = int((rng.uniform(0.15, 0.3) if w.endswith(",") else 0.01) * sr)
            chunks.append(np.zeros(p, np.float32))
            t += p
    return RenderedTurn(turn.role, turn.text, np.concatenate(chunks), sr, "v", words, timing_source="synthetic", kind=turn.kind)


def natural_conversation(seed: int, cfg: AugmentConfig):
    rng = np.random.default_rng(seed)
    turns = []
    for p in range(4):
        turns.append(Turn(USER, " ".join(f"q{p}w{k}" for k in range(int(rng.integers(1, 6))))))
        n = int(rng.integers(3, 16))
        turns.append(Turn(AGENT, " ".join(f"a{p}w{k}" + ("," if k % 4 == 3 else "") for k in range(n))))
    conv = plan_conversation(Conversation(f"n{seed}", "t", "t", str(seed), seed, turns), cfg, seed)
    rendered = [pause_turn(t, rng) for t in conv.turns]
    return conv, rendered, assemble(conv, rendered, cfg, seed, count_tokens=lambda s: len(WordTokenizer().text_to_ids(s)))


CFG = AugmentConfig.from_dict({"timing": "natural", "barge_in": {"prob": 0.3}})


def test_natural_layout_keeps_the_contract_and_records_what_it_did():
    overlaps = clamped = barge_ins = backchannels = 0
    for seed in range(60):
        conv, rendered, out = natural_conversation(seed, CFG)
        segs = sorted(out.segments, key=lambda s: s.start)
        assert [p for p in check_custom(out.custom) if not p.startswith("missing")] == []  # timing is a declared key
        timing = out.custom["timing"]
        clamped += len(timing["clamped"])
        sep = max(CFG.gap.min_s, CFG.timing_custom.min_solo_s)
        for role in (USER, AGENT):
            mine = [s for s in segs if s.speaker == role]
            assert all(b.start >= a.end + sep - 1e-9 for a, b in zip(mine, mine[1:])), f"{role} channel overlaps itself"
        assert frame_of(min(s.start for s in segs if s.speaker == AGENT)) >= 1
        cut_ends = {b["agent_turn"]: b for b in out.custom["barge_in"]}
        main = [s for s in segs if s.kind != "backchannel"]
        for a, b, gap in zip(main, main[1:], out.custom["gaps"]):
            if gap is None:  # a barge-in: the user starts at t_cut, the agent keeps its drawn stop delay
                rec = cut_ends[a.turn_index]
                assert b.start == pytest.approx(rec["t_cut"]) and a.end - rec["t_cut"] == pytest.approx(rec["kept"], abs=1e-4)
                assert rec["kept"] == conv.meta["plan"]["barge_in"][[e["agent_turn"] for e in conv.meta["plan"]["barge_in"]].index(a.turn_index)]["kept"]
                barge_ins += 1
                continue
            assert gap == pytest.approx(b.start - a.end, abs=1e-5)  # custom.gaps are the realised offsets
            if gap < 0:
                overlaps += 1
                # An overlap keeps BOTH whole turns: neither is shortened (only a later barge-in may cut b).
                assert a.duration == pytest.approx(rendered[a.turn_index].duration, abs=1e-9)
                if b.turn_index not in cut_ends:
                    assert b.duration == pytest.approx(rendered[b.turn_index].duration, abs=1e-9)
                assert b.start >= a.start + CFG.timing_custom.min_solo_s - 1e-9
        for bc in out.custom["backchannels"]:
            backchannels += 1
            ag = next(s for s in segs if s.turn_index == bc["agent_turn"])
            words = [(ag.start + w.start, ag.start + w.end) for w in rendered[bc["agent_turn"]].words]
            assert not any(w0 < bc["start"] < w1 for w0, w1 in words), "a backchannel starts inside an agent word"
            assert any(abs(w1 - bc["after_word_end"]) < 1e-5 for _, w1 in words) and bc["start"] >= bc["after_word_end"] - 1e-5
    assert overlaps >= 40 and barge_ins >= 10 and backchannels >= 10, (overlaps, barge_ins, backchannels)
    assert clamped < overlaps  # the contract guards move a minority of starts


def test_overlapped_turns_read_right_in_nemo_token_channel_and_events(tmp_path):
    from lhotse import MonoCut, Recording, SupervisionSegment
    from nemo.collections.speechlm2.data.s2s_dataset import build_token_channel

    import soundfile as sf

    tok = WordTokenizer()
    seen_overlap = 0
    for seed in range(25):
        conv, _, out = natural_conversation(seed, CFG)
        path = tmp_path / f"n{seed}.wav"
        sf.write(path, out.user_audio, 16000)
        rec = Recording.from_file(path, recording_id=f"n{seed}")
        sups = [SupervisionSegment(f"n{seed}-{k}", f"n{seed}", s.start, s.duration, text=s.text, speaker=s.speaker,
                                   custom={"kind": s.kind}) for k, s in enumerate(out.segments)]
        cut = MonoCut(f"n{seed}", start=0, duration=rec.duration, channel=0, recording=rec, supervisions=sups, custom=out.custom)
        tokens = build_token_channel(cut, tok, frame_length=0.08, roles={AGENT}, pad_id=tok.pad).tolist()
        users = [s for s in out.segments if s.speaker == USER and s.kind != "backchannel"]
        for s in out.segments:
            if s.speaker != AGENT:
                continue
            p, e, ids = frame_of(s.start), frame_of(s.end), tok.text_to_ids(s.text)
            assert tokens[p] == tok.bos and tokens[p + 1 : p + 1 + len(ids)] == ids and tokens[e] == tok.eos
            seen_overlap += any(u.start < s.start < u.end for u in users)
        ev = cut_events(cut)
        # Only the barge-in records are interruptions; a user turn overlapping an agent turn's end is not one.
        assert ev.interruptions == [round(b["t_cut"], 4) for b in out.custom["barge_in"]]
        # Every user turn followed by an agent turn has its answer, also when the agent came in early.
        answered = [u for u in users if any(u.start < a.start for a in out.segments if a.speaker == AGENT)]
        assert len(ev.user_turn_ends) == len(answered)
    assert seen_overlap >= 10


def test_the_trailing_silence_stays_when_a_skipped_barge_in_drops_the_planned_last_turns():
    # The last agent turn has one word: its phrase barge-in cannot be cut, so the phrase and the follow-up are
    # dropped and that agent turn ends the conversation; its drawn offset must not become the trailing silence.
    cfg = AugmentConfig.from_dict({"timing": "natural", "barge_in": {"prob": 1.0, "interruption": "phrase"},
                                   "backchannel": {"enabled": False}})
    rng = np.random.default_rng(0)
    seen = 0
    for seed in range(30):
        turns = [Turn(USER, "q0 q1 q2"), Turn(AGENT, "a0 a1 a2, a3 a4 a5 a6 a7"), Turn(USER, "q3 q4"), Turn(AGENT, "done")]
        conv = plan_conversation(Conversation(f"t{seed}", "t", "t", str(seed), seed, turns), cfg, seed)
        out = assemble(conv, [pause_turn(t, rng) for t in conv.turns], cfg, seed)
        if not out.custom["dropped_turns"]:
            continue
        seen += 1
        last_end = max(s.end for s in out.segments)
        assert out.custom["gaps"][-1] == cfg.gap.s and out.custom["trailing_gap"] >= cfg.gap.s - 1e-9
        assert len(out.user_audio) / 16000 >= last_end + cfg.gap.s - 1e-9
    assert seen >= 20
