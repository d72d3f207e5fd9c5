"""Fingerprint a corpus: every cut id with the sha1 of its user audio, agent audio and cut manifest line.

Two runs with the same config and seed must give the same fingerprint; a refactor must too. The
audio hashes are of the encoded FLAC members of the Shar tars (the bytes a reader gets), the cut
hash of the cut's line in ``cuts.*.jsonl.gz`` (supervisions, alignments, custom metadata).

Example::

    fp = fingerprint("out/demo/shards")                 # {cut_id: {"user": sha1, "agent": sha1, "cut": sha1}}
    diff = compare(fp, json.load(open("before.json")))  # {"missing": [...], "added": [...], "changed": {...}}
    # or: duplexgen fingerprint out/demo/shards --against before.json
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

from duplexgen.core import storage
from duplexgen.core.schema import SHAR_FIELDS
from duplexgen.core.shards import find_shard_dirs, shard_indices, shard_names
from duplexgen.core.storage import Location

#: Fingerprint key of each Shar field.
PARTS = {"recording": "user", "target_audio": "agent"}


def _member_hashes(tar_bytes: bytes) -> dict[str, str]:
    """sha1 of each audio member of a Shar tar, by cut id (the member name without its extension)."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        for m in tf.getmembers():
            if m.isfile() and not m.name.endswith(".json"):
                out[m.name.rsplit(".", 1)[0]] = hashlib.sha1(tf.extractfile(m).read()).hexdigest()
    return out


def fingerprint(root: Location) -> dict[str, dict[str, str]]:
    """``{cut_id: {"user", "agent", "cut"}}`` for every cut of every shard folder under ``root``."""
    result: dict[str, dict[str, str]] = {}
    for d in find_shard_dirs(root):
        for idx in shard_indices(d):
            names = shard_names(int(idx))
            audio = {PARTS[f]: _member_hashes(storage.read_bytes(storage.join(d, names[f]))) for f in SHAR_FIELDS}
            with gzip.open(io.BytesIO(storage.read_bytes(storage.join(d, names["cuts"]))), "rt", encoding="utf-8") as f:
                for line in f:
                    cut_id = json.loads(line)["id"]
                    result[cut_id] = {part: hashes.get(cut_id, "") for part, hashes in audio.items()}
                    result[cut_id]["cut"] = hashlib.sha1(line.rstrip("\n").encode("utf-8")).hexdigest()
    return dict(sorted(result.items()))


def compare(now: dict[str, dict[str, str]], before: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Cuts missing now, added now, and changed (which parts) between two fingerprints."""
    changed = {k: sorted(p for p in set(now[k]) | set(before[k]) if now[k].get(p) != before[k].get(p))
               for k in sorted(set(now) & set(before)) if now[k] != before[k]}
    return {"missing": sorted(set(before) - set(now)), "added": sorted(set(now) - set(before)), "changed": changed,
            "same": len(set(now) & set(before)) - len(changed)}


__all__ = ["fingerprint", "compare"]
