"""`duplexgen train CONFIG [key=value ...]` and `duplexgen precompute-codes CONFIG IN_DIR OUT_DIR`.

Listed in the command table of ``duplexgen.pipeline.cli`` (``register(subparsers)``); each command is a thin layer
over :func:`duplexgen.training.train.run_training` and :func:`duplexgen.training.precompute.precompute_codes`.
"""

from __future__ import annotations

import argparse
import json

TRAIN_NOTE = """\
CONFIG is a YAML file or a shipped config in training/configs/ (tiny_cpu, salm_duplex_paper).
A rerun with the same output_dir resumes from its latest checkpoint. Override any key as key=value:
  duplexgen train tiny_cpu train_shards=[out/demo/shards] max_steps=100 model.text_loss_weight=3"""


def cmd_train(args: argparse.Namespace) -> int:
    from duplexgen.training.config import load_train_config
    from duplexgen.training.train import run_training

    cfg = load_train_config(args.config, args.overrides)
    summary = run_training(cfg)
    losses = summary["losses"]
    print(json.dumps({k: summary[k] for k in ("output_dir", "steps", "checkpoint", "resumed_from")}, indent=1))
    if losses:
        print(f"loss: first {losses[0]:.4f}, last {losses[-1]:.4f} over {len(losses)} logged steps")
    return 0


def cmd_precompute(args: argparse.Namespace) -> int:
    import torch

    from duplexgen.training.config import load_train_config
    from duplexgen.training.model import build_codec, codec_fingerprint
    from duplexgen.training.precompute import precompute_codes

    cfg = load_train_config(args.config, args.overrides)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    codec = build_codec(cfg.model).to(device)
    print(json.dumps(precompute_codes(args.in_dir, args.out_dir, codec, codec_fingerprint(codec), device), indent=1))
    return 0


def register(sub) -> None:
    from duplexgen.core.config import add_config_command
    from duplexgen.training.config import TrainConfig

    add_config_command(
        sub, "train", schema=TrainConfig, func=cmd_train, shipped="tiny_cpu, salm_duplex_paper",
        help="train SALM-Duplex on shards with Ray Train (CPU or GPUs)",
        description="Train the full SALM-Duplex model (streaming FastConformer + Llama backbone + NanoCodec heads) "
        "on duplexgen shards, distributed with Ray Train. Resumes automatically from output_dir.",
        usage_note=TRAIN_NOTE,
    )

    p = sub.add_parser(
        "precompute-codes",
        help="store the agent stream's codec codes with each cut (faster training)",
        description="Encode every cut's target_audio with the config's codec once and write the shards again with a "
        "target_codes field; training then skips the codec pass for them.",
    )
    p.add_argument("config", help="train config naming the codec (model.pretrained_audio_codec or model.audio_codec)")
    p.add_argument("in_dir", help="shard folder to read")
    p.add_argument("out_dir", help="shard folder to write (the same shards plus target_codes)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of config keys")
    p.add_argument("--cpu", action="store_true", help="encode on CPU even if a GPU is present")
    p.set_defaults(func=cmd_precompute)
