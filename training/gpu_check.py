"""Real-size SALM-Duplex for a few steps on one GPU: prints throughput, memory and the codec-precompute speed-up.

The paper configuration (17-layer streaming FastConformer + 2-layer adapter, TinyLlama-1.1B-shaped
backbone, NanoCodec-shaped codec; random weights unless the config names checkpoints) trains on a
synthetic batch of ``--seconds`` of audio made of ``--conv-seconds`` conversations, with the recipe's
optimizer (fused AdamW) and bf16 autocast. The same steps run twice: codec encoding on the fly (what
NeMo does) and with precomputed codes; the ratio is the speed-up of ``duplexgen precompute-codes``.

    python -m duplexgen.training.gpu_check                       # paper config, 1 GPU
    python -m duplexgen.training.gpu_check --tiny --steps 2      # tiny config on CPU (checks the script)
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def synthetic_batch(model, batch_seconds: float, conv_seconds: float, device) -> dict:
    """Conversations with one agent turn each: BOS at 1/3, EOS at 2/3 of the frames, a few text tokens."""
    B = max(1, int(batch_seconds // conv_seconds))
    g = torch.Generator().manual_seed(0)
    src = (0.1 * torch.randn(B, int(conv_seconds * 16000), generator=g)).to(device)
    tgt = (0.1 * torch.randn(B, int(conv_seconds * 22050), generator=g)).to(device)
    T = round(conv_seconds / 0.08)
    tokens = torch.full((B, T), model.text_pad_id, dtype=torch.long)
    tokens[:, T // 3] = model.text_bos_id
    tokens[:, T // 3 + 1 : T // 3 + 20] = torch.randint(100, 1000, (B, 19), generator=g)
    tokens[:, 2 * T // 3] = model.text_eos_id
    return {"source_audio": src, "source_audio_lens": torch.full((B,), src.shape[1], device=device),
            "target_audio": tgt, "target_audio_lens": torch.full((B,), tgt.shape[1], device=device),
            "target_tokens": tokens.to(device), "duration": B * conv_seconds}


def timed_steps(model, optimizer, batch, steps: int, bf16: bool, device) -> dict:
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.time()
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model.training_losses(batch)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.time() - t)
    step_s = sum(times[1:]) / max(1, len(times) - 1) if len(times) > 1 else times[0]  # first step = warm-up
    frames = batch["duration"] / 0.08
    return {"step_s": round(step_s, 4), "audio_seconds_per_s": round(batch["duration"] / step_s, 1),
            "frames_per_s": round(frames / step_s, 1), "loss": round(float(out["loss"]), 4)}


def main(argv=None) -> int:
    from duplexgen.training.config import load_train_config
    from duplexgen.training.model import SALMDuplex

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="salm_duplex_paper")
    ap.add_argument("--tiny", action="store_true", help="use the tiny_cpu config (script check on CPU)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=None, help="audio seconds per batch (default: the config's batch_duration)")
    ap.add_argument("--conv-seconds", type=float, default=60.0, help="length of each synthetic conversation")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)

    cfg = load_train_config("tiny_cpu" if args.tiny else args.config, args.overrides)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    torch.manual_seed(0)
    t0 = time.time()
    model = SALMDuplex(cfg.model).to(device)
    build_s = time.time() - t0
    n_params = sum(p.numel() for p in model.trainable_parameters())
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                  weight_decay=cfg.weight_decay, fused=device.type == "cuda")
    seconds = args.seconds or cfg.batch_duration
    conv = min(args.conv_seconds, seconds)
    batch = synthetic_batch(model, seconds, conv, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    on_the_fly = timed_steps(model, optimizer, batch, args.steps, bf16, device)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    codes, codes_lens = model.encode_agent_audio(batch["target_audio"], batch["target_audio_lens"])
    pre = timed_steps(model, optimizer, {**batch, "target_codes": codes, "target_codes_lens": codes_lens}, args.steps, bf16, device)
    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "config": "tiny_cpu" if args.tiny else args.config, "trainable_params_M": round(n_params / 1e6, 1),
        "build_s": round(build_s, 1), "batch_audio_s": batch["duration"], "conversations": batch["source_audio"].shape[0],
        "bf16": bf16, "codec_on_the_fly": on_the_fly, "precomputed_codes": pre,
        "precompute_speedup": round(on_the_fly["step_s"] / pre["step_s"], 3),
        "peak_gpu_memory_GiB": round(peak, 2) if peak is not None else None,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
