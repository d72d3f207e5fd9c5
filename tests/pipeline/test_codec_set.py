"""Codec-personalization set: text planning (pure), and a real Ray Data run with espeak that writes Shar
train/heldout shards of agent-voice utterances at 22,050 Hz; a rerun skips finished shards."""

from __future__ import annotations

import json

import pytest

from duplexgen.pipeline.codec_set import (
    CodecSetConfig,
    is_heldout,
    load_codec_set_config,
    plan_chunks,
    plan_utterances,
    split_utterances,
)


def test_split_utterances_keeps_whole_sentences():
    text = "One two three. Four five six! Seven eight nine? " + "word " * 30
    pieces = split_utterances(text, 40)
    assert pieces[0] == "One two three. Four five six!"
    assert all(len(p) <= 40 for p in pieces)
    assert " ".join(pieces).split() == text.split()  # nothing lost, nothing added


def test_heldout_split_is_a_stable_hash():
    ids = [f"alpaca-{i}-t1-p0" for i in range(4000)]
    held = [i for i in ids if is_heldout(i, 0.02)]
    assert 40 < len(held) < 120
    assert held == [i for i in ids if is_heldout(i, 0.02)]
    assert set(held) <= {i for i in ids if is_heldout(i, 0.05)}  # a larger fraction only adds ids


def test_plan_draws_distinct_texts_round_robin_from_the_sources():
    cfg = load_codec_set_config("codec_set_demo", ["num_utterances=30", "output_dir=out/unused"])
    utts = plan_utterances(cfg)
    assert len(utts) == 30
    assert [u["source"] for u in utts[:4]] == ["alpaca", "ms_marco", "ultrachat", "real_conversations"]
    assert len({u["text"].lower() for u in utts}) == 30 and len({u["id"] for u in utts}) == 30
    assert all(u["text"].strip() and len(u["text"]) <= cfg.max_utterance_chars for u in utts)
    assert utts == plan_utterances(cfg)  # deterministic
    chunks = plan_chunks(cfg, utts)
    assert sum(len(c.items) for c in chunks) == 30
    assert {c.split for c in chunks} <= {"train", "heldout"}


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="heldout_fraction"):
        CodecSetConfig(sources=[{"recipe": "alpaca"}], heldout_fraction=1.5)
    with pytest.raises(ValueError, match="sources is empty"):
        CodecSetConfig()


@pytest.mark.slow
def test_generate_codec_set_with_ray_writes_agent_utterances(tmp_path):
    ray = pytest.importorskip("ray")
    from lhotse import CutSet

    from duplexgen.pipeline.cli import main

    out = tmp_path / "codec_set"
    args = ["generate-codec-set", "codec_set_demo", f"output_dir={out}", "num_utterances=10",
            "heldout_fraction=0.3", "shard_size=4", "ray.num_cpus=2", "ray.render_workers=2"]
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(args) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["utterances"] == 10 and summary["rejects"] == 0
        assert summary["splits"]["heldout"]["utterances"] >= 1 and summary["splits"]["train"]["utterances"] >= 1
        train = sorted(p.name for p in (out / "train").iterdir())
        assert train[:2] == ["cuts.000000.jsonl.gz", "cuts.000001.jsonl.gz"] and "recording.000000.tar" in train
        train_cuts = list(CutSet.from_shar(in_dir=str(out / "train")))
        held_cuts = list(CutSet.from_shar(in_dir=str(out / "heldout")))
        assert len(train_cuts) + len(held_cuts) == 10
        assert all(is_heldout(c.id, 0.3) for c in held_cuts) and not any(is_heldout(c.id, 0.3) for c in train_cuts)
        cuts = train_cuts + held_cuts
        for cut in cuts:
            assert cut.sampling_rate == 22050 and len(cut.supervisions) == 1
            sup = cut.supervisions[0]
            assert sup.speaker == "agent" and sup.text and sup.duration == pytest.approx(cut.duration)
            audio = cut.load_audio()
            assert audio.shape[1] == cut.num_samples and abs(audio).max() > 0.05  # real speech, not silence
            assert cut.custom["voice"]
        stamp = (out / "train" / "cuts.000000.jsonl.gz").stat().st_mtime_ns
        assert main(args) == 0  # rerun: nothing to do
        assert (out / "train" / "cuts.000000.jsonl.gz").stat().st_mtime_ns == stamp
        assert json.loads((out / "summary.json").read_text())["utterances"] == 10
    finally:
        ray.shutdown()
