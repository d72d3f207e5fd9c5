"""`duplexgen export fdbench SHARD_DIR OUT_DIR [--reference-output]`: shards -> Full-Duplex-Bench-style cases.

One folder per evaluation case (``OUT_DIR/<task>/<case_id>/``: input.wav, labels.json, FDB's label file,
and with ``--reference-output`` the shards' own agent stream as output.wav); the layout, the label
schema and how scripted events become cases are in :mod:`duplexgen.core.evalset` (shared with the scorer
and ``duplexgen eval``). Any duplex model can then write its own time-aligned output.wav into each folder
and be scored with ``duplexgen score OUT_DIR``.

``OUT_DIR/manifest.json`` records the shards, the case config, the cases per task and every event that
could not become a case with the reason. Reruns rewrite inputs and labels identically and keep a model's
output.wav already in a folder (unless ``--reference-output`` replaces it).

Example::

    manifest = export_fdbench("out/demo/shards", "out/fdb", reference_output=True)
    manifest["tasks"]   # {"smooth_turn_taking": 50, "user_interruption": 15, ...}
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

from duplexgen.core.evalset import CaseConfig, export_cases
from duplexgen.core.storage import Location


def export_fdbench(shard_root: Location, out_dir: str | Path, cfg: Optional[CaseConfig] = None, reference_output: bool = False,
                   max_conversations: int = 0, quiet: bool = False) -> dict[str, Any]:
    """Write every case of every cut under ``shard_root`` into ``out_dir``; return (and save) the manifest."""
    t0, last = time.perf_counter(), [0.0]

    def progress(n_cuts: int, n_cases: int) -> None:
        # Long exports show progress every few seconds.
        if not quiet and time.perf_counter() - last[0] > 5:
            last[0] = time.perf_counter()
            print(f"export fdbench: {n_cuts} conversations, {n_cases} cases, {last[0] - t0:.0f} s", file=sys.stderr)

    return export_cases(shard_root, out_dir, cfg, reference_output=reference_output, max_conversations=max_conversations,
                        progress=progress)


def format_export(manifest: dict[str, Any], out_dir: str | Path) -> str:
    """What was exported, per task, what was skipped and why, and the next step."""
    lines = [f"exported {len(manifest['cases'])} cases from {manifest['conversations']} conversations into {out_dir}"
             + (" (with the reference output.wav)" if manifest["reference_output"] else "")]
    lines += [f"  {task:20s} {n}" for task, n in manifest["tasks"].items()]
    lines += [f"  skipped {n}x {reason}" for reason, n in manifest["skipped"].items()]
    lines += [f"  WARNING {w}" for w in manifest["warnings"]]
    nxt = "score it" if manifest["reference_output"] else "let the model write <task>/<case>/output.wav next to each input.wav, then score"
    lines.append(f"next: {nxt}: duplexgen score {out_dir}")
    return "\n".join(lines)


__all__ = ["export_fdbench", "format_export"]
