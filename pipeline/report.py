"""`duplexgen report OUT_DIR`: a self-contained HTML page about a generated corpus, for a person to read.

The page is a list of sections. Each section is a function ``section_x(data: ReportData) -> str`` that
returns its HTML from one :class:`ReportData` (read once: the run's summary, manifest entries, index rows,
config and the example conversations); :data:`SECTIONS` lists them in page order. To add a section, write
one function and add it to the list. Plots and timelines are embedded PNGs and each example's audio an
embedded stereo MP3 (left = agent, right = user), so the file can be mailed around.

Example::

    path = write_report("out/demo")   # out/demo/report.html (the output may also be an s3://... URL)
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from duplexgen.core.records import ManifestEntry
from duplexgen.core.storage import Location, join, read_text, write_text
from duplexgen.pipeline.index import index_rows
from duplexgen.pipeline.summary import summarize
from duplexgen.pipeline.timeline import COLORS, spans, timeline_png
from duplexgen.tts.voices import voice_label

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:0 12px 40px;color:#222;line-height:1.35}
table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #ccc;padding:3px 8px;vertical-align:top;text-align:left}
th{background:#f2f2f2}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.text{white-space:pre-wrap;overflow-wrap:anywhere}
td.name{white-space:nowrap}
table.transcript{width:100%;table-layout:fixed}
table.transcript col.t{width:8.5em} table.transcript col.who{width:8.5em}
img{max-width:100%;height:auto}
img.timeline{width:100%}
audio{width:100%;margin:4px 0}
.muted{color:#666}
.hint{font-family:ui-monospace,monospace;font-size:90%}
abbr{text-decoration:underline dotted}
"""


@dataclass
class Example:
    """One conversation shown in full: its source, id, audio (a data URL), timeline (a data URL) and turns."""

    source: str
    cut_id: str
    duration: float
    audio_url: str
    timeline_url: str
    turns: list[dict[str, Any]]
    barge_ins: int = 0
    backchannels: int = 0
    user_stream: list[str] = field(default_factory=list)


@dataclass
class ReportData:
    """Everything the sections read, loaded once."""

    out: str
    summary: dict[str, Any]
    entries: list[ManifestEntry]
    rows: list[dict[str, Any]]
    config: Optional[dict[str, Any]]
    examples: list[Example]
    #: the report sits in the output folder, so relative links to its files work
    links: bool = True


# ---------------------------------------------------------------- html helpers


def esc(x: Any) -> str:
    return html.escape(str(x))


def data_url(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(payload).decode()


def img(png: bytes, alt: str, cls: str = "") -> str:
    return f"<img class='{cls}' src='{data_url('image/png', png)}' alt='{esc(alt)}'>"


def table(header: list[str], rows: list[list[str]], num_cols: tuple[int, ...] = (), cls: str = "", cols: str = "",
          name_cols: tuple[int, ...] = ()) -> str:
    """An HTML table; cells are HTML already (escape text with :func:`esc`); ``num_cols`` are right-aligned numbers,
    ``name_cols`` short names kept on one line."""
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if any(header) else ""
    klass = lambda i: "num" if i in num_cols else "name" if i in name_cols else "text"  # noqa: E731
    body = "".join("<tr>" + "".join(f"<td class='{klass(i)}'>{v}</td>" for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table class='{cls}'>{cols}{head}{body}</table>"


def figure(width: float, height: float, ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height))


def fig_png(fig, dpi: int = 80) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def voice_html(key: str) -> str:
    """A voice as words (the exact key in a tooltip)."""
    return f"<abbr title='{esc(key)}'>{esc(voice_label(key))}</abbr>"


def link(d: ReportData, name: str) -> str:
    return f"<a href='{esc(name)}'>{esc(name)}</a>" if d.links else esc(join(d.out, name))


# ---------------------------------------------------------------- sections


def section_summary(d: ReportData) -> str:
    s = d.summary
    planned = s.get("planned_shards")
    rows = [
        ["output", esc(s["output_dir"])],
        ["conversations", f"{s['conversations']:,}"],
        ["audio", f"{s['hours']:.3f} hours ({s['hours'] * 60:.1f} minutes)"],
        ["shards", f"{s['finished_shards']:,} finished" + (f" of {planned:,} planned" if planned else "")],
        ["rejected rows", f"{s['rejects']:,} (every one with its reason: {link(d, 'rejects.jsonl')})"],
        ["sources", esc(", ".join(s["per_source"]) or "none")],
    ]
    if d.config:
        tts = d.config.get("tts") or {}
        rows += [["seed", esc(d.config.get("seed", ""))], ["TTS", esc(tts.get("backend", ""))]]
    rows.append(["files", ", ".join(link(d, f) for f in ("summary.json", "index.parquet", "nemo_input_cfg.yaml", "config.json"))])
    lede = (f"<p>{s['conversations']:,} conversations, {s['hours']:.3f} hours of audio from {len(s['per_source'])} source(s); "
            f"{s['rejects']:,} row(s) rejected.</p>")
    return "<h2>Summary</h2>" + lede + table(["", ""], [[f"<b>{k}</b>", v] for k, v in rows])


def section_sources(d: ReportData) -> str:
    per = d.summary["per_source"]
    rows = [[esc(n), f"{v['conversations']:,}", f"{v['changed']:,}", f"{v['hours']:.4f}", f"{v['shards']:,}", f"{v['rejects']:,}"]
            for n, v in per.items()]
    fig, ax = figure(6, 0.35 * max(len(per), 1) + 1.0)
    items = sorted(((n, v["hours"]) for n, v in per.items()), key=lambda kv: kv[1])
    ax.barh([n for n, _ in items], [h for _, h in items], color=COLORS["user"])
    ax.set(xlabel="hours of audio")
    return ("<h2>Sources</h2>"
            + table(["source", "conversations", "text changed", "hours", "shards", "rejects"], rows, num_cols=(1, 2, 3, 4, 5))
            + "<p class='muted'>text changed: kept, with the text rewritten to be speakable (markdown, numbers, symbols...).</p>"
            + img(fig_png(fig), "hours per source"))


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.1f} %)" if b else "-"


def section_text_speech(d: ReportData) -> str:
    """Agreement of text and speech per source: word alignments that spell their supervision's text,
    supervisions that have an alignment, barge-ins whose kept text is an exact prefix."""
    items = list(d.summary["per_source"].items()) + [("all", d.summary.get("text_speech") or {})]
    rows = [[esc(name), _pct(v["spelled"], v["aligned"]), _pct(v["aligned"], v["supervisions"]), _pct(v["barge_ins_exact"], v["barge_ins"])]
            for name, v in items if "supervisions" in v]
    return ("<h2>Text = speech</h2><p>A word alignment <i>spells</i> its supervision when its words are exactly the "
            "words of the text, in order, inside the supervision (<code>duplexgen validate</code> fails a shard otherwise).</p>"
            + table(["source", "alignments that spell their text", "supervisions with an alignment", "barge-ins with an exact prefix"],
                    rows, num_cols=(1, 2, 3), name_cols=(0,)))


def section_lengths(d: ReportData) -> str:
    fig, ax = figure(6, 2.8)
    ax.hist([r["duration"] for r in d.rows] or [0], bins=30, color=COLORS["user"])
    ax.set(xlabel="seconds", ylabel="conversations")
    return "<h2>Conversation lengths</h2>" + img(fig_png(fig), "conversation durations")


def section_turn_taking(d: ReportData) -> str:
    fig, axes = figure(10, 2.8, ncols=2)
    gaps = [g for r in d.rows for g in r["gaps"] if g is not None]  # None: that turn was barged in on
    axes[0].hist(gaps or [0], bins=30, color=COLORS["backchannel"])
    axes[0].set(title="gaps between turns", xlabel="seconds")
    axes[1].hist([r["barge_ins"] for r in d.rows] or [0], bins=range(0, 7), color=COLORS["barge_in"], align="left")
    axes[1].set(title="barge-ins per conversation", xlabel="barge-ins")
    return "<h2>Turn-taking</h2>" + img(fig_png(fig), "gaps and barge-ins")


def section_timing(d: ReportData) -> str:
    """Natural/custom timing: the realised offsets, stop delays and backchannel positions against the profile
    (``report_timing``); nothing for a paper-timing corpus."""
    from duplexgen.pipeline.report_timing import timing_sections

    return "".join(f"<h2>{esc(title)}</h2>" + img(fig_png(fig), title) + html_table
                   for title, fig, html_table in timing_sections(d.entries))


def section_voices(d: ReportData) -> str:
    users = Counter(r["user_voice"] for r in d.rows)
    agents = Counter(r["agent_voice"] for r in d.rows)
    rows = [[voice_html(k), "agent", f"{n:,}", f"<span class='muted'>{esc(k)}</span>"] for k, n in agents.most_common()]
    rows += [[voice_html(k), "user", f"{n:,}", f"<span class='muted'>{esc(k)}</span>"] for k, n in users.most_common()]
    header = ["voice", "speaks as", "conversations", "exact voice (backend:name:parameters)"]
    shown, rest = rows[:12], rows[12:]  # a corpus has hundreds of user voices: the most used first, the rest folded
    more = (f"<details><summary>{len(rest)} more voice(s)</summary>" + table(header, rest, num_cols=(2,)) + "</details>") if rest else ""
    return (f"<h2>Voices</h2><p>{len(agents)} agent voice(s), {len(users)} user voice(s).</p>"
            + table(header, shown, num_cols=(2,)) + more)


def section_rejects(d: ReportData) -> str:
    causes = d.summary.get("rejects_by_cause") or []
    if not causes:
        return "<h2>Rejects</h2><p>No row was rejected.</p>"
    rows = [[f"{g['count']:,}", esc(g["source"]), f"<b>{esc(g['code'])}</b><br>{esc(g['summary'])}",
             f"<span class='muted'>{esc(g['example']['item'])}:</span> {esc(g['example']['reason'])}",
             f"<span class='hint'>{esc(g['hint'])}</span>" if g["hint"] else ""] for g in causes]
    return ("<h2>Rejects</h2><p>Rows dropped, by cause. Each cause's first row is shown; every rejected row is in "
            f"{link(d, 'rejects.jsonl')}.</p>" + table(["rows", "source", "cause", "example", "to change it"], rows, num_cols=(0,), name_cols=(1,)))


def section_examples(d: ReportData) -> str:
    parts = ["<h2>Examples</h2><p>One conversation per source. The timeline shows both streams on one time axis: U1, A1... "
             "number the turns, arrows give the gap before each turn, a dashed line marks where the user barged in and the "
             "hatched box the agent speech kept after it. Audio: left = agent, right = user.</p>"]
    for ex in d.examples:
        rows = []
        for t in ex.turns:
            kind_color = COLORS[t["kind"]] if t["kind"] in ("backchannel", "interruption") else COLORS[t["speaker"]]
            who = t["speaker"] if t["kind"] == "turn" else f"{t['speaker']} ({t['kind']})"
            rows.append([f"{t['start']:.2f}-{t['end']:.2f}", f"<span style='color:{kind_color}'>{esc(who)}</span>", esc(t["text"])])
        voices = sorted({t["voice"] for t in ex.turns if t["voice"]})
        facts = [f"{ex.duration:.1f} s", f"{ex.barge_ins} barge-in(s)", f"{ex.backchannels} backchannel(s)"]
        if ex.user_stream:
            facts.append("user stream: " + ", ".join(ex.user_stream))
        parts.append(
            f"<h3>{esc(ex.source)} <span class='muted'>{esc(ex.cut_id)}</span></h3>"
            f"<p>{esc('; '.join(facts))}. Voices: {', '.join(voice_html(v) for v in voices)}</p>"
            f"<img class='timeline' src='{ex.timeline_url}' alt='timeline of {esc(ex.cut_id)}'>"
            f"<audio controls preload='metadata' src='{ex.audio_url}'></audio>"
            + table(["seconds", "speaker", "text"], rows, cls="transcript", cols="<col class='t'><col class='who'><col>")
        )
    if not d.examples:
        parts.append("<p>No conversation to show.</p>")
    return "\n".join(parts)


#: The page, in order. Add a section: write ``def section_x(data: ReportData) -> str`` and list it here.
SECTIONS: list[Callable[[ReportData], str]] = [
    section_summary, section_sources, section_text_speech, section_lengths, section_turn_taking, section_timing, section_voices,
    section_rejects,
    section_examples,
]


# ---------------------------------------------------------------- examples


def pick_examples(rows: list[dict[str, Any]], per_source: int = 1) -> list[dict[str, Any]]:
    """``per_source`` conversations of every source: those that show the most of the layout (a barge-in, a
    backchannel, user-stream augmentation), the shorter first on a tie (the page stays light)."""
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)

    def order(r: dict[str, Any]) -> tuple:
        shows = (r.get("barge_ins", 0) > 0) + (r.get("backchannels", 0) > 0) + bool(r.get("augmentations"))
        return (-shows, r["duration"], r["id"])

    return [r for name in sorted(by_source) for r in sorted(by_source[name], key=order)[:per_source]]


def stereo_audio_url(user: np.ndarray, user_sr: int, agent: np.ndarray, agent_sr: int) -> str:
    """Both streams as one stereo file (left = agent, right = user) at the user rate, as a data URL: MP3, which
    every browser plays and which is ~9x smaller than WAV (a page with six examples: 1.7 MB instead of 12 MB)."""
    import soundfile as sf

    from duplexgen.core.audio import resample

    agent = resample(np.asarray(agent, np.float32), agent_sr, user_sr)
    n = max(len(user), len(agent))
    stereo = np.zeros((n, 2), dtype=np.float32)
    stereo[: len(agent), 0] = agent
    stereo[: len(user), 1] = user
    buf = io.BytesIO()
    if "MP3" in sf.available_formats():
        sf.write(buf, np.clip(stereo, -1, 1), user_sr, format="MP3", subtype="MPEG_LAYER_III")
        return data_url("audio/mpeg", buf.getvalue())
    sf.write(buf, np.clip(stereo, -1, 1), user_sr, format="WAV", subtype="PCM_16")  # libsndfile < 1.1 has no MP3
    return data_url("audio/wav", buf.getvalue())


def load_examples(picks: list[dict[str, Any]], entries: list[ManifestEntry]) -> list[Example]:
    """Read only the shards that hold the picked conversations; build each one's audio and timeline."""
    from duplexgen.core.shards import load_shard
    from duplexgen.pipeline.timeline import user_stream_notes

    shard_of = {(e.source, e.shard_index): e.files.get("cuts", "") for e in entries}
    wanted: dict[tuple[str, int], set[str]] = {}
    for r in picks:
        wanted.setdefault((r["source"], r["shard_index"]), set()).add(r["id"])
    found = {}
    for key, ids in wanted.items():
        cuts_file = shard_of.get(key)
        if not cuts_file:
            continue
        for cut in load_shard(cuts_file.rsplit("/", 1)[0], key[1]):
            if cut.id in ids:
                found[cut.id] = cut
    examples = []
    for r in picks:
        cut = found.get(r["id"])
        if cut is None:
            continue
        custom = cut.custom or {}
        user, agent = cut.load_audio()[0], cut.load_target_audio()[0]
        examples.append(Example(
            source=r["source"], cut_id=cut.id, duration=float(cut.duration),
            audio_url=stereo_audio_url(user, cut.recording.sampling_rate, agent, custom["target_audio"].sampling_rate),
            timeline_url=data_url("image/png", timeline_png(cut)),
            turns=spans(cut), barge_ins=len(custom.get("barge_in") or []), backchannels=len(custom.get("backchannels") or []),
            user_stream=user_stream_notes(custom, float(cut.duration))[0],
        ))
    return examples


# ---------------------------------------------------------------- the page


def _read_json(location: Location) -> Optional[dict[str, Any]]:
    try:
        return json.loads(read_text(location))
    except (FileNotFoundError, OSError, ValueError):
        return None


def collect(out: Location, entries: Optional[list[ManifestEntry]] = None, examples_per_source: int = 1, links: bool = True) -> ReportData:
    """Read the run once: manifest entries, the summary (with the planned shard count of summary.json), config."""
    from duplexgen.pipeline.manifest import read_manifest

    entries = read_manifest(out) if entries is None else entries
    config = _read_json(join(out, "config.json"))
    names = [s.get("name") or s.get("recipe") for s in (config or {}).get("sources", [])]
    summary = summarize(out, entries=entries, source_index={n: i for i, n in enumerate(names)})
    saved = _read_json(join(out, "summary.json")) or {}
    summary["planned_shards"] = saved.get("planned_shards")  # only the run knows how many it planned
    rows = index_rows(out, entries)
    return ReportData(str(out), summary, entries, rows, config, load_examples(pick_examples(rows, examples_per_source), entries), links)


def render(data: ReportData, sections: Optional[list[Callable[[ReportData], str]]] = None) -> str:
    body = "\n".join(section(data) for section in (sections or SECTIONS))
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>duplexgen report: {esc(data.out)}</title><style>{CSS}</style></head><body>"
            f"<h1>duplexgen report</h1><p class='muted'>{esc(data.out)}</p>\n{body}\n</body></html>")


def write_report(out: Location, examples: int = 1, dest: Optional[Location] = None, entries: Optional[list[ManifestEntry]] = None) -> str:
    """Write the report to ``dest`` (default: ``out/report.html``) with ``examples`` conversations per source;
    returns where it went."""
    data = collect(out, entries, examples, links=dest is None)
    return write_text(dest or join(out, "report.html"), render(data))


__all__ = ["write_report", "collect", "render", "ReportData", "Example", "SECTIONS", "pick_examples", "stereo_audio_url"]
