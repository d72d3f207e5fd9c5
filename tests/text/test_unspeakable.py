"""Content a voice cannot read as written never reaches the audio unverbalized: real rows of each kind.

Real rows: the 13 Alpaca rows with (unfenced) Python, the UltraChat rows with fenced JavaScript/Matlab, an
e-mail address and a web address (../shared/data), and MS MARCO answers with IPA. ../shared/data holds the
first 200 lines of MS MARCO's dev_as_references.json, which have no IPA; the three IPA answers below are
quoted verbatim from the same file (microsoft/MSMARCO-Question-Answering @ 0f778988,
Evaluation/sample_test_data/dev_as_references.json, MIT licence), lines 710, 4124 and 7756.
No Java, SQL or shell row exists in ../shared/data; those kinds are checked on short literal snippets."""

from __future__ import annotations

import json
import re

import pytest

from duplexgen.core.records import RejectError
from duplexgen.recipes import get_recipe
from duplexgen.text.normalize import (
    NormalizeConfig,
    apply_options,
    find_unspeakable,
    normalize_conversation,
    normalize_for_speech,
    verbalize_url,
)

RULES = NormalizeConfig(numbers="rules")

IPA_ANSWERS = {  # query_id -> answer
    10361: "A raceme (/reɪˈsiːm/ or /rəˈsiːm/) is an unbranched, indeterminate type of inflorescence bearing pedicellate flowers — flowers having short floral stalks called pedicels — along its axis.",
    13775: "The chupacabra or chupacabras (. [tʃupaˈkaβɾas] , literally goat-sucker) is a legendary cryptid rumored to inhabit parts of the Americas, with the first sightings reported in Puerto Rico.",
    17407: "Guinness ˈɡɪnɨs is an irish dry stout that originated in the brewery of arthur guinness.",
}


def outcomes(recipe_name: str, path, **options) -> dict[str, object]:
    """row id -> the normalized Conversation or the RejectError, through the recipe and the source options."""
    recipe = get_recipe(recipe_name)
    out = {}
    for row in recipe.read_rows(str(path)):
        try:
            conv = apply_options(recipe.to_conversation(row, seed=7, **options), options)
            out[row.row_id] = normalize_conversation(conv)
        except RejectError as e:
            out[row.row_id] = e
    return out


def kind(result) -> str:
    return result.reason.split(" (")[0] if isinstance(result, RejectError) else "kept"


#: Alpaca rows (index in the file) whose instruction input or output is program text (read by eye): Python
#: functions, and two inputs of Python statements ("s1 = 'waterbottle'", "x = [1, 2, 3, 4]\ny = [i**2 for i in x]").
ALPACA_CODE_ROWS = {"17", "146", "147", "149", "150", "152", "153", "156", "196"}
ALPACA_HF500_CODE_ROWS = ALPACA_CODE_ROWS | {"342", "347", "349", "483", "486"}


@pytest.mark.parametrize("name, code_rows", [("alpaca_200.json", ALPACA_CODE_ROWS), ("alpaca_samples_hf500.json", ALPACA_HF500_CODE_ROWS)])
def test_alpaca_code_rows_are_rejected_naming_the_code_and_nothing_else_is(shared_data, name, code_rows):
    path = shared_data(f"alpaca/{name}")
    rows = json.loads(path.read_text())
    results = outcomes("alpaca", path)
    unspeakable = {rid: r for rid, r in results.items() if kind(r).startswith("unspeakable")}
    assert {rid for rid, r in unspeakable.items() if kind(r) == "unspeakable code"} == code_rows
    for rid in code_rows:  # the reason quotes code from the row
        quoted = re.search(r"code '(.+?)'(?:\.\.\.)?\)", unspeakable[rid].reason).group(1)
        row_text = " ".join((rows[int(rid)]["input"] + " " + rows[int(rid)]["output"]).split())
        assert len(quoted) >= 10 and quoted in row_text, (quoted, row_text[:80])
    # the only other unspeakable row: an input that is a news URL too long to read aloud (/2010/07/05/...)
    assert {rid: kind(r) for rid, r in unspeakable.items() if rid not in code_rows} == {"165": "unspeakable url"}
    assert "nytimes" in rows[165]["input"]
    for r in results.values():  # what is kept has nothing unspeakable left
        if not isinstance(r, RejectError):
            assert not [f for t in r.turns for f in find_unspeakable(t.text)], r.turns


def test_ultrachat_fenced_code_rejected_addresses_read_out(shared_data):
    path = shared_data("ultrachat/ultrachat_small.head50.jsonl")
    results = outcomes("ultrachat", path)
    assert kind(results["6"]) == "unspeakable code" and "function isPerfectSquare" in results["6"].reason  # JavaScript
    assert kind(results["40"]) == "unspeakable code" and "numericData" in results["40"].reason  # Matlab
    # the agent's e-mail address was read out ("HR at company dot com"), then the long turn was cut at a sentence
    assert results["10"].meta["normalized"]["1"][:1] == ["email"] and "@" not in " ".join(t.text for t in results["10"].turns)
    url = " ".join(t.text for t in results["15"].turns)
    assert "w w w dot bardhvac dot com" in url and "http" not in url
    # the per-source option: reject instead of reading addresses out
    strict = outcomes("ultrachat", path, normalize={"unspeakable": "reject", "numbers": "rules"})
    assert kind(strict["15"]) == "unspeakable url" and kind(strict["10"]) == "unspeakable email"


def test_ms_marco_ipa_is_rejected_and_plain_answers_pass(shared_data):
    for qid, answer in IPA_ANSWERS.items():
        with pytest.raises(RejectError, match=r"^unspeakable ipa \(ipa '[/\[ˈ]"):
            normalize_for_speech(answer, RULES)
    kept = 0
    for line in shared_data("ms_marco/dev_as_references.head200.jsonl").read_text().splitlines():
        for answer in json.loads(line)["answers"]:
            try:
                text, _ = normalize_for_speech(answer, RULES)
            except RejectError as e:
                assert not e.reason.startswith("unspeakable"), (answer, e.reason)  # no false alarm on real answers
                continue
            kept += 1
            assert not find_unspeakable(text)
    assert kept > 180


@pytest.mark.parametrize("text, expected", [
    ("SELECT name, age FROM users WHERE age > 30;", "code"),
    ("#!/bin/bash\nif [ -z \"$1\" ]; then\n  echo usage\nfi", "code"),
    ("Install it:\n$ sudo apt-get install -y ffmpeg\n$ pip install --upgrade numpy", "code"),
    ("public static void main(String[] args) {\n  System.out.println(\"hi\");\n}", "code"),
    ("<div class=\"x\">\n<p>Hello</p>\n</div>", "code"),
    ("| a | b |\n|---|---|\n| 1 | 2 |", "table"),
    ("Use the --> operator <-- here", "symbols"),
])
def test_unspeakable_kinds_are_named(text, expected):
    with pytest.raises(RejectError, match=f"^unspeakable {expected}"):
        normalize_for_speech(text, RULES)


def test_what_a_reader_would_say_is_verbalized():
    assert verbalize_url("https://www.example.com/docs") == "w w w dot example dot com slash docs"
    assert verbalize_url("https://www.nytimes.com/2010/07/05/business/global/05phone.html?ref=x") is None  # too long to read
    assert normalize_for_speech("See https://x.org/docs, then x = 5 + 3.", RULES)[0] == "See x dot org slash docs, then x equals five plus three."
    assert normalize_for_speech("Fill in the blank: The cat ____ on the mat.", RULES)[0] == "Fill in the blank: The cat blank on the mat."
    # prose with the odd semicolon, colon or equals sign is not code
    for prose in ("Verb: walk; Adjective: interesting; Adverb: quickly.", "Base: 5cm; Height: 6cm", "The value of x is 2."):
        normalize_for_speech(prose, RULES)
    with pytest.raises(ValueError, match="normalize.unspeakable"):
        NormalizeConfig(unspeakable="drop")
