"""Measure natural timing at scale: N short conversations through the real pipeline, then the audit.

Writes next to this file (or to --out): ``timing_natural.json`` (the audit's timing summary, validation
result, run facts), ``timing_natural.png`` (offsets and stop delays measured from the audio against draws
from the profile; backchannel onsets after the agent word) and prints a Markdown table. Never run in CI
(``tests/pipeline/test_timing.py`` is the 200-conversation check that is).

Run (from the repo root's parent, with the package importable as ``duplexgen``)::

    python benchmarks/timing_natural.py --n 1000 --work out/timing_natural
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="conversations")
    ap.add_argument("--work", default="out/timing_natural", help="scratch folder for rows and shards")
    ap.add_argument("--out", default=str(HERE), help="where the JSON and PNG go")
    ap.add_argument("--paper", action="store_true", help="also generate and audit the same rows with paper timing (side by side)")
    args = ap.parse_args()

    from duplexgen.augment.config import TimingConfig
    from duplexgen.augment.timing import compare_offsets, draw_offsets, draw_stop_delays
    from duplexgen.core.shards import find_shard_dirs, load_shards
    from duplexgen.pipeline.audit import audit_dir
    from duplexgen.pipeline.cli import main as cli
    from duplexgen.pipeline.validate import validate_dir
    from duplexgen.recipes.samples.short_dialogs import write_rows

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = write_rows(work / "rows.jsonl", args.n, seed=0)
    cfg = work / "natural.yaml"
    cfg.write_text(f"seed: 7\nshard_size: 100\nsources:\n  - recipe: real_conversations\n    path: {rows}\n"
                   "tts:\n  num_user_voices: 8\n")
    out = work / "out"
    t0 = time.time()
    assert cli(["generate", str(cfg), f"output_dir={out}", "augment.timing=natural"]) == 0
    t_gen = time.time() - t0
    report = validate_dir(out / "shards")
    t0 = time.time()
    result = audit_dir(out / "shards")
    t_audit = time.time() - t0
    [timing] = result["summary"]["timing"]
    # Layout (supervision) offsets of the same transitions: separates what the layout did from what the VAD measures.
    cuts = {c.id: c for d in find_shard_dirs(out / "shards") for c in load_shards(d)}
    layout, bias = [], []
    for a in result["cuts"]:
        sup = [g for g in cuts[a["id"]].custom["gaps"][:-1] if g is not None]
        if len(sup) == len(a["timing"]["offsets"]):
            layout += sup
            bias += [m - s for m, s in zip(a["timing"]["offsets"], sup)]
    b = np.asarray(bias)
    facts = {"conversations": args.n, "validate_violations": len(report.violations), "generate_wall_s": round(t_gen, 1),
             "audit_wall_s": round(t_audit, 1), "audit_with_problems": result["summary"]["with_problems"],
             "audit_problems": sorted({p for c in result["cuts"] for p in c["problems"]}),
             "timing": timing, "layout_offsets_vs_profile": compare_offsets(layout, TimingConfig()),
             "vad_minus_layout_s": {"n": int(b.size), "mean": round(float(b.mean()), 4), "median": round(float(np.median(b)), 4),
                                    "p95_abs": round(float(np.percentile(np.abs(b), 95)), 4), "max_abs": round(float(np.abs(b).max()), 4)},
             "user_voices": 8, "seed": 7}
    if args.paper:
        out_p = work / "out_paper"
        assert cli(["generate", str(cfg), f"output_dir={out_p}"]) == 0
        paper = audit_dir(out_p / "shards")
        facts["paper_same_rows"] = {"validate_violations": len(validate_dir(out_p / "shards").violations),
                                    "audit_with_problems": paper["summary"]["with_problems"],
                                    "audit_problems": sorted({p for c in paper["cuts"] for p in c["problems"]})}
    Path(args.out, "timing_natural.json").write_text(json.dumps(facts, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = TimingConfig()
    offsets = [o for c in result["cuts"] for o in c["timing"]["offsets"]]
    kept = [b["measured_kept"] for c in result["cuts"] for b in c["barge_in"] if b["measured_kept"] is not None]
    after = [b["after_word_s"] for c in result["cuts"] for b in c["timing"]["backchannels"] if b["after_word_s"] is not None]
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.6))
    for a, vals, ref, title in ((ax[0], offsets, draw_offsets(p, 50000), "offsets measured by VAD vs profile"),
                                (ax[1], kept, draw_stop_delays(p, 50000), "barge-in stop delay vs profile")):
        bins = np.arange(-1.0, 2.0, 0.05)
        a.hist(vals, bins=bins, density=True, alpha=0.7, color="#55A868", label=f"measured (n={len(vals)})")
        a.hist(ref, bins=bins, density=True, histtype="step", color="black", label="profile")
        a.set(title=title, xlabel="s")
        a.legend(fontsize=8)
    ax[2].hist(after, bins=30, color="#CCB974")
    ax[2].set(title=f"backchannel onset after the agent word (n={len(after)})", xlabel="s")
    fig.tight_layout()
    fig.savefig(Path(args.out, "timing_natural.png"), dpi=80)

    o, sd = timing["offsets"], timing["stop_delay"]
    print("| measure | value |\n|---|---|")
    for k, v in [("conversations", args.n), ("validate violations", len(report.violations)),
                 ("transitions measured", o["n"]), ("offset median measured / profile", f"{o['median_measured']:.3f} / {o['median_profile']:.3f} s"),
                 ("overlap share measured / profile", f"{o['overlap_share_measured']:.3f} / {o['overlap_share_profile']:.3f}"),
                 ("offsets KS D, p", f"{o['ks_statistic']:.4f}, {o['ks_p']:.3g}"),
                 ("layout (supervision) offsets KS D, p", f"{facts['layout_offsets_vs_profile']['ks_statistic']:.4f}, {facts['layout_offsets_vs_profile']['ks_p']:.3g}"),
                 ("VAD - layout offset: median, p95 of the absolute value", f"{facts['vad_minus_layout_s']['median']:.4f}, {facts['vad_minus_layout_s']['p95_abs']:.4f} s"),
                 ("barge-ins; stop delay median measured / profile", f"{sd['n']}; {sd['median_measured']:.3f} / {sd['median_profile']:.3f} s"),
                 ("stop delay KS D, p", f"{sd['ks_statistic']:.4f}, {sd['ks_p']:.3g}"),
                 ("backchannels; starting inside an agent word", f"{timing['backchannels']}; {timing['backchannels_inside_word']}"),
                 ("turn starts moved by the contract guards", timing["clamped_starts"]),
                 ("audit: conversations with problems", result["summary"]["with_problems"]),
                 *([("paper timing, same rows: violations; audit conversations with problems",
                     f"{facts['paper_same_rows']['validate_violations']}; {facts['paper_same_rows']['audit_with_problems']}")] if args.paper else []),
                 ("generate / audit wall time", f"{t_gen:.0f} s / {t_audit:.0f} s")]:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
