"""The LLM response cache: one small JSON file per successful response, keyed by (model, messages, parameters).

A rerun costs nothing; a failed response is never cached. Writes are atomic (safe across Ray workers).

Example::

    cache = ResponseCache("out/cache/llm")
    key = cache_key("SmolLM2-135M-Instruct", messages, {"max_tokens": 160, "temperature": 0.0})
    cache.get(key) or cache.put(key, reply, model)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Optional, Union

from duplexgen.text.prompts import Messages


def cache_key(model: str, messages: Messages, params: dict[str, Any]) -> str:
    blob = json.dumps({"model": model, "messages": messages, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """One small JSON file per successful response, written atomically (safe across Ray workers)."""

    def __init__(self, root: Union[str, Path]):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Optional[str]:
        p = self._path(key)
        try:
            return json.loads(p.read_text(encoding="utf-8"))["text"]
        except (OSError, ValueError, KeyError):
            return None

    def put(self, key: str, text: str, model: str) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps({"model": model, "text": text}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, p)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0


__all__ = ["ResponseCache", "cache_key"]
