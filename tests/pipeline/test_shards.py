"""The generation workers' Shar writer: the same files as lhotse's ``SharWriter`` for the same cut, without lhotse.

The reference cut below is built the way lhotse users build one (``MonoCut``, ``SupervisionSegment``,
``AlignmentItem``, in-memory WAV recordings) and written by lhotse's own ``SharWriter``; our ``shard_cut`` +
``write_shard`` must produce the same tar members (names, headers, FLAC bytes, recording manifests) and the same
cut lines, for conversations with barge-ins, backchannels, skipped phrases and word alignments."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tarfile

import numpy as np

from duplexgen.pipeline.shards import ShardCut, shard_cut, write_shard


def _conversation(seed: int, tone_turn):
    from duplexgen.augment import AugmentConfig, assemble, plan_conversation
    from duplexgen.core.records import AGENT, USER, Conversation, Turn

    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 0.7, "max_per_conversation": 2}, "backchannel": {"prob": 0.9}})
    rng = np.random.default_rng(seed)
    turns = []
    for p in range(3):
        turns.append(Turn(USER, " ".join(f"q{p}w{k}" for k in range(4))))
        turns.append(Turn(AGENT, " ".join(f"a{p}w{k}" for k in range(12))))
    conv = plan_conversation(Conversation(f"shard-{seed}", "test", "test", str(seed), seed, turns), cfg, seed)
    rendered = [tone_turn(t, rng) for t in conv.turns]
    assembled = assemble(conv, rendered, cfg, seed)
    words = {i: t.words for i, t in enumerate(rendered) if t.words}
    custom = {"source": "test", "recipe": "test", "row_id": str(seed), "seed": seed, "voices": ["tone"], "note": None}
    return assembled, custom, words


def _lhotse_reference_cut(assembled, cut_id, custom, words_by_turn):
    """The cut built with lhotse's classes (what the writer used to do before issue 19), with the same content."""
    from lhotse import MonoCut, Recording, SupervisionSegment
    from lhotse.supervision import AlignmentItem

    from duplexgen.core.audio import wav_bytes

    from duplexgen.pipeline.shards import segment_words, supervision_custom

    def items(seg, words):  # the alignment content is issue 17's (segment_words); the serialisation is lhotse's
        return [AlignmentItem(symbol=s, start=start, duration=dur, score=score) for s, start, dur, score in segment_words(seg, words)]

    user = Recording.from_bytes(wav_bytes(assembled.user_audio, assembled.user_sample_rate), recording_id=cut_id)
    agent = Recording.from_bytes(wav_bytes(assembled.agent_audio, assembled.agent_sample_rate), recording_id=f"{cut_id}_agent")
    sups = [SupervisionSegment(id=f"{cut_id}-{i:03d}-{seg.speaker}", recording_id=cut_id, start=round(seg.start, 6),
                               duration=round(seg.duration, 6), channel=0, text=seg.text, speaker=seg.speaker,
                               custom=supervision_custom(seg),
                               alignment={"word": items(seg, words_by_turn[seg.turn_index])} if words_by_turn.get(seg.turn_index) else None)
            for i, seg in enumerate(assembled.segments)]
    cut_custom = {**assembled.custom, **custom, "target_audio": agent}
    return MonoCut(id=cut_id, start=0.0, duration=user.duration, channel=0, recording=user, supervisions=sups, custom=cut_custom)


def _members(path):
    with tarfile.open(path) as tf:
        return [(m.name, m.size, m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname, tf.extractfile(m).read()) for m in tf.getmembers()]


def test_shard_writer_writes_what_lhotse_writes(tmp_path, eval_tools):
    convs = [_conversation(seed, eval_tools.tone_turn) for seed in range(6)]
    ours = [shard_cut(a, f"shard-{k}", c, w) for k, (a, c, w) in enumerate(convs)]
    theirs = [_lhotse_reference_cut(a, f"shard-{k}", c, w) for k, (a, c, w) in enumerate(convs)]
    assert all(isinstance(c, ShardCut) for c in ours)
    assert any(c.custom["barge_in"] for c in ours) and any(c.custom["backchannels"] for c in ours)
    assert any("alignment" in s for c in ours for s in c.supervisions)
    a = write_shard(ours, str(tmp_path / "ours"), 3, tmp_path / "staging")
    b = write_shard(theirs, str(tmp_path / "lhotse"), 3, tmp_path / "staging")
    for key in ("recording", "target_audio"):
        assert _members(a[key]) == _members(b[key]), key
    assert gzip.open(a["cuts"], "rt").read() == gzip.open(b["cuts"], "rt").read()


def test_written_shards_read_back_with_lhotse_sample_for_sample(tmp_path, eval_tools):
    from duplexgen.core.audio import quantize_int16
    from duplexgen.core.shards import load_shards

    convs = [_conversation(seed, eval_tools.tone_turn) for seed in range(2)]
    write_shard([shard_cut(a, f"rb-{k}", c, w) for k, (a, c, w) in enumerate(convs)], str(tmp_path / "s"), 0, tmp_path / "st")
    cuts = list(load_shards(tmp_path / "s"))
    for cut, (assembled, _, _) in zip(cuts, convs):
        user = np.round(cut.load_audio()[0] * 32768).astype(np.int16)
        agent = np.round(cut.load_target_audio()[0] * 32768).astype(np.int16)
        assert np.array_equal(user, quantize_int16(assembled.user_audio))
        assert np.array_equal(agent, quantize_int16(assembled.agent_audio))


WORKER = """
import json, sys, tempfile
from duplexgen.pipeline.config import load_generate_config
from duplexgen.pipeline.stages import AudioStage, ChunkTask, SourceStage
out = tempfile.mkdtemp()
cfg = load_generate_config("demo", [f"output_dir={out}"])
task = ChunkTask("alpaca", "alpaca", sys.argv[1], 0, 2, 0, 1234)
result = json.loads(AudioStage(cfg).process(SourceStage().process(task))["result"])
assert result["cuts"] == 2, result
print(json.dumps(sorted(m for m in ("torch", "lhotse", "nemo", "transformers", "scipy.signal") if m in sys.modules)))
"""


def test_a_generation_worker_imports_no_torch_or_lhotse():
    """Reading a chunk, rendering it with espeak, assembling and writing its shard: none of the heavy stacks load
    (torch alone costs ~2 CPU s and ~200 MB per Ray worker)."""
    from duplexgen.recipes import get_recipe

    path = get_recipe("alpaca").default_path()
    proc = subprocess.run([sys.executable, "-c", WORKER, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
