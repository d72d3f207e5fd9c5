"""`duplexgen validate --audit`: the layout measured from the audio of shards built with duplexgen's own
assembly (``eval_shards`` and ``build_assembled`` in conftest.py: tone "words" with known timings)."""

from __future__ import annotations

import numpy as np
import pytest

from duplexgen.augment.layout import to_samples
from duplexgen.core.records import USER
from duplexgen.pipeline.audit import AuditConfig, audit_cut, audit_dir, format_audit
from duplexgen.pipeline.shards import assembled_to_cut


def test_audit_of_clean_data_measures_the_layout(eval_shards):
    result = audit_dir(eval_shards, cfg=AuditConfig(vad="energy"))
    s = result["summary"]
    assert s["conversations"] == 5 and s["with_problems"] == 0, result["worst"]
    assert s["boundary_error_s"]["max"] <= 0.001  # a sine starts below the VAD threshold for a few samples
    assert s["gap_s"]["n"] >= 10 and s["gap_s"]["mean"] == pytest.approx(0.64, abs=1e-3)
    assert s["barge_ins"] >= 3 and s["barge_in_silent_after"] == s["barge_ins"]
    assert s["barge_in_kept_s"]["mean"] == pytest.approx(0.64, abs=2e-3)
    # Tones of amplitude 0.3 (-13.5 dBFS RMS) with 80 ms pauses between words inside the speech intervals.
    tone_db = 20 * np.log10(0.3 / np.sqrt(2))
    assert tone_db - 2.0 < s["levels"]["agent"]["speech_rms_dbfs"]["mean"] < tone_db
    assert s["levels"]["user"]["clip_ratio"]["max"] == 0.0
    assert "OK: no problems" in format_audit(result)


def test_audit_flags_broken_audio(tmp_path, eval_tools):
    a = eval_tools.build_assembled(1)
    assert a.custom["barge_in"], "seed 1 must have a barge-in"
    b = a.custom["barge_in"][0]
    # 1. The agent keeps talking after the barge-in cut (audio pasted into the silence after it).
    i = to_samples(b["end"], 22050)
    a.agent_audio[i + 100 : i + 100 + 4410] = 0.3
    # 2. A user supervision that is 0.1 s late against its speech.
    seg = next(s for s in a.segments if s.speaker == USER and s.start > 0)
    seg.start += 0.1
    seg.duration -= 0.1
    # 3. A clipping user stream.
    a.user_audio[:8000] = 1.0
    cut = assembled_to_cut(a, "broken", {})
    root = eval_tools.write_eval_shard([cut], tmp_path)
    result = audit_dir(root, cfg=AuditConfig(vad="energy"))
    problems = " | ".join(result["worst"][0]["problems"])
    assert "not silent after the barge-in cut" in problems
    assert "supervision/speech boundary off by" in problems
    shifted = next(b for b in result["cuts"][0]["boundaries"] if b["speaker"] == USER and b["start"] == pytest.approx(seg.start, abs=1e-4))
    assert shifted["start_err"] == pytest.approx(-0.1, abs=1e-3) and abs(shifted["end_err"]) < 1e-3
    assert "user stream clips" in problems
    assert "agent speech outside agent supervisions" in problems
    assert result["summary"]["with_problems"] == 1 and "worst conversations" in format_audit(result)
    # The per-cut function measures the same thing on the in-memory cut.
    assert audit_cut(cut, AuditConfig(vad="energy"))["barge_in"][0]["silent_after"] is False
