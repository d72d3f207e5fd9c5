"""What a run made: a summary from the manifest (conversations, hours, shards, rejects), and the rejects file.

Rejects are counted by cause: the reject's ``code`` (``core.rejects``), per source, with what the code means,
one example, and the config key that changes the outcome spelled for that source (``sources.N...``).

Example::

    s = summarize("out/demo")          # or "s3://bucket/corpus"
    print(format_summary(s))
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Optional

from duplexgen.core.records import ManifestEntry
from duplexgen.core.rejects import REJECT_KINDS
from duplexgen.core.storage import Location, join, write_text
from duplexgen.pipeline.manifest import read_manifest


def summarize(out: Location, planned_shards: Optional[int] = None, entries: Optional[list[ManifestEntry]] = None,
              source_index: Optional[dict[str, int]] = None) -> dict[str, Any]:
    """Totals per source from the manifest entries (read from ``out`` unless given). ``source_index`` (source
    name -> its place in the config's ``sources``) spells the rejects' hints as overrides of that source."""
    entries = read_manifest(out) if entries is None else entries
    per_source: dict[str, dict[str, Any]] = {}
    rejects = []
    for e in entries:
        s = per_source.setdefault(e.source, {"conversations": 0, "changed": 0, "hours": 0.0, "shards": 0, "rejects": 0, **{k: 0 for k in TEXT_SPEECH_KEYS}})
        s["conversations"] += e.cuts
        # "changed": kept, but the text was rewritten to be speakable (markdown, numbers, symbols, ...).
        s["changed"] += sum(1 for st in e.stats if st.get("text_changes"))
        s["hours"] += e.seconds / 3600
        s["shards"] += 1 if e.cuts else 0
        s["rejects"] += len(e.rejects)
        for k in TEXT_SPEECH_KEYS:  # older manifests lack them: counted as 0
            s[k] += sum(int(st.get(k, 0)) for st in e.stats)
        rejects.extend(e.rejects)
    totals = {k: sum(v[k] for v in per_source.values()) for k in TEXT_SPEECH_KEYS}
    return {
        "output_dir": str(out),
        "shard_dirs": sorted(join(out, "shards", s) for s, v in per_source.items() if v["shards"]),
        "conversations": sum(v["conversations"] for v in per_source.values()),
        "hours": round(sum(v["hours"] for v in per_source.values()), 6),
        "shards": sum(v["shards"] for v in per_source.values()),
        "planned_shards": planned_shards,
        "finished_shards": len(entries),
        "rejects": len(rejects),
        "rejects_by_stage": dict(Counter(r["stage"] for r in rejects)),
        "rejects_by_cause": rejects_by_cause(rejects, source_index),
        "text_speech": dict(totals, **agreement(totals)),
        "per_source": {k: dict(v, hours=round(v["hours"], 6)) for k, v in sorted(per_source.items())},
        "rejects_file": join(out, "rejects.jsonl"),
    }


#: Per-conversation counts (``stages.text_speech_stats``) summed per source.
TEXT_SPEECH_KEYS = ("supervisions", "aligned", "spelled", "barge_ins", "barge_ins_exact")


def agreement(counts: dict[str, int]) -> dict[str, Optional[float]]:
    """Rates from text/speech counts: aligned supervisions whose alignment spells their text, supervisions
    with an alignment at all, barge-ins that keep an exact prefix (None when there is nothing to rate)."""
    def rate(a: int, b: int) -> Optional[float]:
        return round(a / b, 6) if b else None

    return {
        "spelled_rate": rate(counts["spelled"], counts["aligned"]),
        "aligned_rate": rate(counts["aligned"], counts["supervisions"]),
        "barge_in_exact_rate": rate(counts["barge_ins_exact"], counts["barge_ins"]),
    }


def rejects_by_cause(rejects: list[dict[str, Any]], source_index: Optional[dict[str, int]] = None) -> list[dict[str, Any]]:
    """One entry per (source, code), most frequent first: count, what the code means, the first reject as an
    example, and the hint with its key spelled for that source."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rejects:
        # rejects written by a duplexgen without codes group by their stage
        groups.setdefault((r["source"], r.get("code") or f"{r['stage']}.?"), []).append(r)
    out = []
    for (source, code), items in groups.items():
        kind = REJECT_KINDS.get(code)
        out.append({
            "source": source,
            "code": code,
            "count": len(items),
            "summary": kind.summary if kind else "written by an older duplexgen (no cause code): see the example",
            "hint": kind.hint_for((source_index or {}).get(source)) if kind else "",
            "example": {"item": items[0]["item"], "reason": items[0]["reason"]},
        })
    return sorted(out, key=lambda g: (-g["count"], g["source"], g["code"]))


def write_summary(out: Location, summary: dict[str, Any], entries: Optional[list[ManifestEntry]] = None) -> None:
    entries = read_manifest(out) if entries is None else entries
    rejects = [r for e in entries for r in e.rejects]
    write_text(join(out, "rejects.jsonl"), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects))
    write_text(join(out, "summary.json"), json.dumps(summary, indent=1))


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"conversations: {s['conversations']}   hours: {s['hours']:.4f}   shards: {s['shards']}   rejects: {s['rejects']}",
        "",
        f"  {'source':<22}{'conversations':>14}{'text changed':>13}{'hours':>10}{'shards':>8}{'rejects':>9}",
    ]
    for name, v in s["per_source"].items():
        lines.append(f"  {name:<22}{v['conversations']:>14}{v['changed']:>13}{v['hours']:>10.4f}{v['shards']:>8}{v['rejects']:>9}")
    ts = s.get("text_speech")
    if ts and ts["supervisions"]:
        lines.append("")
        lines.append(f"text = speech: {ts['spelled']}/{ts['aligned']} word alignments spell their text"
                     f" ({ts['aligned']}/{ts['supervisions']} supervisions aligned); {ts['barge_ins_exact']}/{ts['barge_ins']}"
                     " barge-ins keep an exact prefix")
    if s["rejects"]:
        lines.append("")
        lines.append("rejects by cause:")
        for g in s["rejects_by_cause"]:
            lines.append(f"  {g['count']:>5}  {g['source']}  {g['code']}: {g['summary']}")
            lines.append(f"         e.g. {g['example']['item']}: {_short(g['example']['reason'])}")
            if g["hint"]:
                lines.append(f"         {g['hint']}")
    lines.append("")
    lines.append(f"shards:  {', '.join(s['shard_dirs']) or '(none)'}")
    lines.append(f"rejects: {s['rejects_file']}")
    lines.append(f"summary: {join(s['output_dir'], 'summary.json')}")
    return "\n".join(lines)


def _short(text: str, n: int = 160) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
