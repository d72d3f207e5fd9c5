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

import os
import shutil
from pathlib import Path
from typing import Any, Optional, Sequence

from lhotse import MonoCut, SupervisionSegment
from lhotse.shar import SharWriter
from lhotse.supervision import AlignmentItem

from duplexgen.core import storage
from duplexgen.core.audio import memory_recording
from duplexgen.core.records import TwoStreamCut
from duplexgen.core.schema import SHAR_FIELDS
from duplexgen.core.shards import shard_names
from duplexgen.core.storage import Location

def segment_words(segment, words) -> list[AlignmentItem]:
    """Word alignment of a segment on the conversation timeline: the turn's words (relative to its audio)
    shifted to the segment start; a barge-in cut keeps its first ``segment.n_words`` (the words of its text).

    Start and end are rounded to 0.1 ms (not start and duration), so a word never starts before the previous
    one ended."""
    kept = words if getattr(segment, "n_words", None) is None else words[: segment.n_words]
    items = []
    for w in kept:
        start = round(segment.start + w.start, 4)
        end = max(start, round(segment.start + w.end, 4))
        items.append(AlignmentItem(symbol=w.text, start=start, duration=round(end - start, 4)))
    return items


def supervision_custom(seg) -> Optional[dict[str, Any]]:
    """``supervision.custom`` (keys in core.schema.SUPERVISION_FIELDS): kind, voice, timing_source; None for a
    plain turn with nothing to record."""
    timing = getattr(seg, "timing_source", "")
    if seg.kind == "turn" and not seg.voice and not timing:
        return None
    return {"kind": seg.kind, "voice": seg.voice, **({"timing_source": timing} if timing else {})}


def assembled_to_cut(
    assembled: TwoStreamCut, cut_id: str, custom: dict[str, Any], words_by_turn: Optional[dict[int, list]] = None
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
            custom=supervision_custom(seg),
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


def write_shard(cuts: Sequence[MonoCut], shard_dir: Location, index: int, staging_root: Path,
                fields: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Write ``cuts`` as shard ``index`` of ``shard_dir`` (a folder or an object-store URL) atomically;
    returns the final file locations. The shard is built in the local ``staging_root`` first.

    ``fields`` are the Shar audio fields (default: the duplex ``SHAR_FIELDS``, user + agent streams)."""
    fields = SHAR_FIELDS if fields is None else fields
    staging = Path(staging_root) / f"{storage.name_of(shard_dir)}.{index:06d}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    with SharWriter(str(staging), fields=fields, shard_size=len(cuts) + 1, shard_offset=index) as writer:
        for cut in cuts:
            writer.write(cut)
    names = shard_names(index, fields)
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
