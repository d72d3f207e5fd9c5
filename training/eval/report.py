"""The evaluation report: PNG timelines of both streams with VAD segments and events, latency histograms, HTML.

Each timeline shows the user stream (top) and the agent stream (bottom) as waveform envelopes, the
VAD speech segments as bars under each, the reference supervisions as outlines, and the scripted
events: user turn ends (blue), interruptions (red) with the measured stop, backchannels/noise (orange).
Matplotlib runs headless (Agg).

Example::

    write_report(result, timelines, Path("out/eval"))   # -> out/eval/report.html (+ timeline_*.png, latency.png)
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def envelope(x: np.ndarray, sr: int, hop_s: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(times, peak amplitude per hop) for drawing long audio cheaply."""
    hop = max(1, int(hop_s * sr))
    n = len(x) // hop
    if n == 0:
        return np.zeros(0), np.zeros(0)
    env = np.abs(x[: n * hop]).reshape(n, hop).max(axis=1)
    return np.arange(n) * hop / sr, env


def plot_timeline(tl: dict[str, Any], path: Path) -> Path:
    """One conversation: both streams, their VAD segments, supervisions and scored events."""
    plt = _plt()
    ev, scores = tl["events"], tl["scores"]
    fig, axes = plt.subplots(2, 1, figsize=(12, 3.6), sharex=True)
    for ax, name, x, sr, speech, sups in (
        (axes[0], "user", tl["user"], tl["sr_u"], tl["speech_u"], ev.user_supervisions),
        (axes[1], "agent", tl["agent"], tl["sr_a"], tl["speech_a"], ev.agent_supervisions),
    ):
        t, env = envelope(x, sr)
        peak = float(env.max()) if len(env) and env.max() > 0 else 1.0
        ax.fill_between(t, -env / peak, env / peak, color="0.6", lw=0)
        for s, e in sups:
            ax.add_patch(plt.Rectangle((s, -1.05), e - s, 2.1, fill=False, ec="tab:green", lw=0.8))
        for s, e in speech:
            ax.plot([s, e], [-1.25, -1.25], color="tab:purple", lw=4, solid_capstyle="butt")
        ax.set_ylim(-1.4, 1.15)
        ax.set_yticks([])
        ax.set_ylabel(name)
    for t in ev.user_turn_ends:
        for ax in axes:
            ax.axvline(t, color="tab:blue", lw=0.8, ls="--")
    for r in scores["barge_in"]:
        for ax in axes:
            ax.axvline(r["t"], color="tab:red", lw=1.0)
        if r.get("stop") is not None:
            axes[1].plot([r["t"], r["stop"]], [1.05, 1.05], color="tab:red" if r["success"] else "black", lw=2)
    for r in scores["false_alarm"]:
        for ax in axes:
            ax.axvspan(r["start"], r["end"], color="tab:orange", alpha=0.25 if r.get("false_alarm") is not True else 0.6, lw=0)
    for r in scores["turn_taking"]:
        if r.get("onset") is not None and r["success"]:
            axes[1].plot([r["t"], r["onset"]], [0.95, 0.95], color="tab:blue", lw=2)
    axes[1].set_xlabel("time (s)")
    axes[0].set_title(
        f"{tl['id']}  - VAD (purple), supervisions (green), user turn ends (blue --), interruptions (red), "
        "backchannel/noise (orange)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_latencies(result: dict[str, Any], path: Path) -> Path:
    """Histograms of turn-taking and barge-in latencies, with the success thresholds."""
    plt = _plt()
    cfg = result["config"]
    convs = result["per_conversation"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    for ax, key, thr, title in (
        (axes[0], "turn_taking", cfg["turn_max_latency_s"], "turn-taking latency (agent start - user end)"),
        (axes[1], "barge_in", cfg["barge_in_max_latency_s"], "barge-in latency (agent stop - user start)"),
    ):
        lat = [r["latency"] for c in convs for r in c[key] if r.get("latency") is not None]
        if key == "barge_in":  # failed barge-ins have a latency too: show them (past the threshold)
            lat = [max(0.0, r["stop"] - r["t"]) for c in convs for r in c[key] if r.get("stop") is not None]
        if lat:
            ax.hist(lat, bins=min(30, max(5, len(lat))), color="tab:blue" if key == "turn_taking" else "tab:red", alpha=0.8)
        ax.axvline(thr, color="black", ls="--", lw=1)
        ax.set_title(f"{title}\nn={len(lat)}", fontsize=9)
        ax.set_xlabel("s")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _lat(s: dict) -> str:
    L = s.get("latency") or {}
    if L.get("mean") is None:
        return "n/a"
    return f"mean {L['mean']:.3f} s, median {L['median']:.3f} s, p90 {L['p90']:.3f} s"


def write_report(result: dict[str, Any], timelines: Sequence[dict[str, Any]], out_dir: Path) -> Path:
    """Write ``latency.png``, ``timeline_<k>.png`` and ``report.html`` into ``out_dir``; return the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_latencies(result, out_dir / "latency.png")
    images = [plot_timeline(tl, out_dir / f"timeline_{k:02d}.png").name for k, tl in enumerate(timelines)]
    tt, bi, fa = result["turn_taking"], result["barge_in"], result["false_alarm"]
    rows = [
        ("turn-taking success", f"{_pct(tt['rate'])} ({tt['count']}/{tt['scored']})", _lat(tt)),
        ("barge-in success", f"{_pct(bi['rate'])} ({bi['count']}/{bi['scored']}; {bi['events'] - bi['scored']} not scored)", _lat(bi)),
        ("false alarms", f"{fa['false_alarms']}/{fa['scored']} ({_pct(fa['rate'])})", json.dumps(fa["reasons"])),
        ("text BLEU (agent text channel)", "n/a" if result["text"]["bleu"] is None else f"{result['text']['bleu']:.2f}", f"n={result['text']['n']}"),
    ]
    if "asr" in result:
        rows.append(("ASR-BLEU / ASR-WER", f"{result['asr']['bleu']} / {result['asr']['wer']}", html.escape(result["asr"]["checkpoint"])))
    if "mos" in result:
        rows.append(("MOS (predicted)", str(result["mos"]["mean"]), html.escape(result["mos"]["checkpoint"])))
    table = "\n".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>" for a, b, c in rows)
    per = "\n".join(
        "<tr><td>{}</td><td>{:.1f}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(c["id"]), c["duration"],
            " ".join("ok" if r["success"] else r["reason"] for r in c["turn_taking"]) or "-",
            " ".join(("-" if r["success"] is None else ("ok" if r["success"] else "fail")) + (f"({r['latency']:.2f}s)" if r.get("latency") is not None else "") for r in c["barge_in"]) or "-",
            " ".join(r["reason"] for r in c["false_alarm"]) or "-",
        )
        for c in result["per_conversation"][:200]
    )
    cfg = result["config"]
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>duplexgen eval</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}
table{{border-collapse:collapse;margin-bottom:1em}}img{{max-width:100%;border:1px solid #eee;margin:4px 0}}</style></head><body>
<h1>duplexgen eval: {html.escape(result['mode'])}</h1>
<p>{result['conversations']} conversations, {result['seconds']:.1f} s; checkpoint {html.escape(str(result.get('checkpoint')))};
shards {html.escape(result['shard_dir'])}; VAD {html.escape(cfg['vad'])}; thresholds: turn-taking {cfg['turn_max_latency_s']} s,
barge-in {cfg['barge_in_max_latency_s']} s, backchannel continue {cfg['backchannel_continue_s']} s.</p>
<table><tr><th>metric</th><th>value</th><th>detail</th></tr>{table}</table>
<h2>Latency distributions</h2><img src="latency.png">
<h2>Timelines</h2>{''.join(f'<img src="{n}">' for n in images)}
<h2>Per conversation</h2><table><tr><th>id</th><th>s</th><th>turn-taking</th><th>barge-in</th><th>backchannel/noise</th></tr>{per}</table>
</body></html>"""
    path = out_dir / "report.html"
    path.write_text(doc)
    return path


__all__ = ["write_report", "plot_timeline", "plot_latencies", "envelope"]
