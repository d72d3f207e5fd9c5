"""`duplexgen validate SHARD_DIR`: check shards against the duplex shard contract.

Each violation is one readable line ``<cut id>: <what is wrong>``; the command exits non-zero when
there is any. The checks are the facts NeMo's ``DuplexS2SDataset`` relies on (shard-contract.md):
field names, sample rates, equal stream durations, user/agent supervisions inside the cut, user
first, a trailing gap, and agent turns long enough that the EOS frame does not overwrite text.

And that the text is the speech (:func:`text_speech_violations`): every word alignment spells its
supervision's text (:mod:`duplexgen.core.words`), in order, inside the supervision, and every barge-in keeps
an exact prefix of the full turn text that ends on a word, matching its supervision and alignment.

Example::

    report = validate_dir("out/demo/shards")          # or "s3://bucket/corpus/shards"
    assert not report.violations, report.violations[:5]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from duplexgen.core import storage
from duplexgen.core.records import AGENT, USER
from duplexgen.core.schema import SHAR_FIELDS
from duplexgen.core.shards import find_shard_dirs, load_shards
from duplexgen.core.storage import Location
from duplexgen.core.timing import (
    AGENT_SAMPLE_RATE,
    FRAME_S,
    GAP_S,
    USER_SAMPLE_RATE,
    eos_frame_ok,
    estimate_tokens,
    frame_of,
)
from duplexgen.core.words import alignment_problem, is_word_prefix, word_symbols

#: Two sample periods of the slower stream: durations/times may differ by rounding, not more.
TIME_TOL = 2.0 / USER_SAMPLE_RATE


@dataclass
class ValidationReport:
    shard_dirs: list[str] = field(default_factory=list)
    cuts: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and self.cuts > 0


def check_cut(cut, count_tokens: Callable[[str], int] = estimate_tokens) -> list[str]:
    """The contract violations of one cut (no audio decoding)."""
    v = []
    cid = cut.id

    def bad(msg: str) -> None:
        v.append(f"{cid}: {msg}")

    if cut.recording is None:
        bad("no user recording")
        return v
    if cut.recording.sampling_rate != USER_SAMPLE_RATE:
        bad(f"user recording at {cut.recording.sampling_rate} Hz, expected {USER_SAMPLE_RATE}")
    if cut.recording.num_channels != 1:
        bad(f"user recording has {cut.recording.num_channels} channels, expected mono")
    target = (cut.custom or {}).get("target_audio")
    if target is None:
        bad("no custom.target_audio (agent stream)")
    else:
        if target.sampling_rate != AGENT_SAMPLE_RATE:
            bad(f"target_audio at {target.sampling_rate} Hz, expected {AGENT_SAMPLE_RATE}")
        if abs(target.duration - cut.duration) > TIME_TOL:
            bad(f"target_audio lasts {target.duration:.5f} s, cut lasts {cut.duration:.5f} s")
    if abs(cut.recording.duration - cut.duration) > TIME_TOL:
        bad(f"user recording lasts {cut.recording.duration:.5f} s, cut lasts {cut.duration:.5f} s")
    sups = sorted(cut.supervisions, key=lambda s: s.start)
    if not sups:
        bad("no supervisions")
        return v
    speakers = {s.speaker for s in sups}
    if not speakers <= {USER, AGENT}:
        bad(f"speakers {sorted(speakers - {USER, AGENT})} are not 'user'/'agent'")
    if AGENT not in speakers:
        bad("no agent turn")
    if sups[0].speaker != USER:
        bad(f"starts with {sups[0].speaker!r}, must start with the user")
    for s in sups:
        if s.start < -TIME_TOL or s.end > cut.duration + TIME_TOL:
            bad(f"supervision {s.id} [{s.start:.3f}, {s.end:.3f}] is outside the cut [0, {cut.duration:.3f}]")
        if not (s.text or "").strip():
            bad(f"supervision {s.id} has no text")
        if s.speaker == AGENT:
            if frame_of(s.start) == 0:
                bad(f"agent speaks at t=0 ({s.id}); inference starts from a pad frame")
            n_tok = count_tokens(s.text or "")
            if not eos_frame_ok(s.start, s.end, n_tok):
                frames = frame_of(s.end) - frame_of(s.start)
                bad(f"agent turn {s.id} spans {frames} frames but needs >= {1 + n_tok} (BOS + tokens) or EOS overwrites text")
    gaps = (cut.custom or {}).get("gaps") or [GAP_S]
    trailing = cut.duration - max(s.end for s in sups)
    if trailing < min(gaps[-1], GAP_S) - FRAME_S:
        bad(f"trailing silence {trailing:.3f} s, expected one gap ({gaps[-1]:.2f} s)")
    v.extend(f"{cid}: {msg}" for msg in text_speech_violations(cut))
    return v


def _part(obj, key: str):
    """A field of a supervision or alignment item, whether it is a lhotse object or its manifest dict/list
    (the generation worker's ``ShardCut`` holds dicts: no lhotse there)."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _item_span(item) -> tuple[str, float, float]:
    """(symbol, start, end) of a word alignment item: a lhotse ``AlignmentItem`` or its serialised list."""
    if isinstance(item, (list, tuple)):
        return item[0], float(item[1]), float(item[1]) + float(item[2])
    return item.symbol, item.start, item.start + item.duration


def word_alignment(sup) -> list | None:
    """A supervision's word alignment items, or None when it has none."""
    alignment = _part(sup, "alignment")
    return alignment.get("word") if alignment else None


def alignment_violation(sup) -> str | None:
    """Why a supervision's word alignment does not spell its text (None when it does or there is none)."""
    items = word_alignment(sup)
    if items is None:
        return None
    start = float(_part(sup, "start"))
    problem = alignment_problem(_part(sup, "text") or "", [_item_span(a) for a in items], start, start + float(_part(sup, "duration")))
    return None if problem is None else f"supervision {_part(sup, 'id')}: {problem}"


def text_speech_violations(cut) -> list[str]:
    """Where the text of a cut is not the speech: alignments that do not spell their supervision's text, and
    barge-ins whose kept text is not an exact prefix of the full turn text (naming the cut point)."""
    v = [msg for s in cut.supervisions if (msg := alignment_violation(s))]
    custom = cut.custom or {}
    agent_sups = sorted((s for s in cut.supervisions if _part(s, "speaker") == AGENT), key=lambda s: _part(s, "start"))
    for b in custom.get("barge_in") or []:
        where = f"barge-in at t_cut={float(b.get('t_cut', float('nan'))):.3f} s (agent turn {b.get('agent_turn')})"
        full, kept = b.get("full_text") or "", b.get("spoken_text") or ""
        if not is_word_prefix(full, kept):
            v.append(f"{where}: kept text {kept[-40:]!r} is not an exact prefix of the turn text {full[:60]!r} ending on a word")
            continue
        n = len(word_symbols(kept))
        if b.get("words_kept") is not None and b["words_kept"] != n:
            v.append(f"{where}: words_kept={b['words_kept']} but the kept text has {n} words")
        end = b.get("end")
        sup = next((s for s in agent_sups if end is not None and abs(_part(s, "start") + _part(s, "duration") - end) <= TIME_TOL), None)
        if sup is None:
            v.append(f"{where}: no agent supervision ends at the cut ({end})")
        elif _part(sup, "text") != kept:
            v.append(f"{where}: supervision {_part(sup, 'id')} says {_part(sup, 'text')[-40:]!r}, the kept text is {kept[-40:]!r}")
    return v


def check_shard_files(shard_dir: Location) -> list[str]:
    v = []
    names = set(storage.listdir(shard_dir))
    for cuts in sorted(n for n in names if n.startswith("cuts.") and n.endswith(".jsonl.gz")):
        idx = cuts.split(".")[1]
        for f in SHAR_FIELDS:
            if f"{f}.{idx}.tar" not in names:
                v.append(f"{shard_dir}: shard {idx} has no {f}.{idx}.tar")
    return v


def validate_dir(root: Location, count_tokens: Callable[[str], int] | None = None, limit: int | None = None) -> ValidationReport:
    """Check every conversation under ``root`` (a folder or an object-store URL, searched recursively)."""
    report = ValidationReport()
    if not storage.exists(root):
        report.violations.append(f"{root}: no such folder")
        return report
    dirs = find_shard_dirs(root)
    report.shard_dirs = [str(d) for d in dirs]
    if not dirs:
        report.violations.append(f"{root}: no Lhotse Shar shards (cuts.NNNNNN.jsonl.gz) found")
        return report
    ids: set[str] = set()
    for d in dirs:
        report.violations.extend(check_shard_files(d))
        for cut in load_shards(d):
            report.cuts += 1
            report.seconds += cut.duration
            if cut.id in ids:
                report.violations.append(f"{cut.id}: duplicate cut id")
            ids.add(cut.id)
            report.violations.extend(check_cut(cut, count_tokens or estimate_tokens))
            if limit and report.cuts >= limit:
                return report
    return report

