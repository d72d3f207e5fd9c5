"""ASR-QA and real conversations: NeMo/Lhotse manifests, offsets, mixed sample rates, chaining, audio loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from duplexgen.core.records import RejectError, Turn
from duplexgen.recipes import asr_qa, get_recipe
from duplexgen.recipes.asr_qa import ChainedRow, level, load_user_audio, trim_silence



def convs(recipe, path, **options):
    out = []
    for row in recipe.read_rows(str(path)):
        try:
            out.append(recipe.to_conversation(row, seed=3, **options))
        except RejectError as e:
            out.append(e)
    return out


def tone(sr: int, seconds: float, lead_silence: float = 0.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.concatenate([np.zeros(int(sr * lead_silence), np.float32), x, np.zeros(int(sr * lead_silence), np.float32)])


def test_shipped_sample_is_synthetic_16k_and_chains():
    recipe = get_recipe("asr_qa")
    rows = list(recipe.read_rows(recipe.default_path()))
    assert len(rows) == 5 and all(u["audio_filepath"] for u in [rows[0].data["utterances"][0]])
    lines = [json.loads(l) for l in Path(recipe.default_path()).read_text().splitlines()]
    assert all(l["synthetic"] for l in lines)
    out = convs(recipe, recipe.default_path(), chain=2)
    assert [type(c).__name__ for c in out] == ["Conversation", "ChainedRow", "Conversation", "ChainedRow", "Conversation"]
    first = out[0]
    assert [t.role for t in first.turns] == ["user", "agent", "user", "agent"]
    assert first.turns[1].text == "" and first.meta["llm"] == {"task": "answer"}
    assert Path(first.turns[2].audio_path).name == "synthetic_q01.flac" and Path(first.turns[0].audio_path).is_absolute()
    assert len(out[4].turns) == 2  # the last chain is shorter
    r = load_user_audio(first.turns[0], max_audio_s=20)
    assert r.sample_rate == 16000 and 1.5 < r.duration < 3.0 and r.voice.startswith("real:")
    assert -26 < 20 * np.log10(np.sqrt(np.mean(r.audio**2))) < -20


def test_real_nemo_manifest_offsets_and_mixed_rates(shared_data):
    path = shared_data("asr/asr_manifest.nemo.jsonl")
    out = convs(get_recipe("asr_qa"), path, max_audio_s=20)
    assert len(out) == 6 and all(not isinstance(c, RejectError) for c in out)
    lj = load_user_audio(out[2].turns[0], max_audio_s=20)  # a 22,050 Hz WAV
    assert lj.sample_rate == 16000 and lj.meta["source_sample_rate"] == 22050 and abs(lj.duration - 1.54) < 0.1
    ami = [c.turns[0] for c in out[4:]]  # two segments of one 6 s file, by offset
    assert [t.audio_offset for t in ami] == [1.46, 3.36]
    a = load_user_audio(ami[0], max_audio_s=20)
    assert a.duration <= 1.36 + 1e-3 and a.meta["offset"] == 1.46
    # Too long: skipped by default, clipped on request.
    short = convs(get_recipe("asr_qa"), path, max_audio_s=5)
    assert short[0].reason.startswith("audio too long") and short[2].turns[0].audio_duration < 2
    clipped = convs(get_recipe("asr_qa"), path, max_audio_s=5, too_long="clip")
    assert clipped[0].turns[0].audio_duration == 5.0
    assert abs(load_user_audio(clipped[0].turns[0], max_audio_s=5).duration - 5.0) < 0.2


def test_real_lhotse_cuts_manifest(shared_data):
    path = shared_data("asr/asr_cuts.lhotse.jsonl")
    out = convs(get_recipe("asr_qa"), path)
    assert len(out) == 6  # 5 cuts, the AMI cut has 2 supervisions
    assert out[5].turns[0].text == "YOU CAN CALL ME ABBIE" and out[5].turns[0].audio_offset == 3.36
    assert load_user_audio(out[5].turns[0], max_audio_s=20).duration <= 1.0 + 1e-3


def test_lhotse_supervisions_plus_recordings(tmp_path):
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    sf.write(tmp_path / "a.wav", tone(8000, 3.0), 8000)
    rec = Recording.from_file(tmp_path / "a.wav", recording_id="a")
    RecordingSet.from_recordings([rec]).to_file(tmp_path / "x_recordings.jsonl.gz")
    SupervisionSet.from_segments([
        SupervisionSegment("a-0", "a", 0.5, 1.0, text="first part"),
        SupervisionSegment("a-1", "a", 1.8, 1.0, text="second part"),
    ]).to_file(tmp_path / "x_supervisions.jsonl.gz")
    out = convs(get_recipe("asr_qa"), tmp_path / "x_supervisions.jsonl.gz", chain=2)
    conv = out[0]
    assert [t.text for t in conv.turns if t.role == "user"] == ["first part", "second part"]
    assert conv.turns[2].audio_offset == 1.8
    r = load_user_audio(conv.turns[2], max_audio_s=20)
    assert r.sample_rate == 16000 and abs(r.duration - 1.0) < 0.02  # resampled 8 kHz -> 16 kHz
    assert isinstance(out[1], ChainedRow)


def test_malformed_and_unsafe_manifest_rows(tmp_path):
    (tmp_path / "data").mkdir()
    sf.write(tmp_path / "data" / "ok.flac", tone(16000, 1.0), 16000)
    sf.write(tmp_path / "outside.flac", tone(16000, 1.0), 16000)
    (tmp_path / "data" / "broken.flac").write_bytes(b"not audio at all")
    sf.write(tmp_path / "data" / "silent.flac", np.zeros(16000, np.float32), 16000)
    lines = [
        {"audio_filepath": "ok.flac", "duration": 1.0, "text": "hello there"},
        '{"audio_filepath": "ok.flac", "dur',
        {"audio_filepath": "../outside.flac", "duration": 1.0, "text": "sneaky"},
        {"audio_filepath": "ok.flac", "duration": 0, "text": "zero"},
        {"audio_filepath": "ok.flac", "duration": 1.0, "text": ""},
        {"audio_filepath": "broken.flac", "duration": 1.0, "text": "broken file"},
        {"audio_filepath": "ok.flac", "duration": 0.5, "offset": 5.0, "text": "offset past the end"},
        {"audio_filepath": "silent.flac", "duration": 1.0, "text": "silence"},
        {"audio_filepath": "missing.flac", "duration": 1.0, "text": "gone"},
    ]
    manifest = tmp_path / "data" / "m.jsonl"
    manifest.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines))
    out = convs(get_recipe("asr_qa"), manifest)
    assert out[0].turns[0].audio_path == str(tmp_path / "data" / "ok.flac")
    assert "malformed JSON" in out[1].reason
    assert out[2].reason.startswith("audio path outside the dataset root")
    assert out[3].reason.startswith("bad duration") and "transcript" in out[4].reason
    reasons = []
    for c in out[5:]:
        if isinstance(c, RejectError):  # header-level problems are caught at the source, before any LLM call
            reasons.append(c.reason)
            continue
        with pytest.raises(RejectError) as e:
            load_user_audio(c.turns[0], max_audio_s=20)
        reasons.append(e.value.reason)
    assert isinstance(out[5], RejectError) and isinstance(out[8], RejectError)
    assert reasons[0].startswith("unreadable audio")
    assert reasons[1].startswith("offset past the end")
    assert reasons[2].startswith("silent audio")
    assert reasons[3].startswith("audio file not found")
    # The dataset root can be widened explicitly.
    assert not isinstance(convs(get_recipe("asr_qa"), manifest, audio_root=str(tmp_path))[2], RejectError)


def test_audio_math_trim_and_level():
    x = tone(16000, 1.0, lead_silence=0.5, amp=0.01)
    trimmed = trim_silence(x, 16000)
    assert abs(len(trimmed) / 16000 - 1.1) < 0.03  # 1 s of tone + 2 x 50 ms margin
    y = level(trimmed)
    assert abs(20 * np.log10(np.sqrt(np.mean(y**2))) + 23) < 0.5
    loud = level(np.concatenate([np.full(10, 0.9, np.float32), np.zeros(16000, np.float32)]))
    assert np.max(np.abs(loud)) <= 10 ** (-1 / 20) + 1e-6  # the peak limit wins over the RMS target


def test_real_conversations_sample_two_channel_and_per_turn():
    recipe = get_recipe("real_conversations")
    out = convs(recipe, recipe.default_path())
    two, per_turn, text_only = out
    assert [t.role for t in two.turns] == ["user", "agent"]
    assert two.turns[0].audio_path.endswith("synthetic_dialog_2ch.flac#channel=0")
    assert two.turns[1].audio_path.endswith("#channel=1")
    user = load_user_audio(two.turns[0], max_audio_s=30)
    agent = load_user_audio(two.turns[1], max_audio_s=30)
    assert user.sample_rate == 16000 and agent.sample_rate == 22050
    # Each channel's span, trimmed to its speech (espeak adds trailing silence).
    assert 1.3 < user.duration <= 1.786 + 1e-3 and 2.2 < agent.duration <= 2.745 + 1e-3
    assert per_turn.meta["real_audio_turns"] == 2 and per_turn.turns[1].audio_path is None
    assert text_only.meta["real_audio_turns"] == 0 and len(text_only.turns) == 4


def test_real_conversations_malformed(tmp_path):
    sf.write(tmp_path / "a.flac", tone(16000, 2.0), 16000)
    rows = [
        {"id": "merge", "turns": [{"speaker": "user", "text": "one"}, {"speaker": "user", "text": "two"}, {"speaker": "assistant", "text": "ok"}]},
        {"id": "agent-first", "turns": [{"speaker": "agent", "text": "hi"}, {"speaker": "user", "text": "x"}]},
        {"id": "bad-speaker", "turns": [{"speaker": "narrator", "text": "hi"}]},
        {"id": "escape", "turns": [{"speaker": "user", "text": "x", "audio_filepath": "/etc/passwd"}, {"speaker": "agent", "text": "y"}]},
        {"id": "seg", "audio_filepath": "a.flac", "segments": [{"speaker": "user", "start": 1.0, "end": 0.5, "text": "x"}]},
        {"id": "nothing"},
        {"id": "trail", "turns": [{"speaker": "user", "text": "q"}, {"speaker": "agent", "text": "a"}, {"speaker": "user", "text": "unanswered"}]},
    ]
    p = tmp_path / "r.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = convs(get_recipe("real_conversations"), p)
    assert [t.text for t in out[0].turns] == ["one two", "ok"]
    assert "start with the user" in out[1].reason
    assert "speaker 'narrator'" in out[2].reason
    assert out[3].reason.startswith("audio path outside the dataset root")
    assert "start < end" in out[4].reason
    assert "needs 'turns'" in out[5].reason
    assert [t.text for t in out[6].turns] == ["q", "a"]


def test_channel_out_of_range(tmp_path):
    sf.write(tmp_path / "m.flac", tone(16000, 1.0), 16000)
    with pytest.raises(RejectError, match="channel 1 not in a 1-channel file"):
        load_user_audio(Turn("user", "x", audio_path=f"{tmp_path / 'm.flac'}#channel=1", audio_duration=1.0), max_audio_s=5)
    with pytest.raises(RejectError, match="too long"):
        load_user_audio(Turn("user", "x", audio_path=str(tmp_path / "m.flac")), max_audio_s=0.5)
    assert asr_qa.MAX_CHAIN >= 4
