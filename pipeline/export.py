"""`duplexgen export webdataset`: shards -> moshi-finetune style WebDataset tars.

Each sample is a stereo WAV (left = agent, right = user, both resampled to one rate, 24 kHz by
default as Moshi's Mimi codec expects) plus a JSON of word alignments
``{"alignments": [[word, [start, end], speaker], ...]}`` where the agent is ``SPEAKER_MAIN``.
Word times come from the supervisions' word alignments (TTS events, model durations or forced alignment;
they spell the supervision's text); a supervision without them, or whose alignment is itself an estimate,
makes the sample say ``"timing": "estimate"`` (words without an alignment are spread evenly over the turn).
NeMo cannot read this format (no agent channel field): it is for other consumers.

Example::

    export_webdataset(Path("out/demo/shards"), Path("out/demo/wds"), sample_rate=24000)
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from duplexgen.core.shards import find_shard_dirs, load_shards
from duplexgen.core.storage import Location
from duplexgen.core.words import word_symbols

SPEAKERS = {"agent": "SPEAKER_MAIN", "user": "SPEAKER_OTHER"}


def supervision_words(sup) -> tuple[list[list[Any]], str]:
    """Words of a supervision on the conversation timeline, and where their times come from."""
    ali = (sup.alignment or {}).get("word") if sup.alignment else None
    if ali:
        # The alignment spells the text (``duplexgen validate``); its times were estimated only when it says so.
        how = "estimate" if (sup.custom or {}).get("timing_source") == "estimate" else "tts"
        return [[a.symbol, [round(a.start, 3), round(a.start + a.duration, 3)], SPEAKERS[sup.speaker]] for a in ali], how
    words = word_symbols(sup.text or "")  # the same words an alignment would have
    if not words:
        return [], "none"
    step = sup.duration / len(words)
    return [[w, [round(sup.start + i * step, 3), round(sup.start + (i + 1) * step, 3)], SPEAKERS[sup.speaker]] for i, w in enumerate(words)], "estimate"


def cut_to_sample(cut, sample_rate: int) -> dict[str, Any]:
    user = soxr.resample(cut.load_audio()[0], cut.recording.sampling_rate, sample_rate)
    agent = soxr.resample(cut.load_target_audio()[0], cut.target_audio.sampling_rate, sample_rate)
    n = int(round(cut.duration * sample_rate))
    stereo = np.zeros((n, 2), dtype=np.float32)
    stereo[: min(n, len(agent)), 0] = agent[:n]
    stereo[: min(n, len(user)), 1] = user[:n]
    buf = io.BytesIO()
    sf.write(buf, stereo, sample_rate, format="WAV", subtype="PCM_16")
    alignments, timing = [], set()
    for sup in sorted(cut.supervisions, key=lambda s: s.start):
        words, how = supervision_words(sup)
        alignments.extend(words)
        timing.add(how)
    meta = {
        "alignments": alignments,
        "timing": "estimate" if "estimate" in timing else "tts",
        "duration": cut.duration,
        "source": (cut.custom or {}).get("source", ""),
    }
    return {"__key__": cut.id, "wav": buf.getvalue(), "json": json.dumps(meta).encode()}


def export_webdataset(shard_root: Location, out_dir: Path, sample_rate: int = 24000, maxcount: int = 1000) -> dict[str, Any]:
    import webdataset as wds

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    pattern = str(out_dir / "duplex-%06d.tar")
    with wds.ShardWriter(pattern, maxcount=maxcount, verbose=0) as sink:
        for d in find_shard_dirs(shard_root):
            for cut in load_shards(d):
                sink.write(cut_to_sample(cut, sample_rate))
                n += 1
    return {"samples": n, "tars": sorted(str(p) for p in out_dir.glob("duplex-*.tar")), "sample_rate": sample_rate}
