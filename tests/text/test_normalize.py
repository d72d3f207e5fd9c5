"""Text made speakable: markup removal, rejection reasons, numbers (WFST and rules), length limits, counts."""

from __future__ import annotations

import pytest

from duplexgen.core.records import Conversation, RejectError, Turn
from duplexgen.text.normalize import NormalizeConfig, count_outcomes, expand_with_rules, nemo_available, normalize_conversation, normalize_for_speech, strip_markup, truncate_at_sentence

RULES = NormalizeConfig(numbers="rules")


def test_strip_markup_lists_what_was_removed():
    text = "# Steps\n1. **Mix** the `flour`.\n2. Bake, see https://x.org/r?id=3 or [the site](http://y.org).\n\n```python\nprint(1)\n```\n| a | b |\n|---|---|\n| 1 | 2 |\nDone 🎉"
    out, changes = strip_markup(text)
    assert out == "Steps. Mix the flour. Bake, see or the site. Done."  # list items end as sentences
    assert set(changes) == {"code_block", "url", "table", "markdown", "list", "emoji"}


def test_rules_expand_numbers_units_money_and_symbols():
    cases = {
        "It costs $5.50.": "It costs five dollars and fifty cents.",
        "Add 500 g and 2 kg.": "Add five hundred grams and two kilograms.",
        "Set it to -5°C at 10:30.": "Set it to minus five degrees Celsius at ten thirty.",
        "Born in 1987, the 3rd of 4.": "Born in nineteen eighty seven, the third of four.",
        "About 1,234.5 km/h & 25% more": "About one thousand two hundred and thirty four point five kilometers per hour and twenty five percent more",
        "The 1990s had $2 million budgets.": "The nineteen nineties had two million dollars budgets.",
    }
    for written, spoken in cases.items():
        assert expand_with_rules(written) == spoken
        text, changes = normalize_for_speech(written, RULES)
        assert text == spoken and "numbers" in changes


@pytest.mark.skipif(not nemo_available(), reason="nemo_text_processing not installed")
def test_nemo_wfst_normalizer_handles_dates_and_money():
    text, changes = normalize_for_speech("The meeting is on Jan 3, 2021 and costs $12.", NormalizeConfig(numbers="nemo"))
    assert "twenty twenty one" in text and "twelve dollars" in text and not any(ch.isdigit() for ch in text)
    assert changes == ["numbers"]


def test_rejections_name_the_kind():
    # Code is never read aloud nor silently dropped: the row is rejected naming what was found.
    with pytest.raises(RejectError, match="^unspeakable code \\(code '``` x = 1 ```'\\)$"):
        normalize_for_speech("```\nx = 1\n```", RULES)
    with pytest.raises(RejectError, match="^unspeakable code"):
        normalize_for_speech("Run:\n```bash\npip install something-long --with-many flags and arguments here\n```", RULES)
    with pytest.raises(RejectError, match="^no speakable text left"):
        normalize_for_speech("?! ... !", RULES)
    with pytest.raises(RejectError, match="^non-Latin script"):
        normalize_for_speech("这是一个测试句子 ok", RULES)
    assert normalize_for_speech("42", RULES)[0] == "forty two"  # a number-only answer is speakable


def test_long_turns_truncated_at_sentences_or_rejected():
    long = " ".join(f"Sentence number {w} is here." for w in ["one", "two", "three", "four", "five", "six"])
    cfg = NormalizeConfig(numbers="rules", max_turn_chars=60)
    text, changes = normalize_for_speech(long, cfg)
    assert text == "Sentence number one is here. Sentence number two is here." and "truncated" in changes
    with pytest.raises(RejectError, match="^turn too long"):
        normalize_for_speech(long, cfg, role="user")
    with pytest.raises(RejectError, match="^turn too long"):
        normalize_for_speech(long, NormalizeConfig(numbers="rules", max_turn_chars=60, long_turn="reject"))
    assert truncate_at_sentence("x" * 100, 50) is None


def test_conversation_records_changes_and_skips_real_audio_and_placeholders():
    conv = Conversation("c", "s", "r", "0", 1, [
        Turn("user", "WHAT IS 2+2", audio_path="/a.flac"),
        Turn("agent", ""),
        Turn("user", "And **3** more?"),
        Turn("agent", "Fine."),
    ], meta={"llm": {"task": "answer"}, "normalize_options": {"numbers": "rules"}})
    normalize_conversation(conv)
    assert conv.turns[0].text == "WHAT IS 2+2"  # what was said stays verbatim
    assert conv.turns[2].text == "And three more?"
    assert conv.meta["normalized"] == {"2": ["markdown", "numbers"]}
    bad = Conversation("b", "s", "r", "1", 1, [Turn("user", "hi"), Turn("agent", "Run this:\n```\nrm -rf build/x\n```")])
    with pytest.raises(RejectError) as e:
        normalize_conversation(bad, RULES)
    assert e.value.reason.startswith("unspeakable code (turn 1 agent; code '```") and e.value.item == "b"
    counts = count_outcomes([conv, e.value, Conversation("k", "s", "r", "2", 1, [])])
    assert counts == {"kept": 2, "changed": 1, "rejected": 1, "changes": {"markdown": 1, "numbers": 1},
                      "reasons": {"unspeakable code": 1}}
    link = Conversation("l", "s", "r", "3", 1, [Turn("user", "hi"), Turn("agent", "https://only.a.link")])
    assert normalize_conversation(link, RULES).turns[1].text == "only dot a dot link"  # read out, as a reader would


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="normalize.long_turn"):
        NormalizeConfig(long_turn="split")
    with pytest.raises(ValueError, match="unknown normalize option"):
        NormalizeConfig.from_options({"max_chars": 3})
