"""The `duplexgen` command: one table of subcommands, each subsystem adding its own (``register(subparsers)``).

    generate, validate, report, export, index, fingerprint, generate-codec-set   pipeline/commands.py
    bench                                                                        pipeline/bench.py
    train, precompute-codes                                                      training/cli.py
    eval, score                                                                  training/eval/cli.py
    train-codec, eval-codec                                                      training/codec/cli.py
    bench-train                                                                  training/bench.py
    experiment                                                                   training/experiment.py

``key=value`` config overrides may come anywhere on the line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from typing import Optional, Sequence

from duplexgen.core.records import OutputError

#: The command table. pipeline/ and training/ never import each other: this table names the training
#: subsystems by module, and only the command line loads them.
SUBSYSTEMS = (
    "duplexgen.pipeline.commands",
    "duplexgen.pipeline.bench",
    "duplexgen.training.cli",
    "duplexgen.training.eval.cli",
    "duplexgen.training.codec.cli",
    "duplexgen.training.bench",
    "duplexgen.training.experiment",
)


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="duplexgen",
        description="Generate full-duplex (user + agent stream) speech conversations as NeMo-ready Lhotse Shar shards, "
        "and train SALM-Duplex on them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBSYSTEMS:
        importlib.import_module(module).register(sub)
    return parser


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
