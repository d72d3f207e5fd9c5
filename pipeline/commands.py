"""The pipeline's subcommands (``register(subparsers)``): generate, validate, report, export, index,
fingerprint, generate-codec-set. Each is a thin layer over a plain function.

    duplexgen generate CONFIG [key=value ...]        sources -> two-stream Lhotse Shar shards
    duplexgen validate SHARD_DIR [--audit]           check shards against the duplex contract (and measure the audio)
    duplexgen report OUT_DIR                         HTML report: plots, tables, playable examples
    duplexgen export webdataset SHARDS OUT           moshi-finetune style stereo WAV + word alignments
    duplexgen export fdbench SHARDS OUT              Full-Duplex-Bench-style evaluation cases (input.wav + labels)
    duplexgen index OUT_DIR                          Parquet index, one row per conversation
    duplexgen fingerprint SHARD_DIR [--against F]    sha1 of every cut's audio and metadata (reproducibility)
    duplexgen generate-codec-set CONFIG [key=value]  agent-voice utterances for codec personalization
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

GENERATE_NOTE = """\
CONFIG is a YAML file or the name of a shipped config in recipes/configs/ (e.g. demo).
Any key below can be overridden on the command line as key=value, e.g.
  duplexgen generate demo output_dir=out/mine seed=7 sources.0.path=alpaca_data.json sources.0.max_rows=100"""

CODEC_SET_NOTE = """\
CONFIG is a YAML file or a shipped config in recipes/configs/ (codec_set_demo, codec_set_paper).
A rerun with the same output_dir skips finished shards. Override any key as key=value:
  duplexgen generate-codec-set codec_set_demo num_utterances=500 heldout_fraction=0.05 sources.0.max_rows=100"""


def cmd_generate(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.config import load_generate_config
    from duplexgen.pipeline.generate import generate, ray_log_path
    from duplexgen.pipeline.summary import format_summary

    cfg = load_generate_config(args.config, args.overrides)
    log = None if args.no_ray else str(ray_log_path(cfg))
    try:
        summary = generate(cfg, ray_data=not args.no_ray, ray_log=log)
    except Exception:
        if log and os.path.exists(log):
            print(f"Ray's log of this run: {log}", file=sys.stderr)
        raise
    print(format_summary(summary))
    if log and os.path.exists(log):
        print(f"ray log: {log}")
    if summary["conversations"] == 0:
        print("error: no conversation was produced; see the rejects above", file=sys.stderr)
        return 1
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.validate import validate_dir
    from duplexgen.text.tokens import hf_token_counter

    counter = hf_token_counter(args.tokenizer) if args.tokenizer else None
    report = validate_dir(args.shard_dir, count_tokens=counter, limit=args.limit)
    audit = None
    if args.audit:
        from duplexgen.pipeline.audit import AuditConfig, audit_dir, format_audit

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


def cmd_report(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.index import write_index
    from duplexgen.pipeline.report import write_report
    from duplexgen.pipeline.manifest import read_manifest

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


def cmd_export_fdbench(args: argparse.Namespace) -> int:
    from duplexgen.core.config import load_config
    from duplexgen.core.evalset import CaseConfig
    from duplexgen.pipeline.export_fdbench import export_fdbench, format_export

    cfg = load_config(CaseConfig, None, list(args.overrides))
    manifest = export_fdbench(args.shard_dir, args.out_dir, cfg, reference_output=args.reference_output,
                              max_conversations=args.max_conversations)
    print(format_export(manifest, args.out_dir))
    return 0 if manifest["cases"] else 1


def cmd_index(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.index import write_index

    print(write_index(args.out_dir))
    return 0


def cmd_fingerprint(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.fingerprint import compare, fingerprint

    fp = fingerprint(args.shard_dir)
    if not fp:
        raise FileNotFoundError(f"no shards (cuts.*.jsonl.gz) under {args.shard_dir}")
    if args.write:
        Path(args.write).write_text(json.dumps(fp, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(fp)} cut fingerprints to {args.write}")
    if not args.against:
        if not args.write:
            print(json.dumps(fp, indent=1, sort_keys=True))
        return 0
    diff = compare(fp, json.loads(Path(args.against).read_text()))
    print(f"{diff['same']} cuts identical, {len(diff['changed'])} changed, {len(diff['missing'])} missing, {len(diff['added'])} added")
    for cut_id, parts in list(diff["changed"].items())[:20]:
        print(f"  changed {cut_id}: {', '.join(parts)}")
    for key in ("missing", "added"):
        for cut_id in diff[key][:20]:
            print(f"  {key} {cut_id}")
    return 0 if not (diff["changed"] or diff["missing"] or diff["added"]) else 1


def cmd_generate_codec_set(args: argparse.Namespace) -> int:
    from duplexgen.pipeline.codec_set import generate_codec_set, load_codec_set_config

    summary = generate_codec_set(load_codec_set_config(args.config, args.overrides), ray_data=not args.no_ray)
    print(json.dumps(summary, indent=1))
    return 0


def register(sub) -> None:
    from duplexgen.core.config import add_config_command
    from duplexgen.pipeline.codec_set import CodecSetConfig
    from duplexgen.pipeline.config import GenerateConfig, source_options_help

    g = add_config_command(
        sub, "generate", schema=GenerateConfig, func=cmd_generate, shipped="demo, salm_duplex_mixture, ...",
        help="run the generation pipeline (sources -> TTS -> two-stream shards)",
        description="Run the generation pipeline on Ray: read sources, write LLM text where needed, render turns with "
        "TTS, lay them out as two streams with barge-ins and augmentation, write Lhotse Shar shards. "
        "Reruns resume: finished shards are skipped.",
        usage_note=GENERATE_NOTE,
        more_keys=source_options_help(),
    )
    g.add_argument("--no-ray", action="store_true", help="run the same stages in this process without Ray (debugging)")

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

    r = sub.add_parser("report", help="write OUT_DIR/report.html: plots, tables and playable examples",
                       description="Build a self-contained HTML report (durations, hours per source, gaps, barge-ins, voices, rejects, examples).")
    r.add_argument("out_dir", help="the output_dir of a generate run (a folder or an s3://, gs://... URL)")
    r.add_argument("--examples", type=int, default=1, help="example conversations per source (timeline, audio, transcript)")
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
    from duplexgen.core.config import format_help_table
    from duplexgen.core.evalset import TASKS, CaseConfig

    fd = esub.add_parser(
        "fdbench", help="Full-Duplex-Bench-style evaluation cases: one folder per case (input.wav, labels) for any duplex model",
        description="Turn the shards' scripted events into Full-Duplex-Bench-style case folders OUT_DIR/<task>/<case>/: "
        "turn ends -> smooth_turn_taking, barge-ins -> user_interruption, an inserted mid-turn pause -> pause_handling, "
        "backchannels -> user_backchannel, noise bursts -> background_noise. Each folder holds the user stream as "
        "input.wav (16 kHz mono), labels.json (task, event, user turns, reference agent intervals and text) and FDB's own "
        "label file. A model writes its time-aligned output.wav into each folder; `duplexgen score OUT_DIR` scores it.",
        epilog="tasks: " + ", ".join(f"{t.name} ({t.key})" for t in TASKS.values()) + "\n\nconfig keys (key=value):\n"
        + format_help_table(CaseConfig) + "\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    fd.add_argument("shard_dir", help="folder or URL with Shar shards (searched recursively)")
    fd.add_argument("out_dir", help="output folder for the case folders and manifest.json")
    fd.add_argument("overrides", nargs="*", help="key=value overrides of the case config (see below)")
    fd.add_argument("--reference-output", action="store_true",
                    help="also write the shards' own agent stream as output.wav (checks the scorer on ground truth)")
    fd.add_argument("--max-conversations", type=int, default=0, help="export at most this many conversations (0 = all)")
    fd.set_defaults(func=cmd_export_fdbench)

    i = sub.add_parser("index", help="write OUT_DIR/index.parquet (one row per conversation)",
                       description="Write a Parquet index with one row per conversation from the run's manifest.")
    i.add_argument("out_dir", help="the output_dir of a generate run (a folder or a URL)")
    i.set_defaults(func=cmd_index)

    f = sub.add_parser("fingerprint", help="sha1 of every cut's user audio, agent audio and metadata (check reruns are identical)",
                       description="Fingerprint every cut under SHARD_DIR (the FLAC bytes of both streams and the cut's manifest "
                       "line). With --against, compare with a saved fingerprint and exit 1 on any difference.")
    f.add_argument("shard_dir", help="folder or URL with Shar shards (searched recursively)")
    f.add_argument("--write", help="save the fingerprint as JSON to this file")
    f.add_argument("--against", help="compare with a fingerprint JSON written by --write")
    f.set_defaults(func=cmd_fingerprint)

    c = add_config_command(
        sub, "generate-codec-set", schema=CodecSetConfig, func=cmd_generate_codec_set, shipped="codec_set_demo, codec_set_paper",
        help="make the codec-personalization set: N utterances of the agent voice (Shar, train + heldout)",
        description="Take every turn's text from the sources, speak it in the fixed agent voice and write Lhotse Shar "
        "shards (22,050 Hz recording + text) under OUTPUT_DIR/train and OUTPUT_DIR/heldout, on Ray Data.",
        usage_note=CODEC_SET_NOTE,
    )
    c.add_argument("--no-ray", action="store_true", help="render in this process without Ray (debugging)")
