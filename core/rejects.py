"""Why items are rejected: one short stable code per cause, what it means, and the config key that changes it.

Every :class:`~duplexgen.core.records.RejectError` carries a ``code`` from :data:`REJECT_KINDS` and a
``reason`` (the detail for that item: which turn, how long, which file). Reports count rejects by
code, so "3 x tts.too-long" groups every over-long turn whatever its length, and print the kind's
hint with the key spelled as a ``key=value`` override. In ``key``, ``sources[]`` stands for the
source the reject came from (rendered as ``sources.N`` with that source's index); ``example`` is a
value that key accepts (a test loads every ``key=example`` as an override of the demo config).

Example::

    raise RejectError(f"turn too long ({n} chars > ...)", code="normalize.too-long", stage="normalize")
    REJECT_KINDS["normalize.too-long"].hint_for(1)  # 'raise it: sources.1.options.normalize.max_turn_chars=1000'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RejectKind:
    code: str
    #: What went wrong, in words, for the summary and the report.
    summary: str
    #: The config key that changes the outcome ("" when none does); ``sources[]`` = the reject's own source.
    key: str = ""
    #: A value ``key`` accepts, shown in the hint and parsed by the tests.
    example: str = ""
    #: "raise" / "lower" / "set" the key.
    action: str = "raise"
    #: The recipes whose sources can hit this kind through a ``sources[].options`` key (empty: every recipe).
    recipes: tuple[str, ...] = ()

    def key_for(self, source_index: int | None = None) -> str:
        """``key`` with ``sources[]`` replaced by ``sources.N`` (an override's spelling) when the index is known."""
        if source_index is None or not self.key.startswith("sources[]"):
            return self.key
        return f"sources.{source_index}" + self.key[len("sources[]"):]

    def hint_for(self, source_index: int | None = None) -> str:
        if not self.key:
            return ""
        return f"{self.action} it: {self.key_for(source_index)}={self.example}"


_KINDS = [
    # --- reading the source (recipes) ---
    RejectKind("source.unreadable", "row cannot be read (malformed JSON, not an object)"),
    RejectKind("source.unknown-layout", "the row's fields match no known layout of this source (the reason names the fields found and the mapping to set)"),
    RejectKind("source.missing-field", "a field the recipe needs is missing or empty"),
    RejectKind("source.wrong-type", "a field has the wrong type"),
    RejectKind("source.no-answer", "the row has no usable answer"),
    RejectKind("source.no-query", "the row has no question text"),
    RejectKind("source.bad-turns", "the turns do not start with the user or do not alternate user/agent"),
    RejectKind("source.too-few-turns", "no complete user/agent exchange"),
    RejectKind("source.bad-value", "a value in the row is out of range"),
    RejectKind("source.audio-missing", "the row's audio file is missing or outside the dataset root",
               key="sources[].options.audio_root", example="/data/audio", action="set", recipes=("asr_qa", "real_conversations")),
    RejectKind("source.audio-unreadable", "the row's audio file cannot be decoded"),
    RejectKind("source.audio-empty", "the row's audio is empty or silent"),
    RejectKind("source.audio-too-short", "the row's audio is shorter than the minimum",
               key="sources[].options.min_audio_s", example="0.2", action="lower", recipes=("asr_qa",)),
    RejectKind("source.audio-too-long", "the row's audio is longer than the maximum",
               key="sources[].options.max_audio_s", example="60", recipes=("asr_qa", "real_conversations")),
    # --- making text speakable (text/normalize.py) ---
    RejectKind("normalize.not-text", "a turn is not text"),
    RejectKind("normalize.unspeakable", "little or no speakable text left after removing code, URLs, tables, markup"),
    RejectKind("normalize.non-latin", "a turn is mostly non-Latin script (the voices speak English)",
               key="sources[].options.normalize.max_non_latin", example="0.6"),
    RejectKind("normalize.too-long", "a turn is longer than the per-source limit (agent turns are cut at a sentence when they can be)",
               key="sources[].options.normalize.max_turn_chars", example="1000"),
    # --- the LLM stage (text/writer.py) ---
    RejectKind("llm.bad-row", "the conversation cannot be given to the LLM"),
    RejectKind("llm.no-answer", "the LLM gave no usable answer"),
    RejectKind("llm.no-dialog", "the LLM gave no usable dialog", key="llm.dialog_attempts", example="5"),
    # --- speech (tts/) ---
    RejectKind("tts.empty-text", "a turn has nothing to speak"),
    RejectKind("tts.too-long", "a turn is longer than the TTS limit", key="tts.max_chars", example="2000"),
    RejectKind("tts.non-latin", "a turn is mostly non-Latin script (the voices speak English)", key="tts.max_non_latin_fraction", example="0.5"),
    RejectKind("tts.no-audio", "the TTS produced no audio"),
    RejectKind("tts.too-short", "the rendered audio is too short"),
    RejectKind("tts.clipped", "the rendered audio is clipped", key="tts.max_clip_fraction", example="0.01"),
    RejectKind("tts.silent", "the rendered audio is near silent", key="tts.min_peak_db", example="-60", action="lower"),
    RejectKind("tts.quality", "the ASR round trip heard other words than the text", key="tts.quality_max_wer", example="0.8"),
    RejectKind("tts.sample-rate", "the render has the wrong sample rate"),
    # --- real user audio loaded at render time (recipes/asr_qa.py) ---
    RejectKind("audio.missing", "the turn's audio file is missing"),
    RejectKind("audio.unreadable", "the turn's audio cannot be decoded or has no such channel"),
    RejectKind("audio.bad-offset", "the turn's offset is past the end of its file"),
    RejectKind("audio.empty", "the turn's audio is empty or silent"),
    RejectKind("audio.too-long", "the turn's audio is longer than the maximum",
               key="sources[].options.max_audio_s", example="60", recipes=("asr_qa", "real_conversations")),
    # --- laying out the two streams (augment/) ---
    RejectKind("plan.bad-turns", "the turns do not start with the user or do not alternate user/agent"),
    RejectKind("assemble.mismatch", "rendered turns do not match the text turns"),
    # --- anything else ---
    RejectKind("crash", "an unexpected error (a bug: report it with the rejects.jsonl line)"),
    RejectKind("unclassified", "a reject raised without a code (a bug: give the RejectError a code)"),
]

#: code -> kind.
REJECT_KINDS: dict[str, RejectKind] = {k.code: k for k in _KINDS}


def check_code(code: str) -> str:
    if code not in REJECT_KINDS:
        raise ValueError(f"unknown reject code {code!r}; add it to duplexgen.core.rejects.REJECT_KINDS")
    return code


__all__ = ["RejectKind", "REJECT_KINDS", "check_code"]
