"""Disk cache of rendered turns, so a rerun skips audio it already made.

The key is the sha256 of (backend, backend params, voice key, text, render params); the value is one
file holding a JSON header (sample rate, sample count, meta: words, timing source, ...) and the raw
little-endian int16 samples. (It was an ``.npz``: a zip archive per turn cost ~0.33 ms to write and to
read, the raw file 0.13 / 0.04 ms; measured for BENCHMARKS.md.) Files are written to a temp name
and renamed, so a crash never leaves a half file that a rerun would trust, and two workers writing the
same key both leave a complete file; a file whose length does not match its header is a miss.

Example::

    cache = RenderCache("out/cache/tts")
    key = cache.key("espeak", "espeak-ng/0.2.4", voice.key(), "Hello.", {"sr": 16000})
    cache.get(key) or cache.put(key, audio_int16, 16000, {"words": [...]})
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from pathlib import Path
from typing import Any, Optional

import numpy as np

#: File magic (format version 1) and the header length that follows it.
_MAGIC = b"DGTTS1\n"
_HEADER_LEN = struct.Struct("<Q")


class RenderCache:
    """sha256-keyed files under ``root/<2 hex>/<key>.pcm``; counts hits and misses."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._dirs: set[Path] = set()

    @staticmethod
    def key(*parts: Any) -> str:
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pcm"

    def get(self, key: str) -> Optional[tuple[np.ndarray, int, dict]]:
        """-> (int16 audio, sample rate, meta) or None. An unreadable or truncated file counts as a miss."""
        try:
            with open(self.path(key), "rb") as f:
                data = f.read()
            if not data.startswith(_MAGIC):
                raise ValueError("not a render cache file")
            at = len(_MAGIC) + _HEADER_LEN.size
            (n,) = _HEADER_LEN.unpack_from(data, len(_MAGIC))
            header = json.loads(data[at : at + n])
            if len(data) != at + n + 2 * header["samples"]:
                raise ValueError("truncated")
            audio = np.frombuffer(data, dtype="<i2", offset=at + n).astype(np.int16, copy=True)
            sr, meta = int(header["sample_rate"]), header["meta"]
        except (OSError, KeyError, ValueError, struct.error):
            self.misses += 1
            return None
        self.hits += 1
        return audio, sr, meta

    def put(self, key: str, audio_int16: np.ndarray, sample_rate: int, meta: dict) -> Path:
        p = self.path(key)
        if p.parent not in self._dirs:
            p.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(p.parent)
        samples = np.ascontiguousarray(audio_int16, dtype="<i2")
        header = json.dumps({"sample_rate": int(sample_rate), "samples": int(len(samples)), "meta": meta}).encode("utf-8")
        tmp = p.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{p.name}")  # unique per writer thread
        try:
            with open(tmp, "wb") as f:
                f.write(_MAGIC + _HEADER_LEN.pack(len(header)) + header + samples.tobytes())
            os.replace(tmp, p)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return p

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}


__all__ = ["RenderCache"]
