"""Token counts of the training tokenizer, for NeMo's EOS rule (an agent turn must span BOS + its tokens).

Generation (shortened barge-in turns) and validation count tokens the same way: with the training
tokenizer when its path is given (``augment.tokenizer`` / ``validate --tokenizer``), else with the one
conservative estimate, :func:`duplexgen.core.timing.estimate_tokens`.

Example::

    count = token_counter("/models/TinyLlama-1.1B-Chat-v1.0")     # or token_counter(None): the estimate
    count("Red, yellow and blue.")
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from duplexgen.core.timing import estimate_tokens


def hf_token_counter(tokenizer_path: str) -> Callable[[str], int]:
    """Token counts (no special tokens) from a Hugging Face tokenizer folder or a ``.gguf`` file."""
    from transformers import AutoTokenizer

    p = Path(tokenizer_path)
    if p.suffix == ".gguf":
        tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    else:
        tok = AutoTokenizer.from_pretrained(str(p))
    return lambda text: len(tok.encode(text, add_special_tokens=False))


def token_counter(tokenizer_path: Optional[str]) -> Callable[[str], int]:
    """The training tokenizer's counter when a path is given, else the conservative estimate."""
    return hf_token_counter(tokenizer_path) if tokenizer_path else estimate_tokens


__all__ = ["hf_token_counter", "token_counter", "estimate_tokens"]
