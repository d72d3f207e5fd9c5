"""The run's manifest: one JSON entry per finished shard under ``OUT/manifest/``, the resume marker.

An entry (:class:`~duplexgen.core.records.ManifestEntry`) is written after its shard's files are in
place, so its presence means the shard is complete; a rerun skips every shard that has one. The
summary, the rejects file, the index and the report are all built from the entries (read once).

Example::

    write_manifest_entry("out/demo", entry)          # out/demo/manifest/alpaca.000003.json
    [e.cuts for e in read_manifest("out/demo")]
"""

from __future__ import annotations

import json

from duplexgen.core.records import ManifestEntry
from duplexgen.core.storage import Location, join, listdir, read_many, write_text


def manifest_name(source: str, shard_index: int) -> str:
    return f"{source}.{shard_index:06d}.json"


def manifest_path(out: Location, source: str, shard_index: int) -> str:
    """The manifest entry of a shard (a path or a URL, like ``out``)."""
    return join(out, "manifest", manifest_name(source, shard_index))


def write_manifest_entry(out: Location, entry: ManifestEntry) -> None:
    """Record a finished shard (after its files are in place): the resume marker."""
    write_text(manifest_path(out, entry.source, entry.shard_index), json.dumps(entry.to_dict(), indent=1))


def finished_shards(out: Location) -> set[str]:
    """Names of the manifest entries present (one listing, also for an object store)."""
    return {n for n in listdir(join(out, "manifest")) if n.endswith(".json")}


def read_manifest(out: Location) -> list[ManifestEntry]:
    """Every finished shard's manifest entry (read once and passed on: summary, rejects, index, report)."""
    return [ManifestEntry.from_dict(json.loads(b)) for b in read_many([join(out, "manifest", n) for n in sorted(finished_shards(out))])]


__all__ = ["manifest_name", "manifest_path", "write_manifest_entry", "finished_shards", "read_manifest"]
