"""Shard naming and listing: where the files of a Lhotse Shar shard are, on a folder or an object store.

A shard ``k`` of a shard folder is ``cuts.{k:06d}.jsonl.gz`` plus one tar per audio field
(``recording.{k:06d}.tar`` = user stream, ``target_audio.{k:06d}.tar`` = agent stream). The cuts
manifest is published last, so a shard is complete exactly when its cuts file exists. Readers (the
validator, exports, the trainer) open shards through lhotse's ``CutSet.from_shar``, as NeMo does.

Example::

    for d in find_shard_dirs("out/demo/shards"):
        for cut in load_shards(d):
            cut.load_audio(), cut.load_target_audio()
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from duplexgen.core import storage
from duplexgen.core.schema import SHAR_FIELDS
from duplexgen.core.storage import Location

#: Files being built are staged under this folder name and never listed as shards.
STAGING_DIR = ".staging"


def shard_names(index: int, fields: Iterable[str] = tuple(SHAR_FIELDS)) -> dict[str, str]:
    """File names of shard ``index``: ``cuts`` plus one tar per audio field."""
    return {"cuts": f"cuts.{index:06d}.jsonl.gz", **{f: f"{f}.{index:06d}.tar" for f in fields}}


def shard_is_complete(shard_dir: Location, index: int) -> bool:
    """A shard is complete when its cuts manifest exists (it is moved into place last)."""
    return storage.exists(storage.join(shard_dir, shard_names(index)["cuts"]))


def shard_indices(shard_dir: Location) -> list[str]:
    """The zero-padded indices of the complete shards in a folder (one listing)."""
    return sorted(n.split(".")[1] for n in storage.listdir(shard_dir) if n.startswith("cuts.") and n.endswith(".jsonl.gz"))


def load_shards(shard_dir: Location, fields: Iterable[str] = tuple(SHAR_FIELDS)):
    """The complete shards of a folder (or URL) as a lazy lhotse CutSet with the audio ``fields`` attached."""
    from lhotse import CutSet

    idx = shard_indices(shard_dir)
    if not idx:
        raise FileNotFoundError(f"no shards (cuts.*.jsonl.gz) in {shard_dir}")
    paths = {"cuts": [storage.join(shard_dir, f"cuts.{i}.jsonl.gz") for i in idx]}
    for f in fields:
        paths[f] = [storage.join(shard_dir, f"{f}.{i}.tar") for i in idx]
    return CutSet.from_shar(fields=paths)


def load_shard(shard_dir: Location, index: int, fields: Iterable[str] = tuple(SHAR_FIELDS)):
    """One shard of a folder (or URL) as a lazy lhotse CutSet with the audio ``fields`` attached."""
    from lhotse import CutSet

    names = shard_names(int(index), fields)
    return CutSet.from_shar(fields={k: [storage.join(shard_dir, n)] for k, n in names.items()})


def find_shard_dirs(root: Location) -> list[Location]:
    """Every folder under ``root`` (itself included) that holds Shar shards: ``Path``s under a local
    root, URL strings under an object-store URL. Staging folders are skipped."""
    found = storage.find(root, "cuts.*.jsonl.gz")
    dirs = sorted({storage.parent_of(p) for p in found if f"/{STAGING_DIR}/" not in p})
    return dirs if storage.is_url(root) else [Path(d) for d in dirs]


def iter_cuts(dirs: Iterable[Location]):
    """Every cut of every shard folder in ``dirs``, lazily."""
    for d in dirs:
        yield from load_shards(d)


__all__ = ["shard_names", "shard_is_complete", "shard_indices", "load_shards", "load_shard", "find_shard_dirs", "iter_cuts", "STAGING_DIR"]
