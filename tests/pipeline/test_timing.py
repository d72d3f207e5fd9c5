"""Natural and custom timing end to end: 200 conversations through the real pipeline (Ray, espeak, Shar), measured
from the audio by VAD against the profile (KS test, medians within one frame), no backchannel inside an agent word,
valid shards that NeMo's DuplexS2SDataset reads, the report's timing plots; and custom timing fitted from a
two-channel real-conversations set (segments and audio) and recorded in every cut.

Short dialogs from a small text pool (``recipes/samples/short_dialogs.py``) and two user voices keep espeak's
work to a few dozen renders (the TTS cache serves the rest).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from duplexgen.augment.config import TimingConfig
from duplexgen.augment.timing import draw_offsets
from duplexgen.core.schema import check_custom
from duplexgen.core.shards import load_shards
from duplexgen.core.timing import FRAME_S, frame_of
from duplexgen.pipeline.cli import main
from duplexgen.recipes.samples.short_dialogs import write_rows, write_two_channel_set

pytestmark = pytest.mark.slow

N_CONVERSATIONS = 200


class WordTokenizer:
    """What DuplexS2SDataset needs offline: bos, eos, pad, text_to_ids (one id per word)."""

    bos, eos, pad, unk_id = 1, 2, 0, 3

    def text_to_ids(self, text: str) -> list[int]:
        return [4 + (sum(map(ord, w)) % 1000) for w in text.split()]


def short_config(tmp: Path, n: int) -> Path:
    rows = write_rows(tmp / "rows.jsonl", n, seed=0)
    cfg = tmp / "timing.yaml"
    cfg.write_text(f"seed: 7\nshard_size: 50\nsources:\n  - recipe: real_conversations\n    path: {rows}\n"
                   "tts:\n  num_user_voices: 2\n")
    return cfg


@pytest.fixture(scope="module")
def natural_out(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("natural")
    out = tmp / "out"
    assert main(["generate", str(short_config(tmp, N_CONVERSATIONS)), f"output_dir={out}", "ray.render_workers=2",
                 "augment.timing=natural"]) == 0
    return out


def test_natural_timing_measured_from_the_audio_matches_the_profile(natural_out: Path):
    from duplexgen.pipeline.audit import audit_dir
    from duplexgen.pipeline.validate import validate_dir

    report = validate_dir(natural_out / "shards")
    assert report.violations == [] and report.cuts == N_CONVERSATIONS
    result = audit_dir(natural_out / "shards")
    (natural_out / "audit_summary.json").write_text(json.dumps(result["summary"], indent=1))
    [timing] = result["summary"]["timing"]
    off = timing["offsets"]
    assert timing["profile"] == "natural" and timing["conversations"] == N_CONVERSATIONS
    assert off["n"] >= 500  # turn transitions measured (barge-ins are not transitions)
    assert off["ks_p"] > 0.01, off
    assert abs(off["median_measured"] - off["median_profile"]) <= FRAME_S, off
    assert abs(off["overlap_share_measured"] - off["overlap_share_profile"]) < 0.06, off
    assert timing["offsets_pass"]
    assert timing["backchannels"] >= 50 and timing["backchannels_inside_word"] == 0
    assert timing["backchannels_without_word_timings"] == 0
    assert timing["stop_delay"]["n"] >= 30 and timing["stop_delay"]["ks_p"] > 0.01, timing["stop_delay"]
    assert result["summary"]["with_problems"] == 0, result["worst"]


def test_natural_cuts_record_their_profile_and_nemo_reads_them(natural_out: Path):
    from lhotse import CutSet
    from nemo.collections.speechlm2.data import DuplexS2SDataset

    tok = WordTokenizer()
    ds = DuplexS2SDataset(tok, frame_length=FRAME_S, source_sample_rate=16000, target_sample_rate=22050,
                          input_roles=["user"], output_roles=["agent"])
    cuts = list(CutSet.from_shar(in_dir=natural_out / "shards" / "real_conversations"))
    assert len(cuts) == N_CONVERSATIONS
    overlapped_agent_starts = 0
    for i in range(0, len(cuts), 25):
        batch_cuts = CutSet.from_cuts(cuts[i : i + 25])
        batch = ds[batch_cuts]
        for b, cut in enumerate(batch_cuts):
            assert check_custom({k: v for k, v in cut.custom.items() if k not in ("shard_origin", "shar_epoch")}) == []
            assert cut.custom["timing"]["profile"] == "natural"
            assert cut.custom["timing"]["params"] == TimingConfig().params()
            tokens = batch["target_tokens"][b]
            users = [s for s in cut.supervisions if s.speaker == "user" and (s.custom or {}).get("kind") != "backchannel"]
            for s in cut.supervisions:
                if s.speaker != "agent":
                    continue
                start, end, ids = frame_of(s.start), frame_of(s.end), tok.text_to_ids(s.text)
                assert tokens[start] == tok.bos and tokens[start + 1 : start + 1 + len(ids)].tolist() == ids
                assert tokens[end] == tok.eos
                overlapped_agent_starts += any(u.start < s.start < u.end for u in users)
    assert overlapped_agent_starts >= 100  # the agent really does come in before the user has finished


def test_report_plots_the_realised_timing_against_the_profile(natural_out: Path):
    from duplexgen.pipeline.report import write_report

    page = Path(write_report(natural_out, examples=1)).read_text()
    assert "Timing: natural profile" in page and "offsets KS test against the profile" in page
    assert page.count("data:image/png;base64,") >= 5


def test_custom_timing_is_fitted_from_real_two_channel_conversations(tmp_path: Path):
    from duplexgen.augment.config import AugmentConfig
    from duplexgen.pipeline.timing import resolve_timing

    # Offsets unlike the natural profile (fewer, shallower overlaps; slower answers), at most 0.5 s deep.
    truth = TimingConfig(offset_mu_s=0.15, offset_sigma_s=0.15, offset_tau_s=0.4, max_gap_s=2.0, max_overlap_s=0.5)
    drawn = draw_offsets(truth, 40 * 8, seed=11).reshape(40, 8)
    real = write_two_channel_set(tmp_path / "real", drawn.tolist())
    fitted = {}
    for how in ("segments", "vad"):
        cfg = resolve_timing(AugmentConfig.from_dict({"timing": "custom", "timing_custom": {"estimate_from": str(real), "estimate_with": how}}))
        tc = cfg.timing_custom
        assert tc.estimated["transitions"] == 320 and tc.estimated["conversations"] == 40, tc.estimated
        assert tc.estimated["overlap_share"] == pytest.approx(np.mean(drawn < 0), abs=0.01), how
        assert tc.offset_mu_s == pytest.approx(0.15, abs=0.05) and tc.offset_sigma_s == pytest.approx(0.15, abs=0.04), (how, tc)
        assert tc.offset_tau_s == pytest.approx(0.4, abs=0.07), (how, tc)
        fitted_draws = draw_offsets(tc, 20000, seed=1)
        assert np.median(fitted_draws) == pytest.approx(np.median(drawn), abs=0.03)
        assert tc.backchannel_prob == TimingConfig().backchannel_prob  # not part of the fit
        fitted[how] = tc
    tc = fitted["segments"]  # what generate fits by default (estimate_with=segments)
    # A generate run fits once and records the fitted profile in config.json and in every cut.
    out = tmp_path / "out"
    assert main(["generate", "--no-ray", str(short_config(tmp_path, 6)), f"output_dir={out}", "augment.timing=custom",
                 f"augment.timing_custom.estimate_from={real}"]) == 0
    written = json.loads((out / "config.json").read_text())["augment"]["timing_custom"]
    assert written["estimated"]["transitions"] == 320 and written["offset_tau_s"] == tc.offset_tau_s
    cuts = list(load_shards(out / "shards" / "real_conversations"))
    assert len(cuts) == 6
    for cut in cuts:
        rec = cut.custom["timing"]
        assert rec["profile"] == "custom" and rec["params"]["offset_mu_s"] == tc.offset_mu_s
        assert rec["estimated"]["from"] == str(real) and rec["estimated"]["transitions"] == 320


def test_custom_estimate_needs_a_shared_clock(tmp_path: Path):
    from duplexgen.augment.config import AugmentConfig
    from duplexgen.pipeline.timing import resolve_timing
    from duplexgen.recipes.samples import short_dialogs

    rows = short_dialogs.write_rows(tmp_path / "text_only.jsonl", 5)
    with pytest.raises(ValueError, match=r"no two-channel rows \(5 per-turn rows"):
        resolve_timing(AugmentConfig.from_dict({"timing": "custom", "timing_custom": {"estimate_from": str(rows)}}))
    few = write_two_channel_set(tmp_path / "few", [[0.3, -0.2]])
    with pytest.raises(ValueError, match="only 2 speaker changes to fit"):
        resolve_timing(AugmentConfig.from_dict({"timing": "custom", "timing_custom": {"estimate_from": str(few)}}))
