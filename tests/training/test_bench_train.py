"""`duplexgen bench-train --tiny`: the trainer's bench on smoke sizes (real Lhotse loader, real tiny trainer).

Benchmarks are not tests: this only checks that every section runs and reports positive numbers."""

from __future__ import annotations

import json
import math

import pytest

from duplexgen.training.bench import SECTIONS, TrainBenchConfig


@pytest.mark.timeout(600)
def test_bench_train_tiny_runs_every_section(tmp_path, tiny_shards):
    from duplexgen.pipeline.cli import main

    out = tmp_path / "bench"
    assert main(["bench-train", str(tiny_shards), "--tiny", "--out", str(out)]) == 0
    res = json.loads((out / "bench_train.json").read_text())
    assert (out / "bench_train.md").read_text().startswith("# duplexgen bench-train")
    for section in SECTIONS:
        for k, v in res[section]["headline"].items():
            assert isinstance(v, (int, float)) and math.isfinite(v) and v > 0, (section, k, v)
    # 8 tiny conversations of ~4-5 s: one pass reads all of their audio
    assert 25 < res["reading"]["audio_s_per_pass"] < 60 and res["trainer"]["device"] == "cpu"
    assert res["reading"]["headline"]["headroom_vs_tiny_trainer_x"] > 0


def test_bench_train_config_errors_name_the_key():
    with pytest.raises(ValueError, match="--only"):
        TrainBenchConfig(only="reading,nope")
    with pytest.raises(ValueError, match="train_steps"):
        TrainBenchConfig(train_steps=1)
