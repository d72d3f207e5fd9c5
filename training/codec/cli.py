"""`duplexgen train-codec` and `duplexgen eval-codec` (``register(subparsers)``).

Thin layers over :func:`duplexgen.training.codec.train.run_codec_training` and
:func:`duplexgen.training.codec.evaluate.evaluate_codecs`. The codec set they read is made by
`duplexgen generate-codec-set` (the generation pipeline).

Example::

    duplexgen generate-codec-set codec_set_demo output_dir=out/codec_set_demo
    duplexgen train-codec codec_tiny_cpu data_dir=out/codec_set_demo output_dir=out/codec_tiny
    duplexgen eval-codec out/codec_set_demo/heldout before=out/codec_tiny/codec_init.nemo after=out/codec_tiny/codec.nemo
"""

from __future__ import annotations

import argparse
import json
import sys

TRAIN_NOTE = """\
CONFIG is a YAML file or a shipped config in training/codec/configs/ (codec_tiny_cpu, codec_nanocodec).
A rerun with the same output_dir resumes from its latest checkpoint. The result is OUTPUT_DIR/codec.nemo:
  duplexgen train salm_duplex_paper model.pretrained_audio_codec=OUTPUT_DIR/codec.nemo ..."""


def cmd_train_codec(args: argparse.Namespace) -> int:
    from duplexgen.training.codec.config import load_codec_train_config
    from duplexgen.training.codec.train import run_codec_training

    summary = run_codec_training(load_codec_train_config(args.config, args.overrides))
    print(json.dumps({k: summary[k] for k in ("output_dir", "steps", "codec", "checkpoint", "resumed_from")}, indent=1))
    if summary["losses"]:
        print(f"loss: first {summary['losses'][0]:.4f}, last {summary['losses'][-1]:.4f} over {len(summary['losses'])} steps")
    if summary["val"]:
        first, last = summary["val"][0], summary["val"][-1]
        print(f"held-out val_loss: step {first['step']} {first['val_loss']:.4f} -> step {last['step']} {last['val_loss']:.4f}")
    if summary.get("eval"):
        from duplexgen.training.codec.evaluate import markdown_table

        print(markdown_table(summary["eval"]))
    return 0


def cmd_eval_codec(args: argparse.Namespace) -> int:
    from duplexgen.training.codec.evaluate import EvalConfig, evaluate_codecs, markdown_table

    codecs = {}
    for spec in args.codecs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"codecs are given as NAME=PATH.nemo, got {spec!r}")
        codecs[name] = path
    cfg = EvalConfig(heldout_dir=args.heldout_dir, output_dir=args.out, max_utterances=args.max_utterances,
                     asr=args.asr, asr_model_path=args.asr_model, device=args.device)
    results = evaluate_codecs(codecs, cfg)
    print(markdown_table(results))
    print(f"written: {args.out}/eval.json, {args.out}/eval.md", file=sys.stderr)
    return 0


def register(sub) -> None:
    from duplexgen.core.config import add_config_command
    from duplexgen.training.codec.config import CodecTrainConfig

    add_config_command(
        sub, "train-codec", schema=CodecTrainConfig, func=cmd_train_codec, shipped="codec_tiny_cpu, codec_nanocodec",
        help="fine-tune a NeMo AudioCodecModel (NanoCodec) on the agent voice with Ray Train",
        description="Fine-tune the codec's encoder and decoder with NeMo's own reconstruction (and, when the codec "
        "has a discriminator, adversarial) losses on a codec set; resumable; writes OUTPUT_DIR/codec.nemo and a "
        "before/after evaluation on the held-out utterances.",
        usage_note=TRAIN_NOTE,
    )

    e = sub.add_parser(
        "eval-codec",
        help="compare codecs on held-out agent utterances (mel distance, SI-SDR, STOI, PESQ, ASR WER)",
        description="Encode and decode every held-out utterance with each codec and score the result against the "
        "original; prints a markdown table and writes eval.json and eval.md.",
    )
    e.add_argument("heldout_dir", help="held-out split of a codec set (e.g. out/codec_set/heldout)")
    e.add_argument("codecs", nargs="+", help="NAME=PATH.nemo, one per codec (e.g. before=nanocodec.nemo after=out/codec.nemo)")
    e.add_argument("--out", default="out/codec_eval", help="folder for eval.json and eval.md")
    e.add_argument("--max-utterances", type=int, default=200, help="first N held-out utterances (0 = all)")
    e.add_argument("--asr", default="none", choices=["none", "pocketsphinx", "nemo"], help="ASR round-trip WER engine")
    e.add_argument("--asr-model", default=None, help="NeMo ASR .nemo for --asr nemo")
    e.add_argument("--device", default="auto", help="auto, cpu or cuda")
    e.set_defaults(func=cmd_eval_codec)
