"""The shard contract in code: every field duplexgen writes into a cut, its type and what it means.

NeMo's DuplexS2SDataset reads only the standard lhotse parts of a cut (recording = user stream,
``custom["target_audio"]`` = agent stream, supervisions with speaker "user"/"agent"); everything else
in ``custom`` is duplexgen's own metadata for validators, reports, exports and the evaluation. The
writer (``pipeline.stages``), the validator and the readers take the key names from here, so this
module is the one place a new key is added and documented.

Example::

    CUT_FIELDS["barge_in"].type        # list
    check_custom(cut.custom)           # [] when every key is known and of its type
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The Shar fields of a duplex cut and their audio format; the tar name must be exactly ``target_audio`` for NeMo.
SHAR_FIELDS = {"recording": "flac", "target_audio": "flac"}

#: Supervision speakers, as NeMo's ``input_roles`` / ``output_roles`` are configured.
SPEAKERS = ("user", "agent")

#: Supervision kinds (``supervision.custom["kind"]``): a normal turn, a barge-in phrase, a backchannel overlay.
SUPERVISION_KINDS = ("turn", "interruption", "backchannel")


@dataclass(frozen=True)
class Field:
    """One key of ``cut.custom`` (or of ``supervision.custom``)."""

    name: str
    type: type
    meaning: str
    #: Written into every cut (else only when the conversation has it).
    always: bool = True


def _fields(*fields: Field) -> dict[str, Field]:
    return {f.name: f for f in fields}


#: ``cut.custom`` keys.
CUT_FIELDS: dict[str, Field] = _fields(
    Field("target_audio", object, "the AGENT stream: a lhotse Recording, 22,050 Hz mono, same duration as the cut (NeMo's target audio)"),
    # provenance (pipeline.stages)
    Field("source", str, "name of the source in the mixture (sources[].name)"),
    Field("recipe", str, "recipe that turned the source row into a conversation"),
    Field("row_id", str, "id of the source row (stable across reruns)"),
    Field("seed", int, "run seed the conversation was generated with"),
    Field("user_voice", str, "voice of the user turns rendered by TTS (empty when the user audio is real)"),
    Field("agent_voice", str, "the one fixed agent voice"),
    Field("voices", list, "every voice in the conversation, sorted"),
    Field("timing_source", list, "where word timings come from, per distinct value over the turns (espeak-events, forced-alignment, estimate, none)"),
    Field("normalized", dict, "turn index -> the text rewrites applied to make it speakable (markdown, numbers, symbols)", always=False),
    Field("llm_model", str, "the LLM that wrote the LLM-written turns", always=False),
    Field("topic", str, "the topic of an LLM-written dialog", always=False),
    # layout and augmentation (augment.assemble)
    Field("augment_seed", int, "seed of every random choice of the layout and augmentation"),
    Field("gaps", list, "gap (s) after each laid-out turn, in timeline order; null where the next turn overlaps (barge-in); "
          "with natural/custom timing a floor-transfer offset, negative where the next turn starts before this one ends (an overlap, not a barge-in)"),
    Field("gap_turns", list, "turn index each entry of gaps follows"),
    Field("trailing_gap", float, "silence (s) after the last speech"),
    Field("gap_distribution", dict, "how gaps were drawn (distribution and its parameters)"),
    Field("barge_in", list, "barge-ins: agent_turn, user_turn, t_cut (user starts), kept (s of agent speech kept), end, fade_ms, interruption, position, frac, words_kept, words_total, n_tokens, full_text, spoken_text"),
    Field("barge_in_skipped", list, "planned barge-ins that could not be placed, with the reason"),
    Field("backchannels", list, "backchannels overlaid on the user stream during an agent turn: turn, agent_turn, text, start, end, frac "
          "(natural/custom timing also after_word_end: end of the agent word it follows)"),
    Field("backchannels_skipped", list, "planned backchannels that could not be placed, with the reason"),
    Field("dropped_turns", list, "turn indices dropped with a skipped phrase barge-in"),
    Field("augmentations", list, "user-stream augmentations applied (gain, noise, echo, reverb) with their parameters"),
    Field("timing", dict, "timing profile of a natural/custom cut (absent = the paper's fixed timing): profile, params "
          "(augment.TimingConfig numbers the offsets, barge-in stop delays and backchannels were drawn with), estimated "
          "(custom fitted from real conversations: from, with, counts), clamped (turn starts moved to keep the contract)", always=False),
    # training side (training.precompute)
    Field("target_codes_codec", str, "fingerprint of the codec that produced the precomputed target_codes field", always=False),
)

#: ``supervision.custom`` keys (absent for a plain turn without a voice).
SUPERVISION_FIELDS: dict[str, Field] = _fields(
    Field("kind", str, f"one of {SUPERVISION_KINDS}"),
    Field("voice", str, "the voice that spoke this turn"),
    Field("timing_source", str, "where this turn's word alignment comes from: espeak-events, durations, forced-alignment, estimate, none", always=False),
)


def check_custom(custom: dict[str, Any], fields: dict[str, Field] = CUT_FIELDS) -> list[str]:
    """Problems with a ``custom`` dict: unknown keys, missing always-written keys, wrong types."""
    problems = []
    for key, value in custom.items():
        f = fields.get(key)
        if f is None:
            problems.append(f"unknown custom key {key!r} (not in duplexgen.core.schema)")
        elif f.type is not object and value is not None and not isinstance(value, f.type):
            if not (f.type is float and isinstance(value, int)):
                problems.append(f"custom[{key!r}] is {type(value).__name__}, expected {f.type.__name__}")
    for f in fields.values():
        if f.always and f.name not in custom:
            problems.append(f"missing custom key {f.name!r}")
    return problems


__all__ = ["SHAR_FIELDS", "SPEAKERS", "SUPERVISION_KINDS", "Field", "CUT_FIELDS", "SUPERVISION_FIELDS", "check_custom"]
