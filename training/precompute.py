"""Codec precompute: store the agent stream's NanoCodec codes with every cut, once, instead of every step.

NeMo re-encodes ``target_audio`` with the frozen codec at every training step. This stage reads
duplex shards, encodes the agent audio in batches and writes the same shards again with one more
Shar field, ``target_codes`` (int16 array [4, T] at 12.5 fps, stored as numpy), plus
``custom["target_codes_codec"]`` = the codec's fingerprint. The trainer uses the codes when every cut
of a batch has them from the same codec, and encodes on the fly otherwise.

Example::

    precompute_codes("out/demo/shards", "out/demo/shards_codes", model.audio_codec)
    # or: duplexgen precompute-codes tiny_cpu out/demo/shards out/demo/shards_codes
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from duplexgen.training.data import CODEC_ID_KEY, CODES_FIELD, list_shards


@torch.no_grad()
def encode_cuts(cuts: list, codec, device: torch.device) -> list[np.ndarray]:
    """Codes [K, T] (int16) of each cut's ``target_audio``, resampled to the codec's rate the way NeMo's dataset
    does it and encoded alone (``encode_exact``): the same codes the trainer computes on the fly in any batch."""
    from lhotse import CutSet
    from lhotse.dataset.collation import collate_audio

    from duplexgen.training.model import encode_exact

    out = []
    for cut in cuts:
        one = CutSet.from_cuts([cut]).resample(int(codec.sample_rate), recording_field="target_audio")
        audio, lens = collate_audio(one, recording_field="target_audio")
        codes, codes_lens = encode_exact(codec, audio.to(device), lens.to(device))
        out.append(codes[0, :, : int(codes_lens[0])].to(torch.int16).cpu().numpy())
    return out


def precompute_codes(in_dir: str, out_dir: str, codec, codec_id: str, device: Optional[torch.device] = None) -> dict:
    """Rewrite every shard under ``in_dir`` into ``out_dir`` with ``target_codes``; returns counts and seconds.

    A shard is published by renaming its cuts manifest last, so a rerun skips the shards already written."""
    from lhotse import CutSet
    from lhotse.shar import SharWriter

    device = device or next(codec.parameters()).device
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame_shift = codec.samples_per_frame / codec.sample_rate
    n_cuts, skipped, t0 = 0, 0, time.time()
    for index, shard in enumerate(list_shards([in_dir])):
        if (out / f"cuts.{index:06d}.jsonl.gz").exists():
            skipped += 1
            continue
        fields = {k: [v] for k, v in shard.items() if k != CODES_FIELD}
        cuts = list(CutSet.from_shar(fields=fields))
        codes = encode_cuts(cuts, codec, device)
        tmp = out / f".tmp_{index:06d}"
        tmp.mkdir(exist_ok=True)
        with SharWriter(str(tmp), fields={"recording": "flac", "target_audio": "flac", CODES_FIELD: "numpy"},
                        shard_size=len(cuts) + 1) as writer:
            for cut, c in zip(cuts, codes):
                cut = cut.attach_tensor(CODES_FIELD, c, frame_shift=frame_shift, temporal_dim=1)
                cut.custom[CODEC_ID_KEY] = codec_id
                writer.write(cut)
        # The writer numbers from 000000: give the files this shard's index; the cuts manifest last (= published).
        for f in sorted(tmp.iterdir(), key=lambda f: f.name.startswith("cuts.")):
            f.rename(out / f.name.replace(".000000.", f".{index:06d}."))
        tmp.rmdir()
        n_cuts += len(cuts)
    return {"cuts": n_cuts, "skipped_shards": skipped, "seconds": time.time() - t0, "out_dir": str(out)}
