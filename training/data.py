"""Training batches from duplexgen shards: Lhotse Shar -> duration buckets -> NeMo's DuplexS2SDataset.

* Shards are split between ranks (rank r reads shards r, r+W, ...); with fewer shards than ranks
  every rank reads all of them and the sampler deals batches round-robin instead.
* ``DynamicBucketingSampler`` packs ``batch_duration`` seconds of audio per batch from ``num_buckets``
  duration buckets (the paper's 1000 s per GPU).
* Infinite mode repeats the (re-shuffled) shards forever; epoch mode stops after ``max_epochs``.
* The data position is the number of batches this rank has taken; resuming rebuilds the same
  deterministic stream and skips that many batches (only cut manifests and tars are read, no decoding).
* Batches are built by NeMo's own ``DuplexS2SDataset`` (text channel with BOS/EOS frames). When every
  cut carries codec codes from ``precompute.py`` made by the same codec, they ride along as
  ``target_codes`` and the trainer skips the codec pass.

Example::

    loader = BatchStream(cfg, tokenizer, rank=0, world_size=2, codec_id=model.codec_id)
    for batch in loader: ...
    loader.position   # batches taken so far (saved in checkpoints)
"""

from __future__ import annotations

import itertools
import logging
import re
from typing import Iterator, Optional

import numpy as np
import torch

from duplexgen.core.timing import AGENT_SAMPLE_RATE, FRAME_S, USER_SAMPLE_RATE

log = logging.getLogger(__name__)

CODES_FIELD = "target_codes"
CODEC_ID_KEY = "target_codes_codec"
_CUTS_RE = re.compile(r"cuts\.(\d{6})\.jsonl\.gz$")


def list_shards(dirs: list[str]) -> list[dict[str, str]]:
    """Every shard under the given folders (or object-store URLs) as {field: location}, in a stable
    order (searched recursively)."""
    from duplexgen.core import storage
    from duplexgen.core.shards import find_shard_dirs

    shards = []
    for d in dirs:
        if not storage.exists(d):
            raise FileNotFoundError(f"train_shards folder not found: {d} (run `duplexgen generate` first)")
        for folder in find_shard_dirs(d):
            names = storage.listdir(folder)
            present = set(names)
            for idx in (m.group(1) for m in map(_CUTS_RE.fullmatch, names) if m):
                shard = {"cuts": storage.join(folder, f"cuts.{idx}.jsonl.gz")}
                for fld in ("recording", "target_audio", CODES_FIELD):
                    if f"{fld}.{idx}.tar" in present:
                        shard[fld] = storage.join(folder, f"{fld}.{idx}.tar")
                if "recording" not in shard or "target_audio" not in shard:
                    raise FileNotFoundError(f"shard {shard['cuts']} lacks recording/target_audio tars (not a duplex shard)")
                shards.append(shard)
    if not shards:
        raise FileNotFoundError(f"no cuts.NNNNNN.jsonl.gz shards under {dirs}")
    return shards


def rank_shards(shards: list[dict], rank: int, world_size: int) -> tuple[list[dict], bool]:
    """This rank's shards, and whether the sampler must still split batches between ranks."""
    if len(shards) >= world_size:
        return shards[rank::world_size], False
    return shards, True


def open_cuts(shards: list[dict], *, seed: int, infinite: bool, max_cut_duration: Optional[float] = None):
    """A lazy CutSet over the shards (shard order shuffled per epoch from ``seed``), repeated when infinite."""
    from lhotse import CutSet

    groups: dict[tuple, list[dict]] = {}
    for s in shards:
        groups.setdefault(tuple(sorted(s)), []).append(s)
    parts = []
    for keys, group in groups.items():
        fields = {k: [s[k] for s in group] for k in keys}
        parts.append(CutSet.from_shar(fields=fields, shuffle_shards=True, stateful_shuffle=True, seed=seed))
    cuts = parts[0] if len(parts) == 1 else CutSet.mux(*parts, weights=[len(g) for g in groups.values()], seed=seed)
    if max_cut_duration:
        cuts = cuts.filter(lambda c: c.duration <= max_cut_duration)
    return cuts.repeat() if infinite else cuts


class DuplexBatchDataset(torch.utils.data.Dataset):
    """NeMo's DuplexS2SDataset plus precomputed codec codes when every cut has them (same codec).

    ``target_sample_rate`` is the codec's rate: NeMo resamples the agent stream to it before the codec pass."""

    def __init__(self, tokenizer, codec_id: Optional[str] = None, use_precomputed_codes: bool = True,
                 target_sample_rate: int = AGENT_SAMPLE_RATE):
        from nemo.collections.speechlm2.data import DuplexS2SDataset

        self.inner = DuplexS2SDataset(
            tokenizer, frame_length=FRAME_S, source_sample_rate=USER_SAMPLE_RATE, target_sample_rate=target_sample_rate,
            input_roles=["user", "User"], output_roles=["agent", "Assistant"],
        )
        self.codec_id = codec_id
        self.use_precomputed_codes = use_precomputed_codes

    def __getitem__(self, cuts) -> dict:
        batch = self.inner[cuts]
        batch["duration"] = float(sum(c.duration for c in cuts))
        batch["target_codes"] = None
        if self.use_precomputed_codes and self.codec_id and all(
            c.has_custom(CODES_FIELD) and c.custom.get(CODEC_ID_KEY) == self.codec_id for c in cuts
        ):
            codes = [torch.from_numpy(np.asarray(c.load_custom(CODES_FIELD)).astype(np.int64)) for c in cuts]
            lens = torch.tensor([x.shape[1] for x in codes])
            out = torch.zeros(len(codes), codes[0].shape[0], int(lens.max()), dtype=torch.long)
            for i, x in enumerate(codes):
                out[i, :, : x.shape[1]] = x
            batch["target_codes"], batch["target_codes_lens"] = out, lens
        return batch


class _Resumed(torch.utils.data.Sampler):
    """Wraps a Lhotse sampler: skips the first ``skip`` batches and counts what was handed out."""

    def __init__(self, sampler, skip: int):
        self.sampler, self.skip, self.skipped = sampler, skip, 0

    def __iter__(self):
        it = iter(self.sampler)
        for _ in itertools.islice(it, self.skip):
            self.skipped += 1
        return it


class BatchStream:
    """Iterates training batches for one rank and remembers its position (batches taken)."""

    def __init__(self, cfg, tokenizer, *, rank: int, world_size: int, codec_id: Optional[str] = None,
                 position: int = 0, num_workers: int = 0, target_sample_rate: int = AGENT_SAMPLE_RATE):
        from lhotse.dataset import DynamicBucketingSampler

        mine, split_batches = rank_shards(list_shards(cfg.train_shards), rank, world_size)
        cuts = open_cuts(mine, seed=cfg.seed + 1000 * rank, infinite=cfg.infinite, max_cut_duration=cfg.max_cut_duration)
        self.sampler = DynamicBucketingSampler(
            cuts, max_duration=cfg.batch_duration, num_buckets=cfg.num_buckets, shuffle=True, seed=cfg.seed,
            buffer_size=cfg.bucket_buffer_size, drop_last=False,
            world_size=world_size if split_batches else 1, rank=rank if split_batches else 0,
        )
        self.dataset = DuplexBatchDataset(tokenizer, codec_id, cfg.use_precomputed_codes, target_sample_rate)
        self.max_epochs = 1 if cfg.infinite else cfg.max_epochs
        self.num_workers = num_workers
        self.position = position

    def __iter__(self) -> Iterator[dict]:
        # Epoch mode: the lazy CutSet is iterated max_epochs times; position counts batches over all epochs.
        skip = self.position
        for epoch in range(self.max_epochs):
            self.sampler.set_epoch(epoch)
            resumed = _Resumed(self.sampler, skip)
            loader = torch.utils.data.DataLoader(
                self.dataset, sampler=resumed, batch_size=None, num_workers=self.num_workers, persistent_workers=False,
            )
            for batch in loader:
                self.position += 1
                yield batch
            skip -= resumed.skipped


def validation_batches(dirs: list[str], tokenizer, *, batch_duration: float, max_cuts: int = 0,
                       codec_id: Optional[str] = None, use_precomputed_codes: bool = True,
                       target_sample_rate: int = AGENT_SAMPLE_RATE) -> list[dict]:
    """The held-out set as fixed batches: the first ``max_cuts`` conversations (0 = all) in shard order, sorted by
    duration and packed into batches of at most ``batch_duration`` seconds. Same batches at every validation."""
    from lhotse import CutSet

    cuts = []
    for shard in list_shards(dirs):
        cuts.extend(CutSet.from_shar(fields={k: [v] for k, v in shard.items()}))
        if max_cuts and len(cuts) >= max_cuts:
            break
    cuts = sorted(cuts[: max_cuts or None], key=lambda c: (c.duration, c.id))
    dataset = DuplexBatchDataset(tokenizer, codec_id, use_precomputed_codes, target_sample_rate)
    groups, cur, total = [], [], 0.0
    for c in cuts:
        if cur and total + c.duration > batch_duration:
            groups.append(cur)
            cur, total = [], 0.0
        cur.append(c)
        total += c.duration
    if cur:
        groups.append(cur)
    return [dataset[CutSet.from_cuts(g)] for g in groups]
