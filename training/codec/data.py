"""Agent-voice utterances from codec-set Shar shards -> fixed-length training segments, per rank, resumable.

Each worker reads its own shards (or, when there are fewer shards than workers, every shard and
every ``world``-th utterance), one shard in memory at a time, in an order drawn from
``(seed, epoch, rank)``; every utterance gives one random segment of ``segment_seconds`` (as NeMo's
``AudioCodecLhotseDataset``), zero-padded with its true length when the utterance is shorter, so the
codec's masked losses ignore the padding. The stream's position is the number of batches taken;
a resumed stream skips that many batches from the manifests alone (no audio is decoded for them)
and then yields exactly the batches the interrupted run would have.

Example::

    stream = SegmentStream(list_codec_shards("out/codec_set/train"), sample_rate=22050, segment_seconds=2.0,
                           batch_size=8, seed=1, rank=0, world_size=1)
    batch = next(iter(stream))      # {"audio": [8, 44100] float32, "audio_lens": [8] int64, "seconds": float}
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from duplexgen.core.records import derive_seed

_CUTS_RE = re.compile(r"cuts\.(\d+)\.jsonl\.gz$")


def list_codec_shards(folder: str) -> list[dict[str, str]]:
    """The complete shards of a codec-set split folder as {"cuts": path, "recording": path, "count": n}."""
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"codec set folder not found: {folder} (run `duplexgen generate-codec-set` first)")
    shards = []
    for cuts in sorted(root.glob("cuts.*.jsonl.gz")):
        m = _CUTS_RE.search(cuts.name)
        tar = root / f"recording.{m.group(1)}.tar" if m else None
        if tar is None or not tar.exists():
            raise FileNotFoundError(f"shard {cuts} has no recording.{m.group(1) if m else '?'}.tar next to it")
        with gzip.open(cuts, "rt") as f:
            count = sum(1 for line in f if line.strip())
        shards.append({"cuts": str(cuts), "recording": str(tar), "count": count})
    if not shards:
        raise FileNotFoundError(f"no cuts.NNNNNN.jsonl.gz shards in {folder}")
    return shards


def load_shard(shard: dict, sample_rate: int) -> list[tuple[str, str, np.ndarray]]:
    """(id, text, mono float32 audio at ``sample_rate``) for every utterance of one shard."""
    from lhotse import CutSet

    out = []
    for cut in CutSet.from_shar(fields={"cuts": [shard["cuts"]], "recording": [shard["recording"]]}):
        if cut.sampling_rate != sample_rate:
            cut = cut.resample(sample_rate)
        audio = cut.load_audio()
        text = " ".join(s.text for s in cut.supervisions if s.text)
        out.append((cut.id, text, np.asarray(audio, dtype=np.float32).reshape(-1)))
    return out


def load_utterances(folder: str, sample_rate: int, max_utterances: int = 0) -> list[tuple[str, str, np.ndarray]]:
    """The first ``max_utterances`` (0 = all) utterances of a split folder, in shard order (evaluation)."""
    out = []
    for shard in list_codec_shards(folder):
        out.extend(load_shard(shard, sample_rate))
        if max_utterances and len(out) >= max_utterances:
            return out[:max_utterances]
    return out


def random_segment(audio: np.ndarray, segment_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A random window of ``segment_samples``; a shorter utterance is zero-padded. Returns (segment, valid length)."""
    n = len(audio)
    if n >= segment_samples:
        start = int(rng.integers(0, n - segment_samples + 1))
        return audio[start : start + segment_samples], segment_samples
    seg = np.zeros(segment_samples, dtype=np.float32)
    seg[:n] = audio
    return seg, n


def collate_segments(segments: list[tuple[np.ndarray, int]], sample_rate: int) -> dict:
    audio = torch.from_numpy(np.stack([s for s, _ in segments]).astype(np.float32))
    lens = torch.tensor([n for _, n in segments], dtype=torch.long)
    return {"audio": audio, "audio_lens": lens, "seconds": float(lens.sum()) / sample_rate}


def rank_refs(shards: list[dict], rank: int, world_size: int) -> list[tuple[int, list[int]]]:
    """This rank's (shard index, utterance indices): whole shards when there are enough, else every world-th utterance."""
    if len(shards) >= world_size:
        return [(i, list(range(s["count"]))) for i, s in enumerate(shards) if i % world_size == rank]
    refs, g = [], 0
    for i, s in enumerate(shards):
        mine = [j for j in range(s["count"]) if (g + j) % world_size == rank]
        g += s["count"]
        if mine:
            refs.append((i, mine))
    return refs


class SegmentStream:
    """Infinite, deterministic batches of segments for one rank; ``position`` = batches taken so far."""

    def __init__(self, shards: list[dict], sample_rate: int, segment_seconds: float, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, position: int = 0):
        self.shards, self.sample_rate, self.batch_size = shards, sample_rate, batch_size
        self.segment_samples = int(round(segment_seconds * sample_rate))
        self.seed, self.rank = seed, rank
        self.refs = rank_refs(shards, rank, world_size)
        self.per_epoch = sum(len(js) for _, js in self.refs)
        if self.per_epoch == 0:
            raise ValueError(f"rank {rank} of {world_size} has no utterances ({sum(s['count'] for s in shards)} in all): "
                             "use fewer workers or a larger codec set")
        self.position = position

    def _epoch_order(self, epoch: int) -> list[tuple[int, list[int]]]:
        rng = np.random.default_rng(derive_seed(self.seed, "codec-epoch", epoch, self.rank))
        order = [self.refs[k] for k in rng.permutation(len(self.refs))]
        return [(i, [js[k] for k in rng.permutation(len(js))]) for i, js in order]

    def _utterances(self, skip: int) -> Iterator[tuple[int, np.ndarray]]:
        """(global utterance counter, audio) forever, starting after ``skip`` utterances (skipped without decoding)."""
        epoch, start = divmod(skip, self.per_epoch)
        while True:
            base, k = epoch * self.per_epoch, 0
            for shard_i, items in self._epoch_order(epoch):
                if k + len(items) <= start:  # the whole shard was consumed before the resume point
                    k += len(items)
                    continue
                audio = load_shard(self.shards[shard_i], self.sample_rate)
                for jj, j in enumerate(items):
                    if k + jj >= start:
                        yield base + k + jj, audio[j][2]
                k += len(items)
            start, epoch = 0, epoch + 1

    def __iter__(self) -> Iterator[dict]:
        batch = []
        for counter, audio in self._utterances(self.position * self.batch_size):
            rng = np.random.default_rng(derive_seed(self.seed, "codec-segment", self.rank, counter))
            batch.append(random_segment(audio, self.segment_samples, rng))
            if len(batch) == self.batch_size:
                self.position += 1
                yield collate_segments(batch, self.sample_rate)
                batch = []
