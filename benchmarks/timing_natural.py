"""Measure natural timing at scale: N short conversations through the real pipeline, then the audit.

Writes next to this file (or to --out): ``timing_natural.json`` (the audit's timing summary, validation
result, run facts), ``timing_natural.png`` (offsets and stop delays measured from the audio against draws
from the profile; backchannel onsets after the agent word) and prints a Markdown table. Never run in CI
(``tests/pipeline/test_timing.py`` is the 200-conversation check that is).

Run (from the repo root's parent, with the package importable as ``duplexgen``)::

    python benchmarks/timing_natural.py --n 1000 --work /tmp/timing_natural
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
    ap.add_argument("--work", default="/tmp/timing_natural", help="scratch folder for rows and shards")
    ap.add_argument("--out", default=str(HERE), help="where the JSON and PNG go")
    args = ap.parse_args()

    from duplexgen.augment.config import TimingConfig
    from duplexgen.augment.timing import draw_offsets, draw_stop_delays
    from duplexgen.pipeline.audit import audit_dir
    from duplexgen.pipeline.cli import main as cli
    from duplexgen.pipeline.validate import validate_dir
    from duplexgen.recipes.samples.short_dialogs import write_rows

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = write_rows(work / "rows.jsonl", args.n, seed=0)
    cfg = work / "natural.yaml"
    cfg.write_text(f"seed: 7\nshard_size: 100\nsources:\n  - recipe: real_conversations\n    path: {rows}\n"
                   "tts:\n  num_user_voices: 8\naugment:\n  timing: natural\n")
    out = work / "out"
    t0 = time.time()
    assert cli(["generate", str(cfg), f"output_dir={out}"]) == 0
    t_gen = time.time() - t0
    report = validate_dir(out / "shards")
    t0 = time.time()
    result = audit_dir(out / "shards")
    t_audit = time.time() - t0
    [timing] = result["summary"]["timing"]
    facts = {"conversations": args.n, "validate_violations": len(report.violations), "generate_wall_s": round(t_gen, 1),
             "audit_wall_s": round(t_audit, 1), "audit_with_problems": result["summary"]["with_problems"],
             "timing": timing, "user_voices": 8, "seed": 7}
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
                 ("barge-ins; stop delay median measured / profile", f"{sd['n']}; {sd['median_measured']:.3f} / {sd['median_profile']:.3f} s"),
                 ("stop delay KS D, p", f"{sd['ks_statistic']:.4f}, {sd['ks_p']:.3g}"),
                 ("backchannels; starting inside an agent word", f"{timing['backchannels']}; {timing['backchannels_inside_word']}"),
                 ("turn starts moved by the contract guards", timing["clamped_starts"]),
                 ("audit: conversations with problems", result["summary"]["with_problems"]),
                 ("generate / audit wall time", f"{t_gen:.0f} s / {t_audit:.0f} s")]:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
