"""Two-stream cuts and atomic Lhotse Shar shards.

One conversation = one Lhotse ``MonoCut`` (see shard-contract.md): the user stream is the
``recording`` (16 kHz), the agent stream is ``custom["target_audio"]`` (22,050 Hz, same duration),
one supervision per turn with speaker "user"/"agent".

A shard is written by :func:`write_shard` into a local staging folder and moved (or uploaded, for an
object-store URL) into the shard folder only when complete, audio tars first and the ``cuts`` manifest
last, so a reader never sees a half-written shard and a killed run leaves nothing but staging debris
(cleaned on the next run).

The generation workers build :class:`ShardCut` s (:func:`shard_cut`): the cut's manifest line as lhotse's
``SharWriter`` writes it plus the int16 samples of each stream, which :func:`write_shard` FLAC-encodes once
into the tars. That is the same bytes as lhotse's writer (``tests/pipeline/test_shards.py`` compares them
member by member) without importing lhotse, which imports torch (~2 CPU s and ~200 MB per worker), and
without the WAV encode/decode round trip that a lhotse in-memory ``Recording`` needs. Readers (validate,
the trainer, NeMo) open shards with lhotse. :func:`assembled_to_cut` gives the lhotse ``MonoCut`` of the same
cut, for code that wants lhotse objects in memory (audits, tests).

Example::

    cut = shard_cut(assembled, cut_id="alpaca-3-s1234", custom={"source": "alpaca"})
    paths = write_shard([cut], shard_dir, index=7, staging_root=out / ".staging")
    # shard_dir / "cuts.000007.jsonl.gz", "recording.000007.tar", "target_audio.000007.tar"
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from duplexgen.core import storage
from duplexgen.core.audio import quantize_int16
from duplexgen.core.records import TwoStreamCut
from duplexgen.core.schema import SHAR_FIELDS
from duplexgen.core.shards import shard_names
from duplexgen.core.storage import Location

def segment_words(segment, words) -> list[list]:
    """Word alignment of a segment on the conversation timeline: the turn's words (relative to its audio)
    shifted to the segment start; a barge-in cut keeps its first ``segment.n_words`` (the words of its text).

    Start and end are rounded to 0.1 ms (not start and duration), so a word never starts before the previous
    one ended. Items are lhotse ``AlignmentItem`` s as serialised: ``[symbol, start, duration, score]``."""
    kept = words if getattr(segment, "n_words", None) is None else words[: segment.n_words]
    items = []
    for w in kept:
        start = round(segment.start + w.start, 4)
        end = max(start, round(segment.start + w.end, 4))
        items.append([w.text, start, round(end - start, 4), None])
    return items


def supervision_custom(seg) -> Optional[dict[str, Any]]:
    """``supervision.custom`` (keys in core.schema.SUPERVISION_FIELDS): kind, voice, timing_source; None for a
    plain turn with nothing to record."""
    timing = getattr(seg, "timing_source", "")
    if seg.kind == "turn" and not seg.voice and not timing:
        return None
    return {"kind": seg.kind, "voice": seg.voice, **({"timing_source": timing} if timing else {})}


def num_samples(duration: float, sample_rate: int) -> int:
    """lhotse's ``compute_num_samples``: round half up after rounding to 8 digits."""
    return int(Decimal(round(duration * sample_rate, ndigits=8)).quantize(0, rounding=ROUND_HALF_UP))


def shar_recording(recording_id: str, sample_rate: int, duration: float) -> dict[str, Any]:
    """A Shar placeholder recording (lhotse ``to_shar_placeholder``): the audio is the tar member of the cut."""
    return {"id": recording_id, "sources": [{"type": "shar", "channels": [0], "source": ""}], "sampling_rate": sample_rate,
            "num_samples": num_samples(duration, sample_rate), "duration": duration, "channel_ids": [0]}


@dataclass
class ShardCut:
    """A conversation ready for a Shar shard, without lhotse objects: its line of ``cuts.*.jsonl.gz`` (lhotse's
    ``MonoCut.to_dict`` as ``SharWriter`` writes it) and each Shar audio field's int16 samples and rate."""

    id: str
    duration: float
    manifest: dict[str, Any]
    audio: dict[str, tuple[np.ndarray, int]]

    @property
    def custom(self) -> dict[str, Any]:
        return self.manifest.get("custom") or {}

    @property
    def supervisions(self) -> list[dict[str, Any]]:
        return self.manifest["supervisions"]


def shard_cut(
    assembled: TwoStreamCut, cut_id: str, custom: dict[str, Any], words_by_turn: Optional[dict[int, list]] = None
) -> ShardCut:
    """The two-stream cut of ``assembled``: supervisions from its segments, ``custom`` metadata, both streams.

    ``words_by_turn`` (turn index -> words relative to the turn audio) adds word alignments."""
    words_by_turn = words_by_turn or {}
    duration = len(assembled.user_audio) / assembled.user_sample_rate
    sups = []
    for i, seg in enumerate(assembled.segments):
        sup: dict[str, Any] = {"id": f"{cut_id}-{i:03d}-{seg.speaker}", "recording_id": cut_id, "start": round(seg.start, 6),
                               "duration": round(seg.duration, 6), "channel": 0, "text": seg.text, "speaker": seg.speaker}
        sup_custom = supervision_custom(seg)
        if sup_custom is not None:
            sup["custom"] = sup_custom
        if words_by_turn.get(seg.turn_index):
            sup["alignment"] = {"word": segment_words(seg, words_by_turn[seg.turn_index])}
        sups.append(sup)
    cut_custom = dict(assembled.custom)
    cut_custom.update(custom)
    cut_custom["target_audio"] = shar_recording(f"{cut_id}_agent", assembled.agent_sample_rate, duration)
    manifest = {"id": cut_id, "start": 0, "duration": duration, "channel": 0, "supervisions": sups,
                "recording": shar_recording(cut_id, assembled.user_sample_rate, duration), "custom": cut_custom, "type": "MonoCut"}
    n_agent = num_samples(duration, assembled.agent_sample_rate)
    if len(assembled.agent_audio) != n_agent:
        raise ValueError(f"{cut_id}: agent stream has {len(assembled.agent_audio)} samples, the cut's duration needs {n_agent}")
    audio = {"recording": (quantize_int16(assembled.user_audio), assembled.user_sample_rate),
             "target_audio": (quantize_int16(assembled.agent_audio), assembled.agent_sample_rate)}
    return ShardCut(cut_id, duration, manifest, audio)


def assembled_to_cut(
    assembled: TwoStreamCut, cut_id: str, custom: dict[str, Any], words_by_turn: Optional[dict[int, list]] = None
):
    """The same cut as :func:`shard_cut`, as an in-memory lhotse ``MonoCut`` (both streams as WAV bytes)."""
    return to_lhotse(shard_cut(assembled, cut_id, custom, words_by_turn))


def to_lhotse(cut: ShardCut):
    """A lhotse ``MonoCut`` of a :class:`ShardCut` whose Shar placeholders are replaced by in-memory recordings."""
    from lhotse import MonoCut, Recording

    from duplexgen.core.audio import wav_bytes

    def recording(field: str, placeholder: dict[str, Any]) -> Recording:
        samples, sr = cut.audio[field]
        return Recording.from_bytes(wav_bytes(samples.astype(np.float32) / 32768.0, sr), recording_id=placeholder["id"])

    d = json.loads(json.dumps(cut.manifest))
    d["recording"] = recording("recording", d["recording"]).to_dict()
    d["custom"]["target_audio"] = recording("target_audio", d["custom"]["target_audio"])
    target = d["custom"].pop("target_audio")
    mono = MonoCut.from_dict(d)
    mono.custom["target_audio"] = target
    return mono


def flac_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit FLAC at libsndfile's default compression (level 5): as fast as levels 0-4 here and the smallest of
    them (measured for BENCHMARKS.md), and the bytes lhotse's writer makes."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sample_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)  # mtime 0, mode 0644, no owner: what lhotse's TarWriter writes
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_shar_files(cuts: Sequence[ShardCut], staging: Path, index: int, fields: dict[str, str]) -> None:
    """The Shar files of one shard (``cuts`` jsonl.gz and one tar per audio field) from :class:`ShardCut` s:
    each stream FLAC-encoded once, member by member what lhotse's ``SharWriter`` writes."""
    names = shard_names(index, fields)
    for field, fmt in fields.items():
        if fmt != "flac":
            raise ValueError(f"Shar field {field!r}: only flac audio is written without lhotse, got {fmt!r}")
        with open(staging / names[field], "wb") as f, tarfile.open(fileobj=f, mode="w|") as tar:
            for cut in cuts:
                samples, sr = cut.audio[field]
                placeholder = cut.manifest["recording"] if field == "recording" else cut.manifest["custom"][field]
                _add_member(tar, f"{cut.id}.flac", flac_bytes(samples, sr))
                _add_member(tar, f"{cut.id}.json", (json.dumps(placeholder) + "\n").encode("utf-8"))
    with gzip.open(staging / names["cuts"], "wt", encoding="utf-8") as f:
        for cut in cuts:
            print(json.dumps(cut.manifest, ensure_ascii=False), file=f)


def write_shard(cuts: Sequence[Any], shard_dir: Location, index: int, staging_root: Path,
                fields: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Write ``cuts`` (:class:`ShardCut` s, or lhotse cuts written with lhotse's ``SharWriter``) as shard ``index`` of
    ``shard_dir`` (a folder or an object-store URL) atomically; returns the final file locations. The shard is
    built in the local ``staging_root`` first.

    ``fields`` are the Shar audio fields (default: the duplex ``SHAR_FIELDS``, user + agent streams)."""
    fields = SHAR_FIELDS if fields is None else fields
    staging = Path(staging_root) / f"{storage.name_of(shard_dir)}.{index:06d}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    if cuts and all(isinstance(c, ShardCut) for c in cuts):
        write_shar_files(cuts, staging, index, fields)
    else:
        from lhotse.shar import SharWriter

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
