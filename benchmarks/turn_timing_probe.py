"""Did a duplex checkpoint learn *when* to start and end its turns? Teacher-forced, decoding aside.

For every held-out conversation the model reads the reference inputs (user stream, the agent's own text and
codes, as in training) and gives p(BOS) at every frame where the agent is silent and p(EOS) at every frame
where it speaks. A model that learned turn-taking ranks the reference BOS frames above the other silent
frames (BOS AUC near 1); one that only learned how often turns start spreads p(BOS) evenly (AUC near 0.5).
The same for EOS over the speaking frames (natural ends and barge-in cuts alike).

This is where the codec-lookahead shortcut showed (``training/codec/README.md``): teacher-forced p(BOS) of
0.96 at the BOS frame, read off the agent's own codes, while the free-running model never spoke. So the
probe also reports the AUC with the agent's codes replaced by the codes of silence before each BOS
(``bos_auc_silent_codes``): a model that keys on the user stream keeps its AUC, one that keys on its own
codes loses it. Never run in CI (it needs trained checkpoints).

Run (the package importable as ``duplexgen``)::

    python benchmarks/turn_timing_probe.py --shards out/ablation/codes/val_bargein \\
        untrained=out/ablation/runs/untrained/export bargein_aug=out/ablation/runs/bargein_aug/export --out benchmarks/turn_timing_probe.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch


def auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return None
    from scipy.stats import mannwhitneyu

    return round(float(mannwhitneyu(pos, neg).statistic) / (len(pos) * len(neg)), 4)


def speaking_mask(labels: torch.Tensor, bos: int, eos: int) -> torch.Tensor:
    """True where the agent is inside a turn before this label (after a BOS label, up to and including its EOS)."""
    out = torch.zeros_like(labels, dtype=torch.bool)
    inside = False
    for t, tok in enumerate(labels.tolist()):
        out[t] = inside
        if tok == bos:
            inside = True
        elif tok == eos:
            inside = False
    return out


@torch.no_grad()
def probe(model, cuts, silence_codes_before_bos: bool = False) -> dict[str, Any]:
    from lhotse import CutSet

    from duplexgen.training.data import DuplexBatchDataset

    ds = DuplexBatchDataset(model.tokenizer, codec_id=model.codec_id)
    bos_pos, bos_neg, eos_pos, eos_neg = [], [], [], []
    for cut in cuts:
        batch = ds[CutSet.from_cuts([cut])]
        if silence_codes_before_bos:
            batch = hide_onsets(model, batch)
        inputs = model.prepare_inputs(batch)
        probs = model(inputs["input_embeds"])["text_logits"][0].float().softmax(-1)
        labels = inputs["text_labels"][0]
        real = labels >= 0
        speaking = speaking_mask(labels, model.text_bos_id, model.text_eos_id)
        p_bos, p_eos = probs[:, model.text_bos_id], probs[:, model.text_eos_id]
        silent = real & ~speaking
        bos_pos.append(p_bos[silent & (labels == model.text_bos_id)].numpy())
        bos_neg.append(p_bos[silent & (labels != model.text_bos_id)].numpy())
        talk = real & speaking
        eos_pos.append(p_eos[talk & (labels == model.text_eos_id)].numpy())
        eos_neg.append(p_eos[talk & (labels != model.text_eos_id)].numpy())
    cat = np.concatenate
    bp, bn, ep, en = cat(bos_pos), cat(bos_neg), cat(eos_pos), cat(eos_neg)
    return {"conversations": len(cuts), "bos_events": len(bp), "eos_events": len(ep),
            "bos_auc": auc(bp, bn), "p_bos_at_bos": round(float(bp.mean()), 4) if len(bp) else None,
            "p_bos_elsewhere": round(float(bn.mean()), 4), "eos_auc": auc(ep, en),
            "p_eos_at_eos": round(float(ep.mean()), 4) if len(ep) else None, "p_eos_elsewhere": round(float(en.mean()), 4)}


def hide_onsets(model, batch: dict) -> dict:
    """The batch with the agent's codes of the 4 frames before every BOS set to the codes of its first frame
    (silence: every conversation starts with the user), so no code before a BOS carries the agent's onset."""
    from duplexgen.training.model import encode_exact

    if batch.get("target_codes") is None:
        batch["target_codes"], batch["target_codes_lens"] = encode_exact(model.audio_codec, batch["target_audio"], batch["target_audio_lens"])
    codes = batch["target_codes"].clone()
    for b in range(codes.shape[0]):
        for t in (batch["target_tokens"][b] == model.text_bos_id).nonzero().flatten().tolist():
            codes[b, :, max(0, t - 4) : t] = codes[b, :, :1]
    batch["target_codes"] = codes
    return batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", help="NAME=PATH (an export/, best/ or checkpoint folder)")
    ap.add_argument("--shards", required=True, help="held-out shards (with or without precomputed codes)")
    ap.add_argument("--n", type=int, default=30, help="conversations")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    from lhotse import CutSet

    from duplexgen.training.data import list_shards
    from duplexgen.training.infer import load_model

    shards = list_shards([args.shards])
    # only the first n conversations are read (Shar attaches each cut's audio as it is iterated)
    cuts = list(itertools.islice(CutSet.from_shar(fields={k: [s[k] for s in shards] for k in shards[0]}), args.n))
    res: dict[str, Any] = {"shards": Path(args.shards).name, "conversations": len(cuts), "arms": {}}
    for spec in args.checkpoints:
        name, path = spec.split("=", 1)
        model = load_model(path).eval()
        res["arms"][name] = {"reference_codes": probe(model, cuts), "silent_codes_before_bos": probe(model, cuts, True)}
        print(name, json.dumps(res["arms"][name]))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
