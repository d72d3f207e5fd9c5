"""Chat clients: a list of prompts in, one reply (or an :class:`LLMError`) per prompt out.

:class:`ChatClient` owns what every backend shares: the disk cache (:mod:`duplexgen.text.cache`) and
the per-run request budget (:class:`RequestBudget`). Backends implement ``_generate`` for the prompts
that missed the cache:

- :class:`OpenAIChatClient` (``backend: openai``): any OpenAI-compatible endpoint (vLLM, NIM, Ollama,
  OpenAI) through the ``openai`` client, ``concurrency`` requests at a time, a timeout, retries with
  exponential backoff on 429/5xx/timeouts/malformed bodies (honouring ``Retry-After``). The API key is
  read from the environment variable ``api_key_env`` and never written to a config dump, a cache file
  or a log line.
- ``LocalChatClient`` (``backend: local``, :mod:`duplexgen.text.local`): a transformers model on this machine.

Example::

    client = build_client(LLMConfig(backend="openai", base_url="http://localhost:8000/v1", model="m"), "out/cache/llm")
    replies = client.complete_batch([messages_a, messages_b], return_errors=True)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from duplexgen.core.records import RejectError
from duplexgen.text.cache import ResponseCache, cache_key
from duplexgen.text.config import LLMConfig
from duplexgen.text.prompts import Messages

log = logging.getLogger(__name__)


class LLMError(RejectError):
    """One prompt that got no usable response (after retries, or over budget)."""

    def __init__(self, reason: str, *, item: str = ""):
        super().__init__(reason, stage="llm", item=item)


class RequestBudget:
    """At most ``limit`` requests to the model in this run (cache hits are free); ``None`` = no limit. Thread-safe."""

    def __init__(self, limit: Optional[int]):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Count one request; False (and nothing counted) when the budget is spent."""
        with self._lock:
            if self.limit is not None and self.used >= self.limit:
                return False
            self.used += 1
            return True


class ChatClient:
    """Chat completions for a list of prompts, with the disk cache and the request budget.

    Subclasses implement :meth:`_generate` for the prompts that missed the cache."""

    def __init__(self, cfg: LLMConfig, cache_dir: Optional[Union[str, Path]] = None):
        self.cfg = cfg
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self.budget = RequestBudget(cfg.budget_requests)

    @property
    def model_name(self) -> str:
        return self.cfg.model

    def params(self, **overrides: Any) -> dict[str, Any]:
        p = {"max_tokens": self.cfg.max_tokens, "temperature": self.cfg.temperature}
        p.update(overrides)
        return p

    @property
    def requests_made(self) -> int:
        return self.budget.used

    def _take_budget(self) -> bool:
        return self.budget.take()

    def complete_batch(
        self, batch: Sequence[Messages], *, return_errors: bool = False, **params: Any
    ) -> list[Union[str, LLMError]]:
        """The assistant's reply to each prompt, in order.

        Cached replies cost nothing. With ``return_errors`` a prompt that failed gives an
        :class:`LLMError` in its place; otherwise the first failure is raised."""
        p = self.params(**params)
        keys = [cache_key(self.model_name, list(m), p) for m in batch]
        results: list[Union[str, LLMError, None]] = [self.cache.get(k) if self.cache else None for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            fresh = self._generate([batch[i] for i in todo], p)
            for i, r in zip(todo, fresh):
                results[i] = r
                if isinstance(r, str) and self.cache is not None:
                    self.cache.put(keys[i], r, self.model_name)
        if not return_errors:
            for r in results:
                if isinstance(r, LLMError):
                    raise r
        return results  # type: ignore[return-value]

    def _generate(self, batch: list[Messages], params: dict[str, Any]) -> list[Union[str, LLMError]]:
        raise NotImplementedError


#: Errors worth a retry: the server is busy or broken right now, or the body came back damaged.
_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def retry_after_s(headers: Any) -> Optional[float]:
    """Seconds from a ``Retry-After`` (or ``retry-after-ms``) header: delta-seconds or an HTTP date."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class OpenAIChatClient(ChatClient):
    """Any OpenAI-compatible chat-completions endpoint, ``concurrency`` requests at a time."""

    def __init__(self, cfg: LLMConfig, cache_dir: Optional[Union[str, Path]] = None, *, sleep=time.sleep):
        super().__init__(cfg, cache_dir)
        self._client = None
        self._sleep = sleep
        self.retries_made = 0

    def _api(self):
        if self._client is None:
            import openai

            # The key only lives in this client object; vLLM/Ollama accept any placeholder.
            key = os.environ.get(self.cfg.api_key_env) or "not-set"
            self._client = openai.OpenAI(
                base_url=self.cfg.base_url, api_key=key, timeout=self.cfg.timeout_s, max_retries=0
            )
        return self._client

    def _generate(self, batch: list[Messages], params: dict[str, Any]) -> list[Union[str, LLMError]]:
        self._api()
        with ThreadPoolExecutor(max_workers=min(self.cfg.concurrency, len(batch))) as pool:
            return list(pool.map(lambda m: self._one(m, params), batch))

    def _one(self, messages: Messages, params: dict[str, Any]) -> Union[str, LLMError]:
        import openai

        last = "no attempt made"
        for attempt in range(self.cfg.max_retries + 1):
            if not self._take_budget():
                return LLMError(f"LLM request budget exhausted (llm.budget_requests={self.cfg.budget_requests}); last error: {last}")
            wait: Optional[float] = None
            try:
                kw = {"max_tokens": int(params["max_tokens"]), "temperature": float(params["temperature"])}
                if "seed" in params:
                    kw["seed"] = int(params["seed"])
                resp = self._api().chat.completions.create(model=self.cfg.model, messages=messages, **kw)
                return self._check(resp)
            except _Malformed as e:
                last = f"malformed response ({e})"
            except _WrongModel as e:
                return LLMError(str(e))
            except openai.APIStatusError as e:
                last = f"HTTP {e.status_code} from the endpoint ({_short(e.message)})"
                if e.status_code not in _RETRY_STATUS:
                    hint = f"; check ${self.cfg.api_key_env}" if e.status_code in (401, 403) else ""
                    return LLMError(f"{last}, not retried{hint}")
                wait = retry_after_s(e.response.headers)
            except openai.APITimeoutError:
                last = f"request timed out after {self.cfg.timeout_s} s"
            except openai.APIConnectionError as e:
                last = f"connection failed ({_short(str(e.__cause__ or e))}; check llm.base_url)"
            except (openai.APIResponseValidationError, ValueError, KeyError, TypeError, AttributeError) as e:
                last = f"malformed response ({type(e).__name__}: {_short(str(e))})"
            if attempt == self.cfg.max_retries:
                break
            delay = self.cfg.retry_backoff_s * (2**attempt) if wait is None else wait
            self.retries_made += 1
            log.info("LLM request failed (%s); retry %d in %.2f s", last, attempt + 1, delay)
            self._sleep(min(delay, self.cfg.max_retry_wait_s))
        return LLMError(f"LLM request failed after {self.cfg.max_retries + 1} attempts (last: {last})")

    def _check(self, resp: Any) -> str:
        if isinstance(resp, (str, bytes)) or not hasattr(resp, "choices"):
            raise _Malformed("body is not a chat completion")
        got = getattr(resp, "model", None)
        if got and not _same_model(self.cfg.model, got):
            raise _WrongModel(f"endpoint answered with model {got!r}, asked for {self.cfg.model!r} (check llm.model and llm.base_url)")
        if not resp.choices:
            raise _Malformed("no choices")
        msg = resp.choices[0].message
        content = getattr(msg, "content", None) if msg is not None else None
        if not isinstance(content, str) or not content.strip():
            raise _Malformed("empty message content")
        return content.strip()


class _Malformed(Exception):
    pass


class _WrongModel(Exception):
    pass


def _same_model(asked: str, got: str) -> bool:
    # OpenAI answers "gpt-4o-2024-08-06" for "gpt-4o"; Ollama may add ":latest".
    a, g = asked.lower(), got.lower()
    return g == a or g.startswith(a + "-") or g.startswith(a + ":") or a.endswith("/" + g) or g.endswith("/" + a)


def _short(s: str, n: int = 120) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def build_client(cfg: LLMConfig, cache_dir: Optional[Union[str, Path]] = None) -> ChatClient:
    if cfg.backend == "local":
        from duplexgen.text.local import LocalChatClient  # transformers/torch only when a local model is used

        return LocalChatClient(cfg, cache_dir)
    return OpenAIChatClient(cfg, cache_dir)


__all__ = ["ChatClient", "OpenAIChatClient", "LLMError", "RequestBudget", "build_client", "retry_after_s"]
