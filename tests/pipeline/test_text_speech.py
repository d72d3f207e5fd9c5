"""`duplexgen validate` fails a shard whose text is not its speech, and the report shows the agreement rate.

Real Alpaca rows (../shared/data) with contractions, articles and hyphenated words are rendered with espeak
and cut by barge-ins (probability 1) through the real audio stage; the shard validates. Then the two faults
this check exists for are put back by hand, the way the old code produced them: an alignment that reads "I"
for "I'll" (espeak's word event), and a barge-in text rebuilt from timed words without the words espeak did
not time ("I afraid I don have"). Each must fail validation, naming the cut (and the cut point)."""

from __future__ import annotations

import copy
import re
import types

import pytest
from duplexgen.core.records import ManifestEntry
from duplexgen.core.words import word_symbols
from duplexgen.pipeline.cli import main
from duplexgen.pipeline.config import load_generate_config
from duplexgen.pipeline.report import section_text_speech
from duplexgen.pipeline.shards import write_shard
from duplexgen.pipeline.stages import (
    AudioStage,
    ChunkTask,
    SourceStage,
    cut_stats,
    text_speech_stats,
    unpack_chunk,
)
from duplexgen.pipeline.summary import format_summary, summarize
from duplexgen.pipeline.validate import text_speech_violations, validate_dir

HARD = re.compile(r"\w'\w|\w-\w|\b(?:of|as|was) (?:a|an|the)\b")


@pytest.fixture(scope="module")
def cuts(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("text_speech")
    cfg = load_generate_config("demo", [f"output_dir={out}", "augment.barge_in.prob=1.0", "augment.backchannel.enabled=false"])
    task = ChunkTask("alpaca", "alpaca", str(shared_data("alpaca/alpaca_200.json")), 0, 60, 0, 1234)
    _, convs, _ = unpack_chunk(SourceStage().process(task))
    picked = [c for c in convs if HARD.search(c.turns[1].text) and len(c.turns[1].text) > 120][:6]
    assert len(picked) == 6
    stage = AudioStage(cfg)
    return out, [stage.make_cut(c) for c in picked]


def _end(sup: dict) -> float:
    return sup["start"] + sup["duration"]


def write(cuts, folder):
    folder.mkdir(parents=True)
    return write_shard(cuts, folder, 0, folder.parent / ".staging")


def test_real_rows_spell_their_text_and_keep_exact_prefixes(cuts, tmp_path):
    out, made = cuts
    write(made, tmp_path / "shards" / "alpaca")
    report = validate_dir(tmp_path / "shards")
    assert report.cuts == 6 and report.violations == []
    stats = [text_speech_stats(c) for c in made]
    assert all(s["spelled"] == s["aligned"] == s["supervisions"] for s in stats)
    n_barge = sum(len(c.custom["barge_in"]) for c in made)
    assert n_barge >= 4 and sum(s["barge_ins_exact"] for s in stats) == n_barge
    for c in made:
        for s in c.supervisions:
            assert s["custom"]["timing_source"] == "espeak-events"
        for b in c.custom["barge_in"]:
            sup = next(s for s in c.supervisions if abs(_end(s) - b["end"]) < 1e-3 and s["speaker"] == "agent")
            assert b["full_text"].startswith(sup["text"]) and sup["text"] == b["spoken_text"]
            assert [a[0] for a in sup["alignment"]["word"]] == word_symbols(sup["text"])[: b["words_kept"]] == word_symbols(sup["text"])
    # the summary and the report show the agreement rate
    entry = ManifestEntry("alpaca", 0, len(made), 1.0, [], {}, 0.0, stats=[cut_stats(c) for c in made])
    summary = summarize(str(out), entries=[entry])
    ts = summary["text_speech"]
    assert ts["spelled_rate"] == 1.0 and ts["barge_in_exact_rate"] == 1.0 and ts["aligned"] == ts["supervisions"]
    assert "word alignments spell their text" in format_summary(summary)
    table = section_text_speech(types.SimpleNamespace(summary=summary))  # the report section reads only the summary
    assert f"{ts['spelled']}/{ts['aligned']} (100.0 %)" in table and f"{n_barge}/{n_barge} (100.0 %)" in table


def test_validate_fails_an_alignment_that_does_not_spell_its_text(cuts, tmp_path):
    _, made = cuts
    broken = [copy.deepcopy(c) for c in made]
    cut, sup = next((c, s) for c in broken for s in c.supervisions
                    if s.get("alignment") and any("'" in a[0] or "-" in a[0] for a in s["alignment"]["word"]))
    items = sup["alignment"]["word"]
    k = next(i for i, a in enumerate(items) if "'" in a[0] or "-" in a[0])
    old = re.split(r"['-]", items[k][0])[0]  # what espeak's word event spelled: "I" for "I'll", "well" for "well-known"
    items[k] = [old, *items[k][1:]]
    assert any(v.startswith(f"supervision {sup['id']}: alignment does not spell the text: word {k + 1} is {old!r}")
               for v in text_speech_violations(cut))
    write(broken, tmp_path / "bad")
    report = validate_dir(tmp_path / "bad")
    assert [v for v in report.violations if "does not spell" in v] and all(v.startswith(f"{cut.id}: ") for v in report.violations)
    assert main(["validate", str(tmp_path / "bad")]) == 1


def test_validate_fails_a_barge_in_text_that_is_not_a_prefix(cuts, tmp_path):
    _, made = cuts
    broken = [copy.deepcopy(c) for c in made]
    cut = next(c for c in broken if c.custom["barge_in"])
    b = cut.custom["barge_in"][0]
    sup = next(s for s in cut.supervisions if s["speaker"] == "agent" and abs(_end(s) - b["end"]) < 1e-3)
    # the old fallback: the timed words joined, without punctuation or a word espeak did not time
    words = [a[0] for a in sup["alignment"]["word"]]
    rebuilt = " ".join(words[:1] + words[2:]) if len(words) > 2 else words[0] + "x"
    b["spoken_text"] = sup["text"] = rebuilt
    violations = text_speech_violations(cut)
    assert any(v.startswith(f"barge-in at t_cut={b['t_cut']:.3f} s (agent turn {b['agent_turn']}): kept text") and "not an exact prefix" in v
               for v in violations), violations
    write(broken, tmp_path / "bad")
    report = validate_dir(tmp_path / "bad")
    assert any(v.startswith(f"{cut.id}: barge-in at t_cut=") for v in report.violations)
    assert main(["validate", str(tmp_path / "bad")]) == 1
