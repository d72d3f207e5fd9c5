"""Word alignments spell the text, for every backend: espeak's events on real rows, pocketsphinx forced
alignment on real recordings, the estimate as the documented last resort.

Real rows from ../shared/data (Alpaca, UltraChat, MS MARCO answers) after normalization, chosen for what espeak
does not time word by word: contractions ("I'll"), hyphenated words, abbreviations, numbers and the short
function words espeak speaks inside the previous word's event ("of the", "as a"). Before this, a third to a half
of such turns had alignments that did not spell their text ("I" for "I'll", no "an" in "of an atom")."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from duplexgen.core.records import Word
from duplexgen.core.words import alignment_problem, word_symbols
from duplexgen.recipes import get_recipe
from duplexgen.core.records import RejectError
from duplexgen.text.normalize import NormalizeConfig, normalize_conversation, normalize_for_speech
from duplexgen.tts.align import ForcedAligner, estimate_word_timings, ipa_to_cmu, spelled_words
from duplexgen.tts.base import Voice
from duplexgen.tts.espeak import EVENT_PHONEME, EVENT_WORD, EspeakBackend, _Engine, espeak_phonemes, words_from_events
from duplexgen.tts.render import Renderer

AGENT = Voice.make("en-us", "espeak", pitch=50, range=50, rate=170)
USER = Voice.make("en-gb-scotland+f2", "espeak", pitch=60, range=50, rate=190)


def spelled(text, words, duration):
    return alignment_problem(text, [(w.text, w.start, w.end) for w in words], 0.0, duration)


def real_turns(shared_data, per_source: int = 12) -> list[str]:
    """Normalized turn texts from real rows that contain a contraction, a hyphenated word, a digit or "of the"-like pairs."""
    hard = re.compile(r"\w'\w|\w-\w|\d|\b(?:of|as|was|such) (?:a|an|the)\b")
    picked = []
    cfg = NormalizeConfig(numbers="rules")
    for recipe_name, rel in (("alpaca", "alpaca/alpaca_200.json"), ("ultrachat", "ultrachat/ultrachat_small.head50.jsonl")):
        recipe, n = get_recipe(recipe_name), 0
        for row in recipe.read_rows(str(shared_data(rel))):
            try:
                conv = normalize_conversation(recipe.to_conversation(row, seed=1), cfg)
            except Exception:  # noqa: BLE001 - rejected rows are not turns
                continue
            for t in conv.turns:
                if hard.search(t.text) and n < per_source:
                    picked.append(t.text)
                    n += 1
    for line in shared_data("ms_marco/dev_as_references.head200.jsonl").read_text().splitlines():
        for answer in json.loads(line)["answers"][:1]:
            try:
                text, _ = normalize_for_speech(answer, cfg)
            except RejectError:
                continue
            if hard.search(text) and len(picked) < 3 * per_source:
                picked.append(text)
    return picked


def test_espeak_words_spell_real_turns(shared_data, tmp_path):
    texts = real_turns(shared_data)
    assert len(texts) >= 30
    renderer = Renderer(EspeakBackend(), aligner="none")  # espeak's own events must do it, no fallback
    joined = 0
    for i, text in enumerate(texts):
        turn = renderer.render(text, AGENT if i % 2 else USER, "agent" if i % 2 else "user")
        assert turn.timing_source == "espeak-events", text
        assert spelled(turn.text, turn.words, turn.duration) is None, (text, spelled(turn.text, turn.words, turn.duration))
        assert turn.words[0].start < 0.1 and turn.words[-1].end <= turn.duration + 1e-6
        joined += sum(w.joined for w in turn.words)
    assert joined >= 10  # real text has words espeak speaks as one, and they still each get their own span


def test_merged_words_split_on_a_phoneme_boundary():
    """espeak speaks "of an" as one word event (phonemes ə v ə n); the split between them is a phoneme start."""
    text = "Describe the structure of an atom."
    audio, events, counts = _Engine.get().synth(text, "en-us", 175, 50, 50)
    word_events = [e for e in events if e[0] == EVENT_WORD]
    assert len(word_events) == 5  # six words, five events: "an" has none of its own
    words = words_from_events(text, events, audio, 22050, counts)
    assert [w.text for w in words] == word_symbols(text)
    of, an = words[3], words[4]
    assert of.joined and not an.joined and of.end == an.start
    phoneme_starts = {e[3] for e in events if e[0] == EVENT_PHONEME and e[4]}
    assert round(an.start * 22050) in phoneme_starts
    assert counts[3] == len(espeak_phonemes("of")) == 2 and counts[4] == 2


def test_phoneme_events_change_no_sample():
    """Turning on espeak's phoneme events (for the splits) leaves the audio and the word events as they were:
    two fresh processes, one with the flag and one without, render the same bytes."""
    code = (
        "import hashlib, sys, duplexgen.tts.espeak as E\n"
        "E.espeakINITIALIZE_PHONEME_EVENTS = int(sys.argv[1])\n"
        "a, ev, _ = E._Engine.get().synth('It is one of the best, such as an apple.', 'en-us+f2', 175, 50, 50)\n"
        "print(hashlib.md5(a.tobytes()).hexdigest(), [e[3] for e in ev if e[0] == E.EVENT_WORD])\n"
    )
    with_events, without = (subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, check=True).stdout
                            for flag in ("1", "0"))
    assert with_events == without and len(with_events) > 40


def test_forced_alignment_on_real_speech(shared_data):
    aligner = ForcedAligner()
    # AMI ES2011a 0-6 s and its two annotated segments (../shared/data/asr/asr_cuts.lhotse.jsonl):
    # [1.46, 2.82] "I'M ABIGAIL CLAFLIN", [3.36, 4.36] "YOU CAN CALL ME ABBIE"
    audio, sr = sf.read(shared_data("asr/audio/ES2011a.Headset-0-40s-46s.wav"), dtype="float32")
    text = "I'M ABIGAIL CLAFLIN YOU CAN CALL ME ABBIE"
    words = aligner.align(audio, sr, text)
    assert words is not None and spelled(text, words, len(audio) / sr) is None
    # each segment's first and last word within 60 ms of the annotated edges (pocketsphinx frames are 10 ms)
    for first, last, start, end in ((0, 2, 1.46, 2.82), (3, 7, 3.36, 4.36)):
        assert abs(words[first].start - start) < 0.06 and abs(words[last].end - end) < 0.06, (words, start, end)
    # a whole utterance: 36 words, "ANTECEDENTS" etc.; fast on CPU
    audio, sr = sf.read(shared_data("asr/audio/2412-153948-0000.flac"), dtype="float32")
    text = ("IF THE READER WILL EXCUSE ME I WILL SAY NOTHING OF MY ANTECEDENTS NOR OF THE CIRCUMSTANCES WHICH LED ME TO "
            "LEAVE MY NATIVE COUNTRY THE NARRATIVE WOULD BE TEDIOUS TO HIM AND PAINFUL TO MYSELF")
    t0 = time.perf_counter()
    words = aligner.align(audio, sr, text)
    assert time.perf_counter() - t0 < 5.0
    assert words is not None and spelled(text, words, len(audio) / sr) is None
    # a word pocketsphinx's dictionary lacks gets its pronunciation from espeak ("Claflin", "3:30")
    assert ipa_to_cmu(espeak_phonemes("Claflin")) == ["K", "L", "AE", "F", "L", "IH", "N"]


def test_fallbacks_say_where_the_times_come_from():
    text = "Okay, I'll stop there."
    audio = np.zeros(22050, np.float32)
    est = estimate_word_timings(text, 1.0)
    assert [w.text for w in est] == ["Okay", "I'll", "stop", "there"] and est[-1].end == pytest.approx(1.0)

    class Failing:
        name = "failing"

        def align(self, audio, sample_rate, text):
            return None

    wrong = [Word("Okay", 0, 0.2), Word("I", 0.2, 0.4), Word("stop", 0.4, 0.6), Word("there", 0.6, 0.9)]
    assert spelled_words(text, wrong, "espeak-events", audio, 22050, None)[1] == "estimate"
    assert spelled_words(text, wrong, "espeak-events", audio, 22050, Failing())[1] == "estimate"
    good = [Word("Okay", 0, 0.2), Word("I'll", 0.2, 0.4), Word("stop", 0.4, 0.6), Word("there", 0.6, 0.9)]
    assert spelled_words(text, good, "durations", audio, 22050, Failing()) == (good, "durations")
