"""The one definition of "the words of a text" (aligners, barge-in cuts, validate and exports all use it)."""

from __future__ import annotations

import pytest

from duplexgen.core.words import alignment_problem, is_word_prefix, prefix_through, word_symbols, word_tokens


@pytest.mark.parametrize("text, words", [
    ("Okay, I'll stop there.", ["Okay", "I'll", "stop", "there"]),
    ("Describe the structure of an atom.", ["Describe", "the", "structure", "of", "an", "atom"]),
    ('"Mm-hmm."', ["Mm-hmm"]),
    ("It's 42 degrees at 3:30 p.m., Dr. Smith said; e.g. the U.S.A. is well-known.",
     ["It's", "42", "degrees", "at", "3:30", "p.m.", "Dr", "Smith", "said", "e.g.", "the", "U.S.A.", "is", "well-known"]),
    ("a - b — c & d (see: here)", ["a", "b", "c", "d", "see", "here"]),  # symbols alone are not words
    ("The students' books, (e.g. these)!", ["The", "students", "books", "e.g.", "these"]),
    ("", []),
])
def test_words_are_tokens_without_edge_punctuation_in_original_spelling(text, words):
    assert word_symbols(text) == words
    for w in word_tokens(text):  # spans point into the text
        assert text[w.start : w.end] == w.text and not text[w.token_end : w.token_end + 1].strip()


def test_prefix_through_keeps_the_text_verbatim():
    text = "Okay,  I'll stop there. Then go!"
    assert prefix_through(text, 1) == "Okay,"
    assert prefix_through(text, 2) == "Okay,  I'll"  # the text's own spacing, never rebuilt
    assert prefix_through(text, 6) == text
    assert is_word_prefix(text, "Okay,  I'll") and not is_word_prefix(text, "Okay, I'll") and not is_word_prefix(text, "Oka")
    assert not is_word_prefix(text, "") and is_word_prefix(text, text)


def test_alignment_problem_names_the_first_difference():
    text = "Okay, I'll stop there."
    good = [("Okay", 0.0, 0.4), ("I'll", 0.5, 0.7), ("stop", 0.7, 1.0), ("there", 1.0, 1.4)]
    assert alignment_problem(text, good, 0.0, 1.4) is None
    merged = [("Okay", 0.0, 0.4), ("I", 0.5, 0.7), ("stop", 0.7, 1.0), ("there", 1.0, 1.4)]
    assert alignment_problem(text, merged) == ("alignment does not spell the text: word 2 is 'I' where the text has \"I'll\" "
                                               "(4 aligned words, 4 in the text)")
    assert "word 4 is nothing" in alignment_problem(text, good[:3])
    assert "backwards" in alignment_problem(text, [good[0], ("I'll", 0.3, 0.7)] + good[2:])
    assert "outside its supervision" in alignment_problem(text, good, 0.0, 1.2)
