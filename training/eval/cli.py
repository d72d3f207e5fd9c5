"""`duplexgen eval CHECKPOINT SHARD_DIR [key=value ...] --out DIR [--reference]`.

Thin layer over :func:`duplexgen.training.eval.run.run_eval`; config keys are the fields of
:class:`EvalConfig` (listed in ``--help``).

Example::

    duplexgen eval runs/tiny/checkpoints/last out/eval/shards vad=silero max_conversations=50 --out out/eval/model
    duplexgen eval - out/eval/shards vad=energy --out out/eval/reference --reference
"""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = """\
CHECKPOINT is a folder written by `duplexgen train` (use '-' with --reference: no model).
SHARD_DIR holds evaluation shards written by `duplexgen generate` (searched recursively).

config keys (key=value):
{table}
"""


def cmd_eval(args: argparse.Namespace) -> int:
    from duplexgen.core.config import load_config
    from duplexgen.training.eval.run import EvalConfig, format_result, run_eval

    try:
        cfg = load_config(EvalConfig, None, list(args.overrides))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    checkpoint = None if args.reference or args.checkpoint in ("-", "") else args.checkpoint
    if checkpoint is None and not args.reference:
        print("error: give a CHECKPOINT folder, or --reference to score the data's own agent stream", file=sys.stderr)
        return 2
    result = run_eval(checkpoint, args.shard_dir, args.out, cfg, reference=args.reference)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "per_conversation"}, indent=1))
    else:
        print(format_result(result))
    return 0


def register(subparsers) -> None:
    from duplexgen.core.config import format_help_table
    from duplexgen.training.eval.run import EvalConfig

    p = subparsers.add_parser(
        "eval",
        help="score a trained checkpoint's turn-taking, barge-in and false alarms on evaluation shards",
        description="Run the model's frame-synchronous inference over each evaluation conversation's user stream, "
        "detect speech in both streams with a VAD and score turn-taking (agent starts < 1.6 s after the user ends), "
        "barge-in (agent stops < 1.5 s after the user starts over it) and false alarms (a backchannel or noise stops "
        "the agent), plus BLEU of the text channel. Writes metrics.json and report.html into --out.",
        epilog=EPILOG.format(table=format_help_table(EvalConfig)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="checkpoint folder from `duplexgen train` ('-' with --reference)")
    p.add_argument("shard_dir", help="evaluation shards (cuts.NNNNNN.jsonl.gz), searched recursively")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the eval config (see below)")
    p.add_argument("--out", required=True, help="output folder for metrics.json, report.html and PNGs")
    p.add_argument("--reference", action="store_true", help="score the shards' own agent stream (no model): checks metrics and data")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_eval)


__all__ = ["register", "cmd_eval"]
