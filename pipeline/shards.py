"""Two-stream cuts and atomic Lhotse Shar shards.

One conversation = one Lhotse ``MonoCut`` (see shard-contract.md): the user stream is the
``recording`` (16 kHz), the agent stream is ``custom["target_audio"]`` (22,050 Hz, same duration),
one supervision per turn with speaker "user"/"agent".

A shard is written by :func:`write_shard` into a local staging folder and moved (or uploaded, for an
object-store URL) into the shard folder only when complete, audio tars first and the ``cuts`` manifest
last, so a reader never sees a half-written shard and a killed run leaves nothing but staging debris
(cleaned on the next run).

Example::

    cut = assembled_to_cut(assembled, cut_id="alpaca-3-s1234", custom={"source": "alpaca"})
    paths = write_shard([cut], shard_dir, index=7, staging_root=out / ".staging")
    # shard_dir / "cuts.000007.jsonl.gz", "recording.000007.tar", "target_audio.000007.tar"
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from lhotse.supervision import AlignmentItem
from lhotse.shar import SharWriter

from duplexgen.augment.layout import Assembled
from duplexgen.pipeline import storage
from duplexgen.pipeline.storage import Location

#: The Shar fields of a duplex cut; the tar name must be exactly ``target_audio`` for NeMo.
SHAR_FIELDS = {"recording": "flac", "target_audio": "flac"}


def quantize_int16(audio: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1) and round to 16-bit steps so that FLAC stores the exact samples."""
    return np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def memory_recording(audio: np.ndarray, sample_rate: int, recording_id: str) -> Recording:
    """An in-memory Recording holding 16-bit WAV bytes of ``audio`` (lossless once quantized)."""
    buf = io.BytesIO()
    sf.write(buf, quantize_int16(audio), sample_rate, format="WAV", subtype="PCM_16")
    return Recording.from_bytes(buf.getvalue(), recording_id=recording_id)


#: A word "ends inside" a cut segment up to a few samples of rounding (cut points snap to sample grids).
WORD_END_TOL_S = 0.005


def segment_words(segment, words) -> list[AlignmentItem]:
    """Word alignment of a segment on the conversation timeline: the turn's words (relative to its audio)
    shifted to the segment start, keeping only words that end inside the segment (a barge-in cut drops the rest)."""
    items = []
    for w in words:
        if w.end <= segment.duration + WORD_END_TOL_S:
            items.append(AlignmentItem(symbol=w.text, start=round(segment.start + w.start, 4), duration=round(max(w.end - w.start, 0.0), 4)))
    return items


def assembled_to_cut(
    assembled: Assembled, cut_id: str, custom: dict[str, Any], words_by_turn: Optional[dict[int, list]] = None
) -> MonoCut:
    """A two-stream MonoCut with supervisions from the assembled segments (kept in memory).

    ``words_by_turn`` (turn index -> words relative to the turn audio) adds word alignments."""
    words_by_turn = words_by_turn or {}
    user = memory_recording(assembled.user_audio, assembled.user_sample_rate, cut_id)
    agent = memory_recording(assembled.agent_audio, assembled.agent_sample_rate, f"{cut_id}_agent")
    sups = [
        SupervisionSegment(
            id=f"{cut_id}-{i:03d}-{seg.speaker}",
            recording_id=cut_id,
            start=round(seg.start, 6),
            duration=round(seg.duration, 6),
            channel=0,
            text=seg.text,
            speaker=seg.speaker,
            custom={"kind": seg.kind, "voice": seg.voice} if seg.kind != "turn" or seg.voice else None,
            alignment={"word": segment_words(seg, words_by_turn[seg.turn_index])} if words_by_turn.get(seg.turn_index) else None,
        )
        for i, seg in enumerate(assembled.segments)
    ]
    cut_custom = dict(assembled.custom)
    cut_custom.update(custom)
    cut_custom["target_audio"] = agent
    return MonoCut(
        id=cut_id,
        start=0.0,
        duration=user.duration,
        channel=0,
        recording=user,
        supervisions=sups,
        custom=cut_custom,
    )


def shard_names(index: int) -> dict[str, str]:
    return {
        "cuts": f"cuts.{index:06d}.jsonl.gz",
        **{f: f"{f}.{index:06d}.tar" for f in SHAR_FIELDS},
    }


def shard_is_complete(shard_dir: Location, index: int) -> bool:
    """A shard is complete when its cuts manifest exists (it is moved into place last)."""
    return storage.exists(storage.join(shard_dir, shard_names(index)["cuts"]))


def write_shard(cuts: Sequence[MonoCut], shard_dir: Location, index: int, staging_root: Path) -> dict[str, str]:
    """Write ``cuts`` as shard ``index`` of ``shard_dir`` (a folder or an object-store URL) atomically;
    returns the final file locations. The shard is built in the local ``staging_root`` first."""
    staging = Path(staging_root) / f"{storage.name_of(shard_dir)}.{index:06d}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    with SharWriter(str(staging), fields=SHAR_FIELDS, shard_size=len(cuts) + 1, shard_offset=index) as writer:
        for cut in cuts:
            writer.write(cut)
    names = shard_names(index)
    for name in names.values():
        if not (staging / name).exists():
            raise RuntimeError(f"Shar writer did not produce {staging / name}")
        # fsync so that a crash after the rename cannot leave an empty file behind the final name.
        with open(staging / name, "rb") as f:
            os.fsync(f.fileno())
    final = {}
    for key in [k for k in names if k != "cuts"] + ["cuts"]:  # the manifest last: it marks completeness
        final[key] = storage.put_file(staging / names[key], storage.join(shard_dir, names[key]))
    shutil.rmtree(staging, ignore_errors=True)
    return final


def load_shards(shard_dir: Location) -> CutSet:
    """The complete shards of a folder (or URL) as a lazy CutSet (with both audio fields attached)."""
    names = storage.listdir(shard_dir)
    idx = [n.split(".")[1] for n in names if n.startswith("cuts.") and n.endswith(".jsonl.gz")]
    if not idx:
        raise FileNotFoundError(f"no shards (cuts.*.jsonl.gz) in {shard_dir}")
    fields = {"cuts": [storage.join(shard_dir, f"cuts.{i}.jsonl.gz") for i in idx]}
    for f in SHAR_FIELDS:
        fields[f] = [storage.join(shard_dir, f"{f}.{i}.tar") for i in idx]
    return CutSet.from_shar(fields=fields)


def find_shard_dirs(root: Location) -> list[Location]:
    """Every folder under ``root`` (itself included) that holds Shar shards: ``Path``s under a local
    root, URL strings under an object-store URL."""
    found = storage.find(root, "cuts.*.jsonl.gz")
    dirs = sorted({storage.parent_of(p) for p in found if "/.staging/" not in p})
    return dirs if storage.is_url(root) else [Path(d) for d in dirs]


def iter_cuts(dirs: Iterable[Path]):
    for d in dirs:
        yield from load_shards(d)
