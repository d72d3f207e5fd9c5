"""The barge-in ablation's plumbing without running it (it takes ~2 h, never in CI): disjoint row splits, the
process-tree CPU clock, and the report built from stage results (results.json keys the issue names)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from duplexgen.training.experiment import AblationConfig, TreeCPU, codec_refusal, split_rows
from duplexgen.training.experiment_report import write_report


def test_row_splits_are_disjoint_and_seeded():
    eval_rows, val_rows, train_rows = split_rows(500, [140, 30], seed=7)
    assert (len(eval_rows), len(val_rows), len(train_rows)) == (140, 30, 330)
    assert not (set(eval_rows) & set(val_rows) or set(eval_rows) & set(train_rows) or set(val_rows) & set(train_rows))
    assert split_rows(500, [140, 30], seed=7) == [eval_rows, val_rows, train_rows]
    assert split_rows(500, [140, 30], seed=8)[0] != eval_rows
    with pytest.raises(ValueError, match="cannot hold out"):
        split_rows(10, [6, 4], seed=0)


def test_tree_cpu_counts_a_child_process():
    with TreeCPU(period=0.1) as cpu:
        subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"], check=True)
    assert cpu.seconds >= 0.4


def test_the_codec_stage_refuses_a_leaking_or_lossy_codec(tmp_path):
    ok = {"encoder_lookahead": {"samples": 881, "frames": 0.499, "ms": 40.0, "leaks_onset": False},
          "reference_through_codec_turn_taking": 0.99, "reference_through_codec_barge_in": 1.0}
    assert codec_refusal(ok, 0.9, "silero", tmp_path) is None
    leaky = {**ok, "encoder_lookahead": {"samples": 11441, "frames": 6.487, "ms": 518.9, "leaks_onset": True}}
    assert "use a per-frame encoder" in codec_refusal(leaky, 0.9, "silero", tmp_path)
    lossy = {**ok, "reference_through_codec_barge_in": 0.5, "reference_through_codec_turn_taking": None}
    msg = codec_refusal(lossy, 0.9, "silero", tmp_path)
    assert msg.startswith("codec gate failed") and "turn_taking None, barge_in 0.5 < 0.9 under silero VAD" in msg
    assert str(tmp_path) in msg and "codec_steps" in msg


def _eval_summary(tt: float, bi: float, fa: float) -> dict:
    """The task blocks of a `duplexgen eval` result (fdbench.summarize) that the report reads."""
    top = {"turn_taking": {"tor": tt, "latency_mean_s": 0.7, "cases": 20},
           "interruption": {"success_rate": bi, "stop_latency_mean_s": 0.6, "tor": 0.5, "cases": 12, "speaking_at_onset": 10},
           "backchannel": {"tor": fa, "cases": 6, "scored": 5}, "pause_handling": {"tor": 0.1, "cases": 3},
           "background_noise": {"tor": None, "cases": 0, "scored": 0}}
    return {**top, "text_channel": dict(top), "wall_s": 1.0, "cpu_s": 2.0}


def test_report_has_the_keys_the_issue_names(tmp_path):
    out = tmp_path / "run"
    for arm in ("no_bargein_aug", "bargein_aug"):
        run = out / "runs" / arm
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 9 - s / 10, "text_loss": 2.0, "audio_loss": 3.0}) + "\n"
                                                   for s in range(1, 41)))
        (run / "val.jsonl").write_text("".join(json.dumps({"step": s, "val_loss": 8 - s / 10, "val_text_loss": 2.0, "val_audio_loss": 3.0}) + "\n"
                                               for s in (0, 20, 40)))
    stages = {
        "data": {"train_hours": 5.2, "train_conversations": 900, "eval_conversations": 150, "wall_s": 60, "cpu_s": 100},
        "codec": {"entropy_bits_per_codebook": [6.5, 6.9, 7.0, 6.4], "distinct_share_per_codebook": [0.8, 0.8, 0.9, 0.7],
                  "reference_through_codec_turn_taking": 1.0, "reference_through_codec_barge_in": 0.95,
                  "reference_through_codec_events": {"turn_taking": 200, "barge_in": 80},
                  "encoder_lookahead": {"samples": 881, "frames": 0.499, "ms": 40.0, "leaks_onset": False}, "wall_s": 300, "cpu_s": 500},
        "untrained": {"parameters": {"llm": 5}, "wall_s": 1, "cpu_s": 1},
        "eval_untrained": _eval_summary(0.0, None, 1.0), "eval_no_bargein_aug": _eval_summary(0.7, 0.3, 0.1),
        "eval_bargein_aug": _eval_summary(0.7, 0.65, 0.1), "eval_reference": _eval_summary(1.0, 1.0, 0.0),
    }
    for arm in ("no_bargein_aug", "bargein_aug"):
        stages[f"train_{arm}"] = {"steps": 40, "first_loss": 9, "last_loss": 5, "val_first": 8, "val_last": 4, "val_best": 4,
                                  "wall_s": 10, "cpu_s": 20}
    results = {"config": {"decoding": AblationConfig.__dataclass_fields__["decoding"].default_factory(),
                          "targets": AblationConfig.__dataclass_fields__["targets"].default_factory()},
               "stages": stages, "out": str(out), "command": f"duplexgen experiment bargein-ablation --out {out}"}
    report = tmp_path / "report"
    (report / "experiments").mkdir(parents=True)
    (report / "experiments" / "bargein_ablation_reading.md").write_text("The hand-written reading.")
    paths = write_report(results, out, report)
    res = json.loads((report / "results.json").read_text())
    for arm in ("untrained", "no_bargein_aug", "bargein_aug", "reference"):
        assert {"barge_in_success", "turn_taking_success", "false_alarm_rate", "events"} <= set(res["arms"][arm])
        assert res["arms"][arm]["vad"]["turn_taking_success"] == res["arms"][arm]["turn_taking_success"]
    assert res["train_hours"] == 5.2 and res["eval_conversations"] == 150
    assert res["command"] == "duplexgen experiment bargein-ablation --out OUT"  # no machine path on the committed page
    assert res["codec"]["entropy_bits_per_codebook"] == [6.5, 6.9, 7.0, 6.4] and res["codec"]["reference_through_codec_turn_taking"] == 1.0
    assert res["targets_met"]["bargein_aug_barge_in>=0.60"] is True
    assert res["targets_met"]["bargein_aug - no_bargein_aug barge_in>=0.20"] is True
    md = (report / "EXPERIMENTS.md").read_text()
    assert "The hand-written reading." in md and "| bargein_aug | 70.0 %" in md
    assert all((report / "experiments" / f"bargein_ablation_{p}.png").stat().st_size > 5000 for p in ("loss", "text_loss", "audio_loss"))
    assert len(paths["pngs"]) == 3
