"""Checkpoints of both trainers (SALM-Duplex and the codec): one folder per step, published atomically.

``OUTPUT_DIR/checkpoints/step_NNNNNNN/`` holds the torch-saved states, the resolved train config,
every rank's data position and a ``COMPLETE`` marker. It is built under a temporary name and
renamed into place, so a killed run never leaves a half-written checkpoint that resume would pick.

Example::

    positions = gather_data_positions(stream.position, world)           # collective
    publish_checkpoint(out, step, {"model.pt": model_state}, cfg_dict, positions, keep=2)   # rank 0
    latest_checkpoint(out)        # Path('.../checkpoints/step_0000100') or None
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Optional

CKPT_PREFIX = "step_"


def barrier() -> None:
    """Wait for every rank (no-op outside torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torch.distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def checkpoint_dirs(output_dir: str) -> list[Path]:
    """The complete checkpoints of a run, oldest first."""
    root = Path(output_dir) / "checkpoints"
    if not root.exists():
        return []
    done = [p for p in root.glob(f"{CKPT_PREFIX}*") if (p / "COMPLETE").exists()]
    return sorted(done, key=lambda p: int(p.name[len(CKPT_PREFIX):]))


def latest_checkpoint(output_dir: str) -> Optional[Path]:
    dirs = checkpoint_dirs(output_dir)
    return dirs[-1] if dirs else None


def gather_data_positions(position: Any, world: int) -> list[Any]:
    """Collective: every rank's data position (where its stream resumes), in rank order."""
    if world <= 1:
        return [position]
    import torch.distributed as dist

    positions = [None] * world
    dist.all_gather_object(positions, position)
    return positions


def write_folder_atomically(final: Path, fill: Callable[[Path], None]) -> Path:
    """Build a folder under a temporary name with ``fill(tmp)``, mark it ``COMPLETE`` and rename it to ``final``."""
    final = Path(final)
    tmp = final.parent / f".tmp_{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    (tmp / "COMPLETE").write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def publish_checkpoint(output_dir: str, step: int, states: dict[str, Any], config: dict, positions: list[Any],
                       keep: int = 0, extra: Optional[Callable[[Path], None]] = None) -> Path:
    """Write ``states`` (file name -> object for ``torch.save``), the config and the data positions as
    checkpoint ``step``, atomically; ``extra(folder)`` may add files (the tokenizer); keep only the ``keep``
    newest checkpoints (0 = all). Rank 0 only."""
    import torch
    from omegaconf import OmegaConf

    def fill(tmp: Path) -> None:
        for name, state in states.items():
            torch.save(state, tmp / name)
        (tmp / "data_position.json").write_text(json.dumps({"step": step, "per_rank": positions}))
        OmegaConf.save(OmegaConf.create(config), tmp / "train_config.yaml")
        if extra is not None:
            extra(tmp)

    final = write_folder_atomically(Path(output_dir) / "checkpoints" / f"{CKPT_PREFIX}{step:07d}", fill)
    if keep > 0:
        for old in checkpoint_dirs(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


__all__ = ["CKPT_PREFIX", "barrier", "rank_and_world", "checkpoint_dirs", "latest_checkpoint", "gather_data_positions", "publish_checkpoint",
           "write_folder_atomically"]
