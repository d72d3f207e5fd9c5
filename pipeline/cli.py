"""The `duplexgen` command: one subcommand per job, each a thin layer over a plain function.

    duplexgen generate CONFIG [key=value ...]   sources -> two-stream Lhotse Shar shards
    duplexgen validate SHARD_DIR [--audit]      check shards against the duplex contract (and measure the audio)
    duplexgen report OUT_DIR                    HTML report: plots, tables, playable examples
    duplexgen export webdataset SHARDS OUT      moshi-finetune style stereo WAV + word alignments
    duplexgen train CONFIG [key=value ...]      train SALM-Duplex on shards (Ray Train)
    duplexgen eval CHECKPOINT SHARDS --out DIR  barge-in, turn-taking, false alarms from audio
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from typing import Optional, Sequence

EPILOG_GENERATE = """\
CONFIG is a YAML file or the name of a shipped config in recipes/configs/ (e.g. demo).
Any key below can be overridden on the command line as key=value, e.g.
  duplexgen generate demo output_dir=out/mine seed=7 sources.0.path=alpaca_data.json sources.0.max_rows=100

config keys:
{table}
"""


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def cmd_generate(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.config import load_generate_config
    from duplexgen.pipeline.generate import generate
    from duplexgen.pipeline.summary import format_summary

    cfg = load_generate_config(args.config, args.overrides)
    summary = generate(cfg, ray_data=not args.no_ray)
    print(format_summary(summary))
    if summary["conversations"] == 0:
        print("error: no conversation was produced; see the rejects above", file=sys.stderr)
        return 1
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.validate import hf_token_counter, validate_dir

    counter = hf_token_counter(args.tokenizer) if args.tokenizer else None
    report = validate_dir(args.shard_dir, count_tokens=counter, limit=args.limit)
    audit = None
    if args.audit:
        from duplexgen.training.eval.audit import AuditConfig, audit_dir, format_audit

        audit = audit_dir(args.shard_dir, limit=args.limit, cfg=AuditConfig())
    if args.json:
        print(json.dumps({"cuts": report.cuts, "seconds": report.seconds, "shard_dirs": report.shard_dirs, "violations": report.violations, "audit": audit}, indent=1, default=str))
    else:
        print(f"checked {report.cuts} conversations ({report.seconds / 3600:.4f} h) in {len(report.shard_dirs)} shard folder(s)")
        for line in report.violations[: args.max_print]:
            print(f"  VIOLATION {line}")
        if len(report.violations) > args.max_print:
            print(f"  ... and {len(report.violations) - args.max_print} more")
        if audit is not None:
            print(format_audit(audit))
        print("OK: the shards follow the duplex contract" if report.ok else f"FAILED: {len(report.violations)} violation(s)")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    from duplexgen.pipeline.config import GenerateConfig, format_help_table

    parser = argparse.ArgumentParser(
        prog="duplexgen",
        description="Generate full-duplex (user + agent stream) speech conversations as NeMo-ready Lhotse Shar shards, "
        "and train SALM-Duplex on them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser(
        "generate",
        help="run the generation pipeline (sources -> TTS -> two-stream shards)",
        description="Run the generation pipeline on Ray: read sources, write LLM text where needed, render turns with "
        "TTS, lay them out as two streams with barge-ins and augmentation, write Lhotse Shar shards. "
        "Reruns resume: finished shards are skipped.",
        epilog=EPILOG_GENERATE.format(table=format_help_table(GenerateConfig)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("config", help="YAML config path or shipped config name (demo, ...)")
    g.add_argument("overrides", nargs="*", help="key=value overrides of config keys (see below)")
    g.add_argument("--no-ray", action="store_true", help="run the same stages in this process without Ray (debugging)")
    g.set_defaults(func=cmd_generate)

    v = sub.add_parser(
        "validate",
        help="check shards against the duplex shard contract",
        description="Check every Lhotse Shar shard under SHARD_DIR against the duplex contract that NeMo's "
        "DuplexS2SDataset relies on. Exits 1 with one line per violation.",
    )
    v.add_argument("shard_dir", help="folder with cuts.NNNNNN.jsonl.gz shards (searched recursively)")
    v.add_argument("--tokenizer", help="training tokenizer (HF folder or .gguf) for the EOS-frame check; default: a conservative estimate")
    v.add_argument("--limit", type=int, help="check at most this many conversations")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.add_argument("--audit", action="store_true", help="also measure from the audio: gaps, barge-in kept audio and silence after, levels, clipping, supervision/speech agreement")
    v.add_argument("--max-print", type=int, default=50, help="print at most this many violations")
    v.set_defaults(func=cmd_validate)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands():
    """Subcommands that live with their subsystem (train, eval, export, report, bench)."""
    regs = []
    for mod, attr in [
        ("duplexgen.training.cli", "register"),
        ("duplexgen.training.eval.cli", "register"),
        ("duplexgen.pipeline.commands", "register"),
        ("duplexgen.pipeline.bench", "register"),
        ("duplexgen.training.codec.cli", "register"),
    ]:
        try:
            module = __import__(mod, fromlist=[attr])
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("duplexgen"):
                continue
            raise
        regs.append(getattr(module, attr))
    return regs


from duplexgen.pipeline.records import OutputError  # noqa: E402  (light import: no Ray, no torch)


#: A config override: dotted key (list items by index), '=', value. Options start with '-', so never match.
_OVERRIDE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*=")


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Pull key=value overrides out of argv so they may come anywhere, before or after options."""
    rest, overrides = [], []
    for tok in argv:
        (overrides if _OVERRIDE.match(tok) else rest).append(tok)
    return rest, overrides


def main(argv: Optional[Sequence[str]] = None) -> int:
    _quiet_libraries()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    rest, overrides = split_overrides(argv)
    args = parser.parse_args(rest)
    if overrides:
        if not hasattr(args, "overrides"):
            parser.error(f"{args.command} takes no key=value overrides: {overrides}")
        args.overrides = list(args.overrides or []) + overrides
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, PermissionError, ValueError, OutputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished shards are kept; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
