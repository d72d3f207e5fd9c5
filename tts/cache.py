"""Disk cache of rendered turns, so a rerun skips audio it already made.

The key is the sha256 of (backend, backend params, voice key, text, render params); the value is one
``.npz`` file holding int16 audio, the sample rate and a JSON blob (words, timing source, meta). Files
are written to a temp name and renamed, so a crash never leaves a half file that a rerun would trust,
and two workers writing the same key both leave a complete file.

Example::

    cache = RenderCache("/tmp/out/cache/tts")
    key = cache.key("espeak", "espeak-ng/0.2.4", voice.key(), "Hello.", {"sr": 16000})
    cache.get(key) or cache.put(key, audio_int16, 16000, {"words": [...]})
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np


class RenderCache:
    """sha256-keyed ``.npz`` files under ``root/<2 hex>/<key>.npz``; counts hits and misses."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(*parts: Any) -> str:
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> Optional[tuple[np.ndarray, int, dict]]:
        """-> (int16 audio, sample rate, meta) or None. An unreadable file counts as a miss."""
        p = self.path(key)
        try:
            with np.load(p, allow_pickle=False) as z:
                audio = z["audio"].astype(np.int16, copy=False)
                sr = int(z["sample_rate"])
                meta = json.loads(str(z["meta"]))
        except (OSError, KeyError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return audio, sr, meta

    def put(self, key: str, audio_int16: np.ndarray, sample_rate: int, meta: dict) -> Path:
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, audio=np.asarray(audio_int16, np.int16), sample_rate=np.int64(sample_rate), meta=np.str_(json.dumps(meta)))
            os.replace(tmp, p)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return p

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}


__all__ = ["RenderCache"]
