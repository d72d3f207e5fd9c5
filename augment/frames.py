"""80 ms frame arithmetic exactly as NeMo's DuplexS2SDataset does it, and the EOS rule for agent turns.

The reader writes ``[bos] + text_ids`` from frame ``frame_of(start)``, one token per frame, and the
EOS at ``frame_of(end)``. Frames come from lhotse's ``compute_num_frames`` at the cut's sampling
rate (the user stream, 16 kHz): samples are rounded, then frames round half up. If the EOS frame is
not past the last text token it overwrites text, so a (truncated) agent turn must span at least
``1 + n_tokens`` frames from its BOS frame to its EOS frame.

Example::

    frame_of(0.64) == 8
    eos_frame_ok(0.64, 1.28, n_tokens=7)   # 16 - 8 = 8 >= 1 + 7
    not eos_frame_ok(0.64, 1.28, n_tokens=8)
"""

from __future__ import annotations

import math
import re

from lhotse.utils import compute_num_frames

from duplexgen.pipeline.records import FRAME_S, USER_SAMPLE_RATE


def num_frames(duration: float, frame: float = FRAME_S, sampling_rate: int = USER_SAMPLE_RATE) -> int:
    """Number of frames of a cut (lhotse ``compute_num_frames``: round half up at the cut's rate)."""
    return compute_num_frames(duration, frame, sampling_rate)


def frame_of(t: float, frame: float = FRAME_S, sampling_rate: int = USER_SAMPLE_RATE) -> int:
    """The frame NeMo assigns to time ``t`` (a supervision's start -> BOS frame, its end -> EOS frame)."""
    return compute_num_frames(t, frame, sampling_rate)


def eos_frame_ok(start: float, end: float, n_tokens: int, frame: float = FRAME_S, sampling_rate: int = USER_SAMPLE_RATE) -> bool:
    """True when the EOS frame of a turn [start, end] falls after its BOS + ``n_tokens`` text frames."""
    return frame_of(end, frame, sampling_rate) - frame_of(start, frame, sampling_rate) >= 1 + n_tokens


_WORD = re.compile(r"\S+")


def estimate_tokens(text: str) -> int:
    """A conservative token count when the training tokenizer is not at hand.

    ``ceil(chars / 3) + words``: a SentencePiece/BPE LLM tokenizer (TinyLlama, SmolLM2) averages about
    4 characters per English token, so this over-counts and errs on the side of skipping a barge-in."""
    text = text.strip()
    if not text:
        return 0
    return math.ceil(len(text) / 3) + len(_WORD.findall(text))


__all__ = ["num_frames", "frame_of", "eos_frame_ok", "estimate_tokens"]
