"""`duplexgen generate-codec-set`, `duplexgen train-codec` and `duplexgen eval-codec` (``register(subparsers)``).

Thin layers over :func:`duplexgen.pipeline.codec_set.generate_codec_set`,
:func:`duplexgen.training.codec.train.run_codec_training` and
:func:`duplexgen.training.codec.evaluate.evaluate_codecs`.

Example::

    duplexgen generate-codec-set codec_set_demo output_dir=out/codec_set_demo
    duplexgen train-codec codec_tiny_cpu data_dir=out/codec_set_demo output_dir=out/codec_tiny
    duplexgen eval-codec out/codec_set_demo/heldout before=out/codec_tiny/codec_init.nemo after=out/codec_tiny/codec.nemo
"""

from __future__ import annotations

import argparse
import json
import sys

EPILOG_SET = """\
CONFIG is a YAML file or a shipped config in training/codec/configs/ (codec_set_demo, codec_set_paper).
A rerun with the same output_dir skips finished shards. Override any key as key=value:
  duplexgen generate-codec-set codec_set_demo num_utterances=500 heldout_fraction=0.05 sources.0.max_rows=100

config keys:
{table}
"""

EPILOG_TRAIN = """\
CONFIG is a YAML file or a shipped config in training/codec/configs/ (codec_tiny_cpu, codec_nanocodec).
A rerun with the same output_dir resumes from its latest checkpoint. The result is OUTPUT_DIR/codec.nemo:
  duplexgen train salm_duplex_paper model.pretrained_audio_codec=OUTPUT_DIR/codec.nemo ...

config keys:
{table}
"""


def cmd_generate_codec_set(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.codec_set import generate_codec_set, load_codec_set_config

    summary = generate_codec_set(load_codec_set_config(args.config, args.overrides), ray_data=not args.no_ray)
    print(json.dumps(summary, indent=1))
    return 0


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
    from duplexgen.pipeline.codec_set import codec_set_help_table
    from duplexgen.training.codec.config import codec_train_help_table

    g = sub.add_parser(
        "generate-codec-set",
        help="make the codec-personalization set: N utterances of the agent voice (Shar, train + heldout)",
        description="Take every turn's text from the sources, speak it in the fixed agent voice and write Lhotse Shar "
        "shards (22,050 Hz recording + text) under OUTPUT_DIR/train and OUTPUT_DIR/heldout, on Ray Data.",
        epilog=EPILOG_SET.format(table=codec_set_help_table()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("config", help="YAML config path or shipped config name (codec_set_demo, codec_set_paper)")
    g.add_argument("overrides", nargs="*", help="key=value overrides of config keys (see below)")
    g.add_argument("--no-ray", action="store_true", help="render in this process without Ray (debugging)")
    g.set_defaults(func=cmd_generate_codec_set)

    t = sub.add_parser(
        "train-codec",
        help="fine-tune a NeMo AudioCodecModel (NanoCodec) on the agent voice with Ray Train",
        description="Fine-tune the codec's encoder and decoder with NeMo's own reconstruction (and, when the codec "
        "has a discriminator, adversarial) losses on a codec set; resumable; writes OUTPUT_DIR/codec.nemo and a "
        "before/after evaluation on the held-out utterances.",
        epilog=EPILOG_TRAIN.format(table=codec_train_help_table()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("config", help="YAML config path or shipped config name (codec_tiny_cpu, codec_nanocodec)")
    t.add_argument("overrides", nargs="*", help="key=value overrides of config keys (see below)")
    t.set_defaults(func=cmd_train_codec)

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
