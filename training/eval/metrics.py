"""Text metrics of the evaluation: BLEU of the model's text channel, WER of ASR transcripts.

The behavioural metrics (turn-taking, interruption, pause handling, backchannel, noise) are in
:mod:`duplexgen.training.eval.fdbench`, over Full-Duplex-Bench-style cases.

Example::

    bleu(["the cat sat on the mat"], ["the cat sat on the mat"])   # 100.0
    wer(["the dog sat"], ["the cat sat"])                          # 0.3333
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

from duplexgen.core.events import rounded as _r


def bleu(hyps: Sequence[str], refs: Sequence[str]) -> Optional[float]:
    """Corpus BLEU (sacrebleu, default 13a tokenisation) of hypotheses against one reference each."""
    import sacrebleu

    if len(hyps) != len(refs):
        raise ValueError(f"bleu: {len(hyps)} hypotheses for {len(refs)} references")
    if not hyps:
        return None
    return _r(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score, 3)


def normalize_text(text: str) -> str:
    """Lower case, punctuation removed, single spaces (for WER against ASR output)."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def wer(hyps: Sequence[str], refs: Sequence[str]) -> Optional[float]:
    """Word error rate (jiwer) on normalised text; empty references are skipped."""
    import jiwer

    pairs = [(normalize_text(h), normalize_text(r)) for h, r in zip(hyps, refs) if normalize_text(r)]
    if not pairs:
        return None
    return _r(jiwer.wer([r for _, r in pairs], [h for h, _ in pairs]))


__all__ = ["bleu", "wer", "normalize_text"]
