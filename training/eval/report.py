"""The scoring report: per-task tables, latency histograms, playable example cases with timelines (HTML + PNG).

Each example shows the case's input (the user) and the model's output as waveform envelopes, the model's
utterances as bars (take-overs purple, backchannels grey), the scored event (blue: turn end; red:
interruption; grey band: pause; orange: backchannel or noise) and the reference agent turns as green
outlines, next to audio players for input.wav and output.wav. Matplotlib runs headless (Agg).

Example::

    write_fdbench_report(metrics, Path("out/fdb"))   # -> out/fdb/report.html (+ latency.png, example_*.png)
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from duplexgen.core.evalset import INPUT_WAV, OUTPUT_WAV, REPORT_HTML, TASKS, read_labels

EVENT_COLOURS = {"smooth_turn_taking": "tab:blue", "user_interruption": "tab:red", "pause_handling": "0.5",
                 "user_backchannel": "tab:orange", "background_noise": "tab:orange"}


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
    return np.arange(n) * hop / sr, np.abs(x[: n * hop]).reshape(n, hop).max(axis=1)


def plot_case(folder: Path, entry: dict[str, Any], path: Path) -> Path:
    """Timeline of one scored case: input and output envelopes, the model's utterances, the event, the reference."""
    import soundfile as sf

    plt = _plt()
    labels = read_labels(folder)
    fig, axes = plt.subplots(2, 1, figsize=(11, 2.8), sharex=True)
    for ax, name, wav in ((axes[0], "input (user)", INPUT_WAV), (axes[1], "output (model)", OUTPUT_WAV)):
        x, sr = sf.read(str(folder / wav), dtype="float32", always_2d=False)
        t, env = envelope(np.asarray(x), sr)
        peak = float(env.max()) if len(env) and env.max() > 0 else 1.0
        ax.fill_between(t, -env / peak, env / peak, color="0.65", lw=0)
        ax.set_ylim(-1.45, 1.2)
        ax.set_yticks([])
        ax.set_ylabel(name, fontsize=8)
    for a in labels["reference"]["agent"]:
        axes[1].add_patch(plt.Rectangle((a["start"], -1.05), a["end"] - a["start"], 2.1, fill=False, ec="tab:green", lw=0.8))
    for s, e in entry["result"].get("utterances", []):
        bc = (e - s) < 1.0
        axes[1].plot([s, e], [-1.3, -1.3], color="0.6" if bc else "tab:purple", lw=4, solid_capstyle="butt")
    ev, colour = labels["event"], EVENT_COLOURS[labels["task"]]
    for ax in axes:
        if ev["end"] > ev["start"]:
            ax.axvspan(ev["start"], ev["end"], color=colour, alpha=0.25, lw=0)
        ax.axvline(ev["start"], color=colour, lw=1.0)
    axes[1].set_xlim(0, labels["duration_s"])
    axes[1].set_xlabel("time (s)")
    axes[0].set_title(f"{entry['case']}: {_verdict(entry)}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_latencies(metrics: dict[str, Any], path: Path) -> Path:
    """Histograms: turn-taking latency, interruption stop and response latency, backchannel/noise stop latency."""
    plt = _plt()
    per = metrics["per_case"]
    panels = [
        ("turn-taking latency\n(model onset - user end)", [c["result"]["latency"] for c in per if c["task"] == "smooth_turn_taking"], "tab:blue", None),
        ("interruption stop latency\n(model stop - user onset)", [c["result"]["stop_latency"] for c in per if c["task"] == "user_interruption"],
         "tab:red", metrics["config"]["stop_max_s"]),
        ("interruption response latency\n(model onset - interruption end)", [c["result"]["latency"] for c in per if c["task"] == "user_interruption"],
         "tab:red", None),
        ("backchannel / noise stop latency\n(only models that stopped)", [c["result"].get("stop_latency") for c in per
                                                                            if c["task"] in ("user_backchannel", "background_noise")], "tab:orange", None),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(14, 2.8))
    for ax, (title, xs, colour, thr) in zip(axes, panels):
        xs = [x for x in xs if x is not None]
        if xs:
            ax.hist(xs, bins=min(30, max(5, len(xs))), color=colour, alpha=0.8)
        if thr is not None:
            ax.axvline(thr, color="black", ls="--", lw=1)
        ax.set_title(f"{title}\nn={len(xs)}", fontsize=8)
        ax.set_xlabel("s", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _verdict(entry: dict[str, Any]) -> str:
    r = entry["result"]
    bits = [f"TO={r['to']}", r.get("reason", "")]
    for key in ("latency", "stop_latency"):
        if r.get(key) is not None:
            bits.append(f"{key} {r[key]:.2f} s")
    return ", ".join(b for b in bits if b)


def _fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "n/a"
    return f"{x:.3f}{unit}" if isinstance(x, float) else str(x)


def _task_rows(metrics: dict[str, Any]) -> dict[str, list[tuple[str, str, str]]]:
    tt, ui, ph, bc, bn = (metrics[k] for k in ("turn_taking", "interruption", "pause_handling", "backchannel", "background_noise"))
    mb = metrics["model_backchannel"]
    rows = {
        "smooth_turn_taking": [
            ("take-over rate (TOR, higher is better)", _fmt(tt["tor"]), f"{tt['cases']} cases"),
            ("latency mean (TO = 1 only)", _fmt(tt["latency_mean_s"], " s"),
             f"median {_fmt(tt['latency']['median'], ' s')}, p90 {_fmt(tt['latency']['p90'], ' s')}"),
            ("outcomes", json.dumps(tt["reasons"]), ""),
        ],
        "user_interruption": [
            ("take-over rate (TOR, higher is better)", _fmt(ui["tor"]), f"{ui['cases']} cases, {ui['speaking_at_onset']} with the model speaking at the onset"),
            ("success (stopped within the threshold, SALM-Duplex barge-in)", _fmt(ui["success_rate"]),
             f"threshold {metrics['config']['stop_max_s']} s"),
            ("stop latency mean (v1.5 Eq. 1)", _fmt(ui["stop_latency_mean_s"], " s"), f"p90 {_fmt(ui['stop_latency']['p90'], ' s')}"),
            ("response latency mean (v1.5 Eq. 2 = v1 latency after interruption)", _fmt(ui["latency_mean_s"], " s"),
             f"p90 {_fmt(ui['latency']['p90'], ' s')}"),
            ("outcomes", json.dumps(ui["reasons"]), ""),
        ],
        "pause_handling": [
            ("take-over rate (TOR, lower is better)", _fmt(ph["tor"]), f"{ph['cases']} cases"),
            ("outcomes", json.dumps(ph["reasons"]), ""),
            ("model backchannels while the user speaks (turn-taking + pause cases)", f"{mb['events']} ({_fmt(mb['freq'])} / s)",
             f"JSD {_fmt(mb['jsd'])} over {mb['jsd_cases']} cases with a reference"),
        ],
    }
    for task, m in (("user_backchannel", bc), ("background_noise", bn)):
        rows[task] = [
            ("turn-over rate (model gave up the floor, lower is better)", _fmt(m["tor"]), f"{m['cases']} cases, {m['scored']} scored"),
            ("stop latency mean of the ones that stopped", _fmt(m["stop_latency_mean_s"], " s"),
             f"response latency {_fmt(m['response_latency_mean_s'], ' s')}"),
            ("outcomes", json.dumps(m["reasons"]), ""),
        ]
    return rows


def _examples(metrics: dict[str, Any], task: str, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` cases of a task: failures first (the behaviour worth hearing), then successes."""
    cases = [c for c in metrics["per_case"] if c["task"] == task]
    good_is_to = TASKS[task].higher_tor_is_better
    failed = [c for c in cases if c["result"]["to"] is not None and bool(c["result"]["to"]) != good_is_to]
    rest = [c for c in cases if c not in failed]
    picked = failed[: (n + 1) // 2]
    return picked + rest[: n - len(picked)]


def write_fdbench_report(metrics: dict[str, Any], out_dir: Path, examples: int = 2, dest: Optional[Path] = None) -> Path:
    """Write ``latency.png``, ``example_<task>_<k>.png`` and ``report.html`` into ``out_dir``; return the HTML path."""
    out_dir = Path(out_dir)
    plot_latencies(metrics, out_dir / "latency.png")
    rows = _task_rows(metrics)
    sections = []
    for name, task in TASKS.items():
        n_cases = metrics["cases"]["by_task"][name]["cases"]
        table = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>" for a, b, c in rows[name])
        ex_html = []
        for k, c in enumerate(_examples(metrics, name, examples) if n_cases else []):
            folder = out_dir / c["case"]
            png = plot_case(folder, c, out_dir / f"example_{name}_{k}.png").name
            ex_html.append(
                f"<div class='ex'><img src='{png}'><br>{html.escape(c['case'])}: {html.escape(_verdict(c))}<br>"
                f"input <audio controls preload='none' src='{html.escape(c['case'])}/{INPUT_WAV}'></audio> "
                f"output <audio controls preload='none' src='{html.escape(c['case'])}/{OUTPUT_WAV}'></audio></div>")
        sections.append(f"<h2>{html.escape(name)} <small>({html.escape(task.source)}; good model: {html.escape(task.expected)}; "
                        f"metrics.json key <code>{task.key}</code>)</small></h2>"
                        f"<table><tr><th>metric</th><th>value</th><th>detail</th></tr>{table}</table>{''.join(ex_html)}")
    bad = "".join(f"<tr><td>{html.escape(b['case'])}</td><td>{html.escape(b['reason'])}</td></tr>" for b in metrics["bad_cases"][:200])
    cfg, c = metrics["config"], metrics["cases"]
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>duplexgen score</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}
table{{border-collapse:collapse;margin-bottom:1em}}img{{max-width:100%;border:1px solid #eee;margin:4px 0}}
.ex{{margin:8px 0 18px 0;font-size:13px}}small{{font-weight:normal;font-size:12px}}</style></head><body>
<h1>duplexgen score: Full-Duplex-Bench-style cases</h1>
<p>{c['scored']} of {c['total']} cases scored ({c['bad']} skipped as bad) in {html.escape(metrics['out_dir'])}.
Speech: {html.escape(cfg['vad'])} VAD, utterances joined across pauses &lt; {cfg['utterance_gap_s']} s; an utterance &lt; 1 s
(and of one word, with ASR <code>{html.escape(cfg['asr'])}</code>) is a backchannel (FDB v1 Sec. III). Thresholds: interruption stop
{cfg['stop_max_s']} s, backchannel/noise continue {cfg['continue_s']} s, VAD slack {cfg['early_s']} s.</p>
<h2>Latency distributions</h2><img src="latency.png">
{''.join(sections)}
<h2>Bad case folders (skipped)</h2><table><tr><th>case</th><th>reason</th></tr>{bad or '<tr><td colspan=2>none</td></tr>'}</table>
</body></html>"""
    path = Path(dest) if dest else out_dir / REPORT_HTML
    path.write_text(doc)
    return path


__all__ = ["write_fdbench_report", "plot_case", "plot_latencies", "envelope"]
