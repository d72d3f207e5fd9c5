"""Timing constants of the duplex layout, each defined once, and NeMo's 80 ms frame / EOS rule.

- ``GAP_S``: silence between turns (paper: 0.64 s = 8 frames of 80 ms).
- ``BARGE_IN_KEEP_S``: agent speech kept after a user barges in (paper: 0.64 s). The same number as
  ``GAP_S`` by the paper's choice, not by definition: they are separate knobs.
- ``FRAME_S``: the model's frame (80 ms, 12.5 frames/s).

The reader (NeMo's DuplexS2SDataset) writes ``[bos] + text_ids`` from frame ``frame_of(start)``, one
token per frame, and the EOS at ``frame_of(end)``. Frames come from lhotse's ``compute_num_frames``
at the cut's sampling rate (the user stream, 16 kHz): samples are rounded, then frames round half
up. If the EOS frame is not past the last text token it overwrites text, so a (truncated) agent turn
must span at least ``1 + n_tokens`` frames from its BOS frame to its EOS frame.

Example::

    frame_of(0.64) == 8
    eos_frame_ok(0.64, 1.28, n_tokens=7)   # 16 - 8 = 8 >= 1 + 7
    not eos_frame_ok(0.64, 1.28, n_tokens=8)
"""

from __future__ import annotations

import math

#: The user stream (NeMo resamples the source audio to 16 kHz; we store it at that rate).
USER_SAMPLE_RATE = 16000
#: The agent stream (NanoCodec's rate; NeMo <= 2.6 never resamples target audio).
AGENT_SAMPLE_RATE = 22050
#: The model's frame: 80 ms.
FRAME_S = 0.08
#: Paper default: 0.64 s = 8 frames of 80 ms between turns.
GAP_S = 0.64
#: Paper default: agent speech kept after the user starts to barge in.
BARGE_IN_KEEP_S = 0.64


def num_frames(duration: float, frame: float = FRAME_S, sampling_rate: int = USER_SAMPLE_RATE) -> int:
    """Number of frames of a cut: lhotse's ``compute_num_frames`` (round half up at the cut's rate), written out
    because importing lhotse imports torch (~2 CPU s per worker); ``tests/core`` checks it against lhotse's."""
    num_samples = round(duration * sampling_rate)
    window_hop = round(frame * sampling_rate)
    return int((num_samples + window_hop // 2) // window_hop)


def frame_of(t: float, frame: float = FRAME_S, sampling_rate: int = USER_SAMPLE_RATE) -> int:
    """The frame NeMo assigns to time ``t`` (a supervision's start -> BOS frame, its end -> EOS frame)."""
    return num_frames(t, frame, sampling_rate)


def eos_frame_ok(start: float, end: float, n_tokens: int, frame: float = FRAME_S, sampling_rate: int = USER_SAMPLE_RATE) -> bool:
    """True when the EOS frame of a turn [start, end] falls after its BOS + ``n_tokens`` text frames."""
    return frame_of(end, frame, sampling_rate) - frame_of(start, frame, sampling_rate) >= 1 + n_tokens


def estimate_tokens(text: str) -> int:
    """The conservative token count of the EOS rule when the training tokenizer is not at hand.

    ``ceil(chars / 3)``: a SentencePiece/BPE LLM tokenizer (TinyLlama, SmolLM2) averages about 4
    characters per English token, so this over-counts and errs on the side of skipping a barge-in
    (generation) or flagging a turn (validation); both use this one rule."""
    return math.ceil(len(text.strip()) / 3)


__all__ = ["USER_SAMPLE_RATE", "AGENT_SAMPLE_RATE", "FRAME_S", "GAP_S", "BARGE_IN_KEEP_S",
           "num_frames", "frame_of", "eos_frame_ok", "estimate_tokens"]
