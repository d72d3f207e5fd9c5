"""A Parquet index of a generated corpus: one row per conversation, queryable with any Parquet tool.

Built from the manifest entries the workers write (no audio is read), so it is cheap to rebuild
after every run and after a resume.

Example::

    write_index("out/demo")            # or "s3://bucket/corpus"
    import pyarrow.parquet as pq
    pq.read_table("out/demo/index.parquet").to_pandas().groupby("source").duration.sum()
"""

from __future__ import annotations

from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from duplexgen.core.records import ManifestEntry
from duplexgen.pipeline.manifest import read_manifest
from duplexgen.core.storage import Location, join, write_bytes

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("recipe", pa.string()),
        ("duration", pa.float64()),
        ("turns", pa.int32()),
        ("gaps", pa.list_(pa.float64())),
        ("barge_ins", pa.int32()),
        ("backchannels", pa.int32()),
        ("user_voice", pa.string()),
        ("agent_voice", pa.string()),
        ("augmentations", pa.list_(pa.string())),
        ("shard", pa.string()),
        ("shard_index", pa.int32()),
    ]
)


def index_rows(out: Location, entries: Optional[list[ManifestEntry]] = None) -> list[dict[str, Any]]:
    rows = []
    for entry in read_manifest(out) if entries is None else entries:
        shard = entry.files.get("cuts", "")
        for st in entry.stats:
            rows.append(
                {
                    "id": st["id"],
                    "source": entry.source,
                    "recipe": entry.recipe or entry.source,
                    "duration": float(st["duration"]),
                    "turns": int(st["turns"]),
                    "gaps": [None if g is None else float(g) for g in st.get("gaps", [])],
                    "barge_ins": int(st.get("barge_ins", 0)),
                    "backchannels": int(st.get("backchannels", 0)),
                    "user_voice": st.get("user_voice", ""),
                    "agent_voice": st.get("agent_voice", ""),
                    "augmentations": [str(a) for a in st.get("augmentations", [])],
                    "shard": relative_to(shard, out),
                    "shard_index": int(entry.shard_index),
                }
            )
    return rows


def relative_to(location: str, root: Location) -> str:
    """``location`` relative to the output root (so the index survives moving the corpus)."""
    prefix = str(root).rstrip("/") + "/"
    return location[len(prefix):] if location.startswith(prefix) else location


def write_index(out: Location, entries: Optional[list[ManifestEntry]] = None) -> str:
    table = pa.Table.from_pylist(index_rows(out, entries), schema=SCHEMA)
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    return write_bytes(join(out, "index.parquet"), buf.getvalue().to_pybytes())
