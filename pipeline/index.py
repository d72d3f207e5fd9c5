"""A Parquet index of a generated corpus: one row per conversation, queryable with any Parquet tool.

Built from the manifest entries the workers write (no audio is read), so it is cheap to rebuild
after every run and after a resume.

Example::

    write_index(Path("out/demo"))
    import pyarrow.parquet as pq
    pq.read_table("out/demo/index.parquet").to_pandas().groupby("source").duration.sum()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from duplexgen.pipeline.stages import read_manifest

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


def index_rows(out: Path) -> list[dict[str, Any]]:
    rows = []
    for entry in read_manifest(out):
        shard = entry.get("files", {}).get("cuts", "")
        for st in entry.get("stats", []):
            rows.append(
                {
                    "id": st["id"],
                    "source": entry["source"],
                    "recipe": entry.get("recipe", entry["source"]),
                    "duration": float(st["duration"]),
                    "turns": int(st["turns"]),
                    "gaps": [None if g is None else float(g) for g in st.get("gaps", [])],
                    "barge_ins": int(st.get("barge_ins", 0)),
                    "backchannels": int(st.get("backchannels", 0)),
                    "user_voice": st.get("user_voice", ""),
                    "agent_voice": st.get("agent_voice", ""),
                    "augmentations": [str(a) for a in st.get("augmentations", [])],
                    "shard": str(Path(shard).relative_to(out)) if shard and Path(shard).is_relative_to(out) else shard,
                    "shard_index": int(entry["shard_index"]),
                }
            )
    return rows


def write_index(out: Path) -> Path:
    out = Path(out)
    table = pa.Table.from_pylist(index_rows(out), schema=SCHEMA)
    path = out / "index.parquet"
    tmp = out / "index.parquet.tmp"
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path
