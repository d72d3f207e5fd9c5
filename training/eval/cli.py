"""`duplexgen score OUT_DIR` and `duplexgen eval CHECKPOINT SHARD_DIR --out DIR [--reference]`.

Thin layers over :func:`duplexgen.training.eval.fdbench.score_dir` and :func:`duplexgen.training.eval.run.run_eval`;
config keys are the fields of :class:`ScoreConfig` / :class:`EvalConfig` (listed in ``--help``).

Example::

    duplexgen export fdbench out/demo/shards out/fdb          # then a model writes out/fdb/<task>/<case>/output.wav
    duplexgen score out/fdb vad=silero
    duplexgen eval runs/tiny/checkpoints/last out/eval/shards --out out/eval/model max_conversations=50
    duplexgen eval - out/eval/shards --out out/eval/reference --reference
"""

from __future__ import annotations

import argparse
import json
import sys

SCORE_EPILOG = """\
OUT_DIR holds case folders <task>/<case>/ written by `duplexgen export fdbench` (input.wav, labels.json), each with
the model's output.wav: mono, any rate >= 8 kHz, time-aligned with input.wav and as long as it. Folders without a
usable output.wav are listed as bad cases (with the reason) and skipped.

config keys (key=value):
{table}
"""

EVAL_EPILOG = """\
CHECKPOINT is a folder written by `duplexgen train` (use '-' with --reference: no model).
SHARD_DIR holds evaluation shards written by `duplexgen generate` (searched recursively).
The cases, the model's output.wav per case, metrics.json and report.html go into --out.

config keys (key=value; cases.* and score.* as for `duplexgen export fdbench` and `duplexgen score`):
{table}
"""


def _summary(result: dict) -> dict:
    out = {k: v for k, v in result.items() if k not in ("per_case",)}
    if "text_channel" in out:
        out["text_channel"] = {k: v for k, v in out["text_channel"].items() if k != "per_case"}
    return out


def cmd_score(args: argparse.Namespace) -> int:
    from duplexgen.core.config import load_config
    from duplexgen.training.eval.fdbench import ScoreConfig, format_scores, score_dir

    cfg = load_config(ScoreConfig, None, list(args.overrides))
    result = score_dir(args.out_dir, cfg)
    print(json.dumps(_summary(result), indent=1) if args.json else format_scores(result))
    return 0 if result["cases"]["scored"] else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from duplexgen.core.config import load_config
    from duplexgen.training.eval.run import EvalConfig, format_result, run_eval

    cfg = load_config(EvalConfig, None, list(args.overrides))
    checkpoint = None if args.reference or args.checkpoint in ("-", "") else args.checkpoint
    if checkpoint is None and not args.reference:
        print("error: give a CHECKPOINT folder, or --reference to score the data's own agent stream", file=sys.stderr)
        return 2
    result = run_eval(checkpoint, args.shard_dir, args.out, cfg, reference=args.reference)
    print(json.dumps(_summary(result), indent=1) if args.json else format_result(result))
    return 0


def register(subparsers) -> None:
    from duplexgen.core.config import format_help_table
    from duplexgen.training.eval.fdbench import ScoreConfig
    from duplexgen.training.eval.run import EvalConfig

    s = subparsers.add_parser(
        "score",
        help="score any duplex model's output.wav on Full-Duplex-Bench-style cases (take-over rates, latencies)",
        description="Score every case folder under OUT_DIR that holds a model's time-aligned output.wav, from the audio "
        "(Silero VAD; optional ASR): take-over rate per task, turn-taking latency, interruption take-over rate, stop and "
        "response latency (FDB v1.5), backchannel and noise turn-over, the model's own backchannel frequency. Writes "
        "OUT_DIR/metrics.json and OUT_DIR/report.html.",
        epilog=SCORE_EPILOG.format(table=format_help_table(ScoreConfig)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("out_dir", help="folder written by `duplexgen export fdbench` (or `duplexgen eval`)")
    s.add_argument("overrides", nargs="*", help="key=value overrides of the score config (see below)")
    s.add_argument("--json", action="store_true", help="print the metrics as JSON (without the per-case list)")
    s.set_defaults(func=cmd_score)

    p = subparsers.add_parser(
        "eval",
        help="run a trained checkpoint on Full-Duplex-Bench-style cases from evaluation shards and score it",
        description="Turn the shards' scripted events into Full-Duplex-Bench-style cases (as `duplexgen export fdbench`), "
        "run the checkpoint's frame-synchronous inference on each case's input.wav, write its agent audio as the case's "
        "output.wav and score the folder exactly as `duplexgen score` scores any other model. With --reference the "
        "shards' own agent stream is scored instead (no model): a check of the data and the metrics.",
        epilog=EVAL_EPILOG.format(table=format_help_table(EvalConfig)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="checkpoint folder from `duplexgen train` ('-' with --reference)")
    p.add_argument("shard_dir", help="evaluation shards (cuts.NNNNNN.jsonl.gz), searched recursively")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the eval config (see below)")
    p.add_argument("--out", required=True, help="output folder for the case folders, metrics.json and report.html")
    p.add_argument("--reference", action="store_true", help="score the shards' own agent stream (no model): checks metrics and data")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON (without the per-case list)")
    p.set_defaults(func=cmd_eval)


__all__ = ["register", "cmd_score", "cmd_eval"]
