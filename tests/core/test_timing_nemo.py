"""Frame helpers agree with NeMo's own DuplexS2SDataset token channel, and barge-in cuts keep the agent
text intact with the EOS where the agent audio ends (NeMo's ``build_token_channel`` on a real Lhotse cut)."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from duplexgen.augment import AugmentConfig, assemble, plan_conversation
from duplexgen.core.timing import eos_frame_ok, frame_of, num_frames
from duplexgen.core.timing import estimate_tokens
from duplexgen.augment.layout import to_samples
from duplexgen.core.vad import speech_intervals
from duplexgen.core.records import AGENT, USER, Conversation, RenderedTurn, Turn, Word


class CharTokenizer:
    """A character-level tokenizer with the attributes DuplexS2SDataset uses (bos, eos, pad, text_to_ids)."""

    bos, eos, pad, unk_id = 1, 2, 0, 3

    def text_to_ids(self, text: str) -> list[int]:
        return [4 + (ord(c) % 200) for c in text if not c.isspace()]


def synth_turn(role: str, n_words: int, rng: np.random.Generator) -> RenderedTurn:
    sr = 16000 if role == USER else 22050
    chunks, words, t = [], [], 0
    for k in range(n_words):
        n = int(rng.uniform(0.25, 0.6) * sr)
        chunks += [(rng.choice([-1.0, 1.0], n) * rng.uniform(0.2, 0.5, n)).astype(np.float32), np.zeros(int(0.1 * sr), np.float32)]
        words.append(Word("w" * int(rng.integers(1, 14)) + str(k), t / sr, (t + n) / sr))  # 2-15 tokens
        t += n + int(0.1 * sr)
    audio = np.concatenate(chunks[:-1])
    return RenderedTurn(role, " ".join(w.text for w in words), audio, sr, "v", words)


def to_cut(out, tmp_path, name):
    from lhotse import MonoCut, Recording, SupervisionSegment

    path = tmp_path / f"{name}.wav"
    sf.write(path, out.user_audio, out.user_sample_rate)
    rec = Recording.from_file(path, recording_id=name)
    sups = [SupervisionSegment(f"{name}-{k}", name, s.start, s.duration, text=s.text, speaker=s.speaker)
            for k, s in enumerate(out.segments)]
    return MonoCut(name, start=0, duration=rec.duration, channel=0, recording=rec, supervisions=sups)


def test_frame_helpers_match_lhotse_rule():
    assert frame_of(0.64) == 8 and frame_of(0.04) == 1 and frame_of(0.0399) == 0 and num_frames(1.0) == 13 and num_frames(0.99) == 12
    assert eos_frame_ok(0.64, 1.28, 7) and not eos_frame_ok(0.64, 1.28, 8)
    assert estimate_tokens("") == 0 and estimate_tokens("hello there") == 4 and estimate_tokens("  hi  ") == 1


def test_num_frames_is_lhotses_compute_num_frames():
    """core.timing writes the rule out (importing lhotse costs a torch import per worker): it must stay lhotse's."""
    import numpy as np
    from lhotse.utils import compute_num_frames

    rng = np.random.default_rng(0)
    durations = np.concatenate([rng.uniform(0, 60, 5000), np.arange(0, 10, 0.005), np.arange(0, 4, 0.04) + 0.02])
    for d in durations:
        for sr in (16000, 22050):
            assert num_frames(float(d), sampling_rate=sr) == compute_num_frames(float(d), 0.08, sr), (d, sr)


def test_barge_in_text_and_eos_frame_in_nemo_token_channel(tmp_path):
    from nemo.collections.speechlm2.data.s2s_dataset import build_token_channel

    tok = CharTokenizer()
    count = lambda s: len(tok.text_to_ids(s))  # noqa: E731
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 1.0, "max_per_conversation": 3}, "backchannel": {"prob": 0.5}})
    checked, overwritten_without_check = 0, 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        turns = [Turn(USER if k % 2 == 0 else AGENT, "x") for k in range(6)]
        conv = plan_conversation(Conversation("c", "s", "r", str(seed), seed, turns), cfg, seed)
        rendered = []
        for t in conv.turns:
            r = synth_turn(t.role, 1 if t.kind == "backchannel" else int(rng.integers(2, 12)), rng)
            r.kind = t.kind
            rendered.append(r)
        for counter, checked_run in ((count, True), (lambda s: 0, False)):
            out = assemble(conv, rendered, cfg, seed, count_tokens=counter)
            cut = to_cut(out, tmp_path, f"c{seed}{checked_run}")
            tokens = build_token_channel(cut, tok, frame_length=0.08, roles={AGENT}, pad_id=tok.pad).tolist()
            assert len(tokens) == num_frames(cut.duration)
            for b in out.custom["barge_in"]:
                seg = next(s for s in out.segments if s.turn_index == b["agent_turn"])
                ids = tok.text_to_ids(seg.text)
                p, e = frame_of(seg.start), frame_of(seg.end)
                intact = tokens[p] == tok.bos and tokens[p + 1 : p + 1 + len(ids)] == ids and tokens[e] == tok.eos
                if checked_run:
                    assert intact, (seed, b)
                    # NeMo's EOS frame is the frame where the agent audio ends (measured by the energy VAD).
                    a0 = to_samples(seg.start, 22050)
                    ends = [en for _, en in speech_intervals(out.agent_audio, 22050, min_silence_s=0.05)]
                    audio_end = min(ends, key=lambda x: abs(x - seg.end))
                    assert abs(audio_end - seg.end) < 1e-3 and frame_of(audio_end) == e
                    assert out.agent_audio[a0] != 0
                    checked += 1
                elif not intact:
                    overwritten_without_check += 1
    assert checked >= 5, (checked, overwritten_without_check)
    # Without the token check, some cut turns would lose text to the EOS: the check matters.
    assert overwritten_without_check >= 1


def test_silero_vad_finds_real_speech_boundaries(shared_data):
    wav = shared_data("asr/audio/2412-153948-0001.flac")
    from duplexgen.core.vad import silero_intervals

    x, sr = sf.read(wav, dtype="float32")
    pad = np.zeros(sr, np.float32)
    y = np.concatenate([pad, x, pad])
    base = silero_intervals(x, sr)
    shifted = silero_intervals(y, sr)
    assert base and abs(shifted[0][0] - (base[0][0] + 1.0)) <= 0.08 and abs(shifted[-1][1] - (base[-1][1] + 1.0)) <= 0.08
    # Resampled input (22,050 Hz) gives the same boundaries within a frame.
    import soxr

    y22 = soxr.resample(y, sr, 22050)
    s22 = silero_intervals(y22, 22050)
    assert abs(s22[0][0] - shifted[0][0]) <= 0.08 and abs(s22[-1][1] - shifted[-1][1]) <= 0.08
