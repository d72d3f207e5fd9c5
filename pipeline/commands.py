"""CLI subcommands over finished output: `report`, `export`, `index`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_report(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.index import write_index
    from duplexgen.pipeline.report import write_report

    from duplexgen.pipeline.stages import read_manifest

    out = args.out_dir  # a folder or an object-store URL
    entries = read_manifest(out)
    if not entries:
        raise FileNotFoundError(f"{out} has no manifest/*.json: not a duplexgen output folder (run duplexgen generate first)")
    write_index(out, entries)
    print(write_report(out, examples=args.examples, dest=args.html, entries=entries))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.export import export_webdataset

    res = export_webdataset(args.shard_dir, Path(args.out), sample_rate=args.sample_rate, maxcount=args.maxcount)
    print(json.dumps(res, indent=1))
    return 0 if res["samples"] else 1


def cmd_index(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.index import write_index

    print(write_index(args.out_dir))
    return 0


def register(sub) -> None:
    r = sub.add_parser("report", help="write OUT_DIR/report.html: plots, tables and playable examples",
                       description="Build a self-contained HTML report (durations, hours per source, gaps, barge-ins, voices, rejects, examples).")
    r.add_argument("out_dir", help="the output_dir of a generate run (a folder or an s3://, gs://... URL)")
    r.add_argument("--examples", type=int, default=4, help="number of playable example conversations")
    r.add_argument("--html", default=None, help="where to write the report (default: OUT_DIR/report.html)")
    r.set_defaults(func=cmd_report)

    e = sub.add_parser("export", help="export shards to other formats", description="Export shards to other formats.")
    esub = e.add_subparsers(dest="format", required=True, metavar="FORMAT")
    w = esub.add_parser("webdataset", help="moshi-finetune style stereo WAV (left = agent, right = user) + word alignments JSON",
                        description="Write WebDataset tars: stereo WAV (left = agent, right = user) and a JSON of word alignments per sample.")
    w.add_argument("shard_dir", help="folder or URL with Shar shards (searched recursively)")
    w.add_argument("out", help="output folder for duplex-NNNNNN.tar")
    w.add_argument("--sample-rate", type=int, default=24000, help="rate of the stereo WAV (Moshi/Mimi: 24000)")
    w.add_argument("--maxcount", type=int, default=1000, help="samples per tar")
    w.set_defaults(func=cmd_export)

    i = sub.add_parser("index", help="write OUT_DIR/index.parquet (one row per conversation)",
                       description="Write a Parquet index with one row per conversation from the run's manifest.")
    i.add_argument("out_dir", help="the output_dir of a generate run (a folder or a URL)")
    i.set_defaults(func=cmd_index)
