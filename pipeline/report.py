"""`duplexgen report OUT_DIR`: a self-contained HTML report of a generated corpus.

Plots (embedded PNG): conversation durations, hours per source, gap and barge-in distributions, the
realised timing of natural/custom-timing cuts against their profile (``report_timing``),
voice counts, rejects by reason; tables of the summary; and a few playable example conversations
(stereo WAV: left = agent, right = user, embedded as data URLs so the file can be mailed around).

Example::

    path = write_report("out/demo")   # out/demo/report.html (the output may also be an s3://... URL)
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from typing import Any, Optional

import numpy as np

from duplexgen.pipeline.index import index_rows
from duplexgen.core.storage import Location, join, write_text
from duplexgen.pipeline.summary import summarize


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _bar(ax, counts: dict[str, float], title: str, xlabel: str = "") -> None:
    items = sorted(counts.items(), key=lambda kv: -kv[1])[:25]
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4C72B0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)


def plots(rows: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = {}
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([r["duration"] for r in rows] or [0], bins=30, color="#4C72B0")
    ax.set(title="conversation duration", xlabel="seconds", ylabel="conversations")
    figs["durations"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3))
    _bar(ax, {k: v["hours"] for k, v in summary["per_source"].items()}, "hours per source", "hours")
    figs["hours"] = _png(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    gaps = [g for r in rows for g in r["gaps"] if g is not None]  # None: the turn barged in
    axes[0].hist(gaps or [0], bins=30, color="#55A868")
    axes[0].set(title="gaps between turns", xlabel="seconds")
    axes[1].hist([r["barge_ins"] for r in rows] or [0], bins=range(0, 6), color="#C44E52", align="left")
    axes[1].set(title="barge-ins per conversation", xlabel="barge-ins")
    figs["timing"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    _bar(ax, Counter(r["user_voice"] for r in rows), "user voices (conversations)")
    figs["voices"] = _png(fig)

    if summary["rejects_by_reason"]:
        fig, ax = plt.subplots(figsize=(7, 3))
        _bar(ax, summary["rejects_by_reason"], "rejects by reason")
        figs["rejects"] = _png(fig)
    return figs


def _example_audio(out: Location, rows: list[dict[str, Any]], n: int) -> list[tuple[str, str, str]]:
    """(cut id, data URL of a stereo WAV, supervision listing) for the first few conversations."""
    import soundfile as sf
    import soxr

    from duplexgen.core.shards import find_shard_dirs, load_shards

    examples = []
    for d in find_shard_dirs(join(out, "shards")):
        for cut in load_shards(d):
            user = cut.load_audio()[0]
            agent = soxr.resample(cut.load_target_audio()[0], 22050, 16000)
            m = min(len(user), len(agent))
            stereo = np.stack([agent[:m], user[:m]], axis=1)
            buf = io.BytesIO()
            sf.write(buf, stereo, 16000, format="WAV", subtype="PCM_16")
            url = "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()
            sups = "\n".join(f"{s.start:7.2f}-{s.end:7.2f}  {s.speaker:<6} {s.text}" for s in sorted(cut.supervisions, key=lambda s: s.start))
            examples.append((cut.id, url, sups))
            break  # one per source folder
        if len(examples) >= n:
            break
    return examples


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.1f} %)" if b else "-"


def _text_speech_table(summary: dict[str, Any]) -> str:
    """Agreement of text and speech per source: word alignments that spell their supervision's text,
    supervisions that have an alignment, barge-ins whose kept text is an exact prefix."""
    rows = ["<h2>Text = speech</h2><p>A word alignment <i>spells</i> its supervision when its words are exactly the "
            "words of the text, in order, inside the supervision (<code>duplexgen validate</code> fails a shard otherwise).</p>",
            "<table><tr><th>source</th><th>alignments that spell their text</th><th>supervisions with an alignment</th>"
            "<th>barge-ins with an exact prefix</th></tr>"]
    items = list(summary["per_source"].items()) + [("all", summary.get("text_speech") or {})]
    for name, v in items:
        if "supervisions" not in v:
            continue
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{_pct(v['spelled'], v['aligned'])}</td>"
                    f"<td>{_pct(v['aligned'], v['supervisions'])}</td><td>{_pct(v['barge_ins_exact'], v['barge_ins'])}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def write_report(out: Location, examples: int = 4, dest: Optional[Location] = None, entries: Optional[list] = None) -> str:
    """Write the report to ``dest`` (default: ``out/report.html``); returns where it went."""
    from duplexgen.pipeline.manifest import read_manifest

    entries = read_manifest(out) if entries is None else entries
    summary = summarize(out, entries=entries)
    rows = index_rows(out, entries)
    figs = plots(rows, summary)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>duplexgen report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}pre{background:#f6f6f6;padding:6px}</style></head><body>",
        f"<h1>duplexgen report: {html.escape(str(out))}</h1>",
        f"<p>{summary['conversations']} conversations, {summary['hours']:.4f} hours, {summary['shards']} shards, {summary['rejects']} rejects.</p>",
        "<table><tr><th>source</th><th>conversations</th><th>text changed</th><th>hours</th><th>shards</th><th>rejects</th></tr>",
    ]
    for name, v in summary["per_source"].items():
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{v['conversations']}</td><td>{v['changed']}</td><td>{v['hours']:.4f}</td><td>{v['shards']}</td><td>{v['rejects']}</td></tr>")
    parts.append("</table>")
    parts.append(_text_speech_table(summary))
    for key, title in [("durations", "Durations"), ("hours", "Hours per source"), ("timing", "Gaps and barge-ins"), ("voices", "Voices"), ("rejects", "Rejects")]:
        if key in figs:
            parts.append(f"<h2>{title}</h2><img src='data:image/png;base64,{figs[key]}'>")
    from duplexgen.pipeline.report_timing import timing_sections

    for title, fig, table in timing_sections(entries):  # natural/custom timing: realised vs the profile
        parts.append(f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{_png(fig)}'>{table}")
    if summary["rejects_by_reason"]:
        parts.append("<h2>Rejects</h2><table><tr><th>count</th><th>reason</th></tr>")
        for reason, n in summary["rejects_by_reason"].items():
            parts.append(f"<tr><td>{n}</td><td style='text-align:left'>{html.escape(reason)}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Examples</h2><p>Stereo: left = agent, right = user.</p>")
    for cid, url, sups in _example_audio(out, rows, examples):
        parts.append(f"<h3>{html.escape(cid)}</h3><audio controls src='{url}'></audio><pre>{html.escape(sups)}</pre>")
    parts.append(f"<h2>Summary</h2><pre>{html.escape(json.dumps(summary, indent=1))}</pre></body></html>")
    return write_text(dest or join(out, "report.html"), "\n".join(parts))
