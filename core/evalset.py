"""Full-Duplex-Bench-style evaluation sets: the case-folder layout, the label schema, and how a cut's
scripted events become cases. Shared by the exporter (``duplexgen export fdbench``, pipeline) and the
scorer (``duplexgen score`` / ``duplexgen eval``, training), which never import each other.

Layout (Full-Duplex-Bench's sample folders, arXiv 2503.04721 Sec. III-A; README of
DanielLin94144/Full-Duplex-Bench)::

    OUT_DIR/manifest.json                    what was exported (counts, skipped events and why, config)
    OUT_DIR/<task>/<case_id>/input.wav       the user stream the model hears: 16 kHz mono PCM-16
                            input_<rate>.wav  the same at the shards' own rate, when that is not 16 kHz
                            labels.json       duplexgen's labels (LABEL_FIELDS), seconds on input.wav's timeline
                            <fdb file>        Full-Duplex-Bench's own label file (Task.fdb_file)
                            output.wav        the model's time-aligned output (any rate, mono, as long as input.wav);
                                              ``--reference-output`` writes the shards' own agent stream here
    OUT_DIR/metrics.json, OUT_DIR/report.html  written by the scorer

Tasks (``TASKS``) and where their cases come from (``plan_cases``):

- ``smooth_turn_taking``: every user turn answered by an agent turn after a gap (FDB v1: no overlapping
  transitions); the event is the user's turn end.
- ``user_interruption``: every ``custom.barge_in`` record; the event runs from ``t_cut`` to the end of the
  interrupting user turn. The context is the question the interrupted agent turn answers.
- ``pause_handling``: duplexgen lays out no pauses inside a user turn, so the case INSERTS one (FDB's
  synthetic pause set does the same with TTS break tags): a silence of ``pause_min_s..pause_max_s`` (FDB
  v1 Sec. III-C: Candor pauses of 0.4-1.0 s), drawn from the case id, at the word boundary nearest the
  middle of the turn, in input.wav and in the reference output alike.
- ``user_backchannel``: every ``custom.backchannels`` record (FDB v1.5's user backchannel scenario).
- ``background_noise``: each ``augmentations[noise].noise_intervals`` burst that starts inside an agent turn.

Each case's input.wav runs from ``lead_s`` before the first user turn of the case to ``tail_s`` after the
event (FDB appends 5 s / 15 s of silence; the tail also covers the reference answer's first 1.5 s). User
speech that belongs to other exchanges inside that window is muted (noise and reverb stay), and the
reference output keeps only the case's own agent turns, so a case never leaks the next exchange.

Example::

    cfg = CaseConfig()
    for spec in plan_cases(cut, cfg).cases:
        audio = case_audio(spec, user, 16000, agent, 22050, reference=True)
        write_case(out_dir, spec, audio)
"""

from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from duplexgen.core.config import help_field
from duplexgen.core.events import sup_kind
from duplexgen.core.records import safe_id
from duplexgen.core.schema import Field
from duplexgen.core.timing import USER_SAMPLE_RATE

SCHEMA = "duplexgen.fdbench/1"
INPUT_WAV = "input.wav"
OUTPUT_WAV = "output.wav"
LABELS_JSON = "labels.json"
MANIFEST_JSON = "manifest.json"
METRICS_JSON = "metrics.json"
REPORT_HTML = "report.html"
#: The rate of input.wav (what Full-Duplex-Bench and NeMo feed models).
INPUT_SAMPLE_RATE = USER_SAMPLE_RATE
#: FDB v1 Sec. III: a speech segment shorter than this (and of fewer than two words) is a backchannel.
BACKCHANNEL_MAX_S = 1.0
#: Padding around a supervision when muting speech that belongs to another exchange.
MUTE_MARGIN_S = 0.02


@dataclass(frozen=True)
class Task:
    """One kind of case: its folder name (FDB's task name), its metrics.json key, FDB's label file."""

    name: str
    key: str
    fdb_file: str
    source: str
    expected: str
    #: Whether a higher take-over rate is the better behaviour.
    higher_tor_is_better: bool
    abbrev: str


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("smooth_turn_taking", "turn_taking", "turn_taking.json", "FDB v1 Sec. III-B.3",
         "take the turn soon after the user ends", True, "tt"),
    Task("user_interruption", "interruption", "interrupt.json", "FDB v1 Sec. III-B.4, v1.5 Eq. 1-2",
         "stop talking, then answer the interruption", True, "ui"),
    Task("pause_handling", "pause_handling", "pause.json", "FDB v1 Sec. III-B.1",
         "stay quiet while the user pauses inside a turn", False, "ph"),
    Task("user_backchannel", "backchannel", "metadata.json", "FDB v1.5 user backchannel",
         "keep talking over the user's backchannel", False, "bc"),
    Task("background_noise", "background_noise", "metadata.json", "FDB v1.5 background (non-speech noise)",
         "keep talking over background noise", False, "bn"),
)}


#: ``labels.json`` keys (times in seconds on input.wav's timeline).
LABEL_FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("schema", str, f"label schema version ({SCHEMA})"),
    Field("task", str, f"one of {tuple(TASKS)}"),
    Field("case_id", str, "the case folder's name"),
    Field("cut_id", str, "the conversation (cut id) the case was cut from"),
    Field("source", str, "the cut's source name"),
    Field("offset_s", float, "where input.wav starts in the conversation"),
    Field("duration_s", float, "length of input.wav (and of output.wav)"),
    Field("sample_rate", int, "rate of input.wav"),
    Field("original_sample_rate", int, "rate of the shards' user stream (input_<rate>.wav exists when it differs)"),
    Field("event", dict, "the scored event: start, end (a turn end has start == end)"),
    Field("turn_end", float, "end of the user turn that yields (turn-taking) or holds (pause) the floor", always=False),
    Field("user_turns", list, "user speech in input.wav: start, end, text, kind"),
    Field("reference", dict, "the reference agent: agent (start, end, text per turn), onset (first agent speech after "
                             "the event), stop (end of the agent turn under the event), latency (onset - event end)"),
    Field("pause_inserted_s", float, "length of the silence inserted into the user turn", always=False),
    Field("interruption", str, "phrase | next_turn", always=False),
    Field("context_text", str, "the user turn before the event (FDB v1.5 metadata)"),
    Field("current_turn_text", str, "the user speech of the event (FDB v1.5 metadata)"),
    Field("augmentations", list, "user-stream augmentations of the source cut (names)"),
    Field("backchannel_reference", list, "times a listener would backchannel, for FDB's JSD (none from duplexgen data)",
          always=False),
)}


def check_labels(labels: Any) -> list[str]:
    """Problems with a labels dict: wrong schema or task, missing or mistyped keys, an event outside the case."""
    if not isinstance(labels, dict):
        return [f"labels must be a JSON object, got {type(labels).__name__}"]
    problems = []
    if labels.get("schema") != SCHEMA:
        problems.append(f"schema is {labels.get('schema')!r}, expected {SCHEMA!r}")
    if labels.get("task") not in TASKS:
        problems.append(f"task is {labels.get('task')!r}, expected one of {tuple(TASKS)}")
    for f in LABEL_FIELDS.values():
        if f.name not in labels:
            if f.always:
                problems.append(f"missing key {f.name!r}")
            continue
        v = labels[f.name]
        if not (isinstance(v, f.type) or (f.type is float and isinstance(v, int) and not isinstance(v, bool))):
            problems.append(f"{f.name!r} is {type(v).__name__}, expected {f.type.__name__}")
    ev, dur = labels.get("event"), labels.get("duration_s")
    if isinstance(ev, dict) and isinstance(dur, (int, float)):
        s, e = ev.get("start"), ev.get("end")
        if not (isinstance(s, (int, float)) and isinstance(e, (int, float)) and 0 <= s <= e <= dur):
            problems.append(f"event {ev} is not inside the case (0 .. {dur} s)")
    return problems


def fdb_label(labels: dict[str, Any]) -> tuple[str, Any]:
    """Full-Duplex-Bench's own label file for a case (name, JSON content), as in its sample folders."""
    task, ev = TASKS[labels["task"]], labels["event"]
    if task.name == "smooth_turn_taking":
        onset = labels["reference"].get("onset")
        return task.fdb_file, [{"text": "[TURN-TAKING]", "timestamp": [ev["start"], onset if onset is not None else ev["end"]]}]
    if task.name == "pause_handling":
        return task.fdb_file, [{"text": "[PAUSE]", "timestamp": [ev["start"], ev["end"]]}]
    if task.name == "user_interruption":
        return task.fdb_file, [{"context": labels["context_text"], "interrupt": labels["current_turn_text"],
                                "timestamp": [ev["start"], ev["end"]]}]
    return task.fdb_file, {"context_text": labels["context_text"], "current_turn_text": labels["current_turn_text"],
                           "timestamps": [ev["start"], ev["end"]]}


# ----------------------------------------------------------------------------- folders


def case_dir(out_dir: Path, task: str, case_id: str) -> Path:
    return Path(out_dir) / task / case_id


def list_case_dirs(out_dir: Path) -> list[Path]:
    """Every ``<task>/<case>/`` folder under ``out_dir`` (complete or not: the scorer reports the broken ones)."""
    out = []
    for task in TASKS:
        root = Path(out_dir) / task
        if root.is_dir():
            out += sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return out


def read_labels(folder: Path) -> dict[str, Any]:
    """The labels of a case folder; ValueError naming the folder when missing or invalid."""
    path = Path(folder) / LABELS_JSON
    if not path.exists():
        raise ValueError(f"missing {LABELS_JSON}")
    try:
        labels = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{LABELS_JSON} is not valid JSON ({e})") from None
    problems = check_labels(labels)
    if problems:
        raise ValueError(f"{LABELS_JSON}: " + "; ".join(problems))
    return labels


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    _write_atomic(Path(path), (json.dumps(obj, indent=1) + "\n").encode())


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM mono WAV, written atomically (a crash never leaves half a file)."""
    from duplexgen.core.audio import wav_bytes

    _write_atomic(Path(path), wav_bytes(np.clip(np.asarray(audio, np.float32), -1.0, 1.0), sample_rate))


# ----------------------------------------------------------------------------- from a cut to cases


@dataclass
class CaseConfig:
    """How a cut's scripted events become evaluation cases."""

    tasks: list = help_field("tasks to export", list(TASKS))
    lead_s: float = help_field("audio kept before the case's first user turn, s", 0.3)
    tail_s: float = help_field("audio kept after the event (FDB appends 5 s / 15 s of silence), s", 3.0)
    answer_visible_s: float = help_field("the case runs at least this long past the reference answer's onset, s", 1.5)
    pause_min_s: float = help_field("shortest inserted pause (FDB v1 Candor pauses: 0.4-1.0 s), s", 0.4)
    pause_max_s: float = help_field("longest inserted pause, s", 1.0)
    pause_min_turn_s: float = help_field("user turns shorter than this get no pause case, s", 2.0)
    pause_min_words: int = help_field("user turns with fewer timed words get no pause case (>= 2 each side)", 4)
    max_cases_per_cut: int = help_field("at most this many cases of each task per conversation (0 = all)", 0)

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ValueError(f"cases.tasks: unknown {unknown or 'empty list'}; choose from {list(TASKS)}")
        for name in ("lead_s", "tail_s", "answer_visible_s", "pause_min_s", "pause_min_turn_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"cases.{name} must be >= 0, got {getattr(self, name)}")
        if self.pause_max_s < self.pause_min_s:
            raise ValueError(f"cases.pause_max_s ({self.pause_max_s}) must be >= pause_min_s ({self.pause_min_s})")
        if self.pause_min_words < 4:
            raise ValueError("cases.pause_min_words must be >= 4 (two words on each side of the pause)")
        if self.max_cases_per_cut < 0:
            raise ValueError("cases.max_cases_per_cut must be >= 0")


@dataclass
class CaseSpec:
    """One case, planned from a cut's metadata (conversation seconds); ``labels`` are in case seconds."""

    task: str
    case_id: str
    cut_id: str
    start: float
    end: float
    user_keep: list[tuple[float, float]]
    agent_keep: list[tuple[float, float]]
    #: (where, how long) a silence is inserted, conversation seconds (pause handling).
    insert: Optional[tuple[float, float]]
    labels: dict[str, Any] = field(default_factory=dict)


@dataclass
class CasePlan:
    cases: list[CaseSpec] = field(default_factory=list)
    #: Events that could not become a case, with the reason.
    skipped: list[dict[str, str]] = field(default_factory=list)


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), 4)


def _draw_pause(case_id: str, cfg: CaseConfig) -> float:
    """A pause length from the case id: the same case always gets the same pause."""
    u = (zlib.crc32(case_id.encode()) % 10007) / 10006
    return round(cfg.pause_min_s + u * (cfg.pause_max_s - cfg.pause_min_s), 3)


def plan_cases(cut: Any, cfg: Optional[CaseConfig] = None) -> CasePlan:
    """The cases of one cut, from its supervisions and ``custom`` (no audio decoding)."""
    cfg = cfg or CaseConfig()
    custom = getattr(cut, "custom", None) or {}
    sups = sorted(cut.supervisions, key=lambda s: (s.start, s.speaker))
    users = [s for s in sups if s.speaker == "user" and sup_kind(s) != "backchannel"]
    agents = [s for s in sups if s.speaker == "agent"]
    user_bcs = [s for s in sups if s.speaker == "user" and sup_kind(s) == "backchannel"]
    barge = custom.get("barge_in") or []
    augs = [a.get("name", "") for a in custom.get("augmentations") or [] if isinstance(a, dict)]
    plan = CasePlan()
    counts: dict[str, int] = {}

    def skip(task: str, where: float, reason: str) -> None:
        plan.skipped.append({"cut_id": cut.id, "task": task, "t": f"{where:.3f}", "reason": reason})

    def next_user_start(after: float) -> float:
        return min((u.start for u in users if u.start > after + 1e-6), default=math.inf)

    def agent_at(t: float):
        return next((a for a in agents if a.start - 1e-6 <= t <= a.end + 1e-6), None)

    def question_before(a) -> Optional[Any]:
        prev = [u for u in users if u.end <= a.start + 1e-6]
        return prev[-1] if prev else None

    def add(task: str, *, user_keep: list, agent_keep: list, event: tuple[float, float], first_user: float,
            reference: dict, extra: dict, insert: Optional[tuple[float, float]] = None, min_end: float = 0.0,
            context: str = "", current: str = "") -> None:
        k = counts.get(task, 0)
        if cfg.max_cases_per_cut and k >= cfg.max_cases_per_cut:
            return
        counts[task] = k + 1
        case_id = safe_id(f"{cut.id}.{TASKS[task].abbrev}{k:02d}")
        ins_len = insert[1] if insert else 0.0
        start = max(0.0, first_user - cfg.lead_s)
        end = max(event[1] + cfg.tail_s, min_end)  # on the conversation's timeline, before the insertion

        def t(x: Optional[float]) -> Optional[float]:
            if x is None:
                return None
            shifted = x - start + (ins_len if insert and x >= insert[0] - 1e-9 else 0.0)
            return _r(shifted)

        ref = {"agent": [{"start": t(a.start), "end": t(a.end), "text": a.text or ""} for a in reference["agent"]],
               "onset": t(reference.get("onset")), "stop": t(reference.get("stop"))}
        ref["latency"] = None if ref["onset"] is None else _r(ref["onset"] - t(event[1]))
        kept_users = [u for u in users + user_bcs if any(abs(u.start - s) < 1e-6 for s, _ in user_keep)]
        labels = {
            "schema": SCHEMA, "task": task, "case_id": case_id, "cut_id": cut.id, "source": str(custom.get("source", "")),
            "offset_s": _r(start), "duration_s": _r(end - start + ins_len), "sample_rate": INPUT_SAMPLE_RATE,
            "original_sample_rate": int(cut.recording.sampling_rate),
            "event": {"start": t(event[0]), "end": t(event[1])},
            "user_turns": [{"start": t(u.start), "end": t(u.end), "text": u.text or "", "kind": sup_kind(u)} for u in kept_users],
            "reference": ref, "context_text": context, "current_turn_text": current, "augmentations": augs, **extra,
        }
        if insert:
            # The pause itself: it starts where the silence was inserted.
            labels["event"] = {"start": _r(insert[0] - start), "end": _r(insert[0] - start + ins_len)}
            labels["pause_inserted_s"] = _r(ins_len)
        if "turn_end" in extra:
            labels["turn_end"] = t(extra["turn_end"])
        plan.cases.append(CaseSpec(task, case_id, cut.id, start, end, user_keep, agent_keep, insert, labels))

    tasks = set(cfg.tasks)
    cut_starts = [float(b["t_cut"]) for b in barge]
    for u in users:
        if sup_kind(u) != "turn" or any(abs(u.start - t) < 1e-3 for t in cut_starts) or agent_at(u.start + 1e-3):
            continue  # interrupting turns are interruption cases; a turn that starts over agent speech is no clean exchange
        nxt = next_user_start(u.start)
        answer = next((a for a in agents if u.start < a.start < nxt), None)
        if answer is None:
            continue
        if answer.start < u.end - 1e-6:
            skip("smooth_turn_taking", u.end, "overlapping transition: the reference answer starts before the user ends (FDB v1 keeps none)")
            continue
        ref = {"agent": [answer], "onset": answer.start, "stop": None}
        if "smooth_turn_taking" in tasks:
            if answer.duration < BACKCHANNEL_MAX_S:
                skip("smooth_turn_taking", u.end, f"reference answer lasts {answer.duration:.2f} s: shorter than a backchannel (FDB: < 1 s)")
            else:
                add("smooth_turn_taking", user_keep=[(u.start, u.end)], agent_keep=[(answer.start, answer.end)],
                    event=(u.end, u.end), first_user=u.start, reference=ref, extra={"turn_end": u.end},
                    min_end=answer.start + cfg.answer_visible_s, context="", current=u.text or "")
        if "pause_handling" in tasks:
            words = list((u.alignment or {}).get("word") or [])
            if u.duration < cfg.pause_min_turn_s or len(words) < cfg.pause_min_words:
                continue
            mid = u.start + u.duration / 2
            bounds = [w.start + w.duration for w in words[1:-2]]  # >= 2 words before and after
            at = min(bounds, key=lambda b: abs(b - mid))
            if not (u.start < at < u.end):
                skip("pause_handling", u.end, "word timings fall outside the turn")
                continue
            case_id = safe_id(f"{cut.id}.{TASKS['pause_handling'].abbrev}{counts.get('pause_handling', 0):02d}")
            add("pause_handling", user_keep=[(u.start, u.end)], agent_keep=[(answer.start, answer.end)],
                event=(at, u.end), first_user=u.start, reference=ref, extra={"turn_end": u.end},
                insert=(at, _draw_pause(case_id, cfg)), context="", current=u.text or "")

    if "user_interruption" in tasks:
        for b in barge:
            t_cut = float(b["t_cut"])
            ag = agent_at(t_cut)
            iu = next((u for u in users if abs(u.start - t_cut) < 1e-3), None)
            q = question_before(ag) if ag is not None else None
            if ag is None or iu is None or q is None:
                skip("user_interruption", t_cut, "no interrupted agent turn, interrupting user turn or question found")
                continue
            resp = next((a for a in agents if iu.end - 1e-6 <= a.start < next_user_start(iu.start)), None)
            agent_keep = [(ag.start, ag.end)] + ([(resp.start, resp.end)] if resp else [])
            ref = {"agent": [ag] + ([resp] if resp else []), "onset": resp.start if resp else None, "stop": ag.end}
            add("user_interruption", user_keep=[(q.start, q.end), (iu.start, iu.end)], agent_keep=agent_keep,
                event=(t_cut, iu.end), first_user=q.start, reference=ref,
                extra={"interruption": str(b.get("interruption", ""))},
                min_end=(resp.start + cfg.answer_visible_s) if resp else 0.0, context=q.text or "", current=iu.text or "")

    def overlap_cases(task: str, events: list[tuple[float, float, str, Optional[tuple]]]) -> None:
        user_speech = [(x.start, x.end) for x in users + user_bcs]
        for s, e, text, keep in events:
            ag = agent_at(s)
            q = question_before(ag) if ag is not None else None
            if ag is None or q is None:
                skip(task, s, "the event is not over an agent turn that answers a user turn")
                continue
            e = min(e, ag.end)
            if any(abs(t - ag.end + float(b.get("kept", 0.0))) < 1e-3 for b in barge for t in [float(b["t_cut"])]):
                skip(task, s, "its agent turn is interrupted: the agent must stop anyway")
                continue
            if keep is None and any(a < e and b > s for a, b in user_speech):
                skip(task, s, "the user speaks during the noise burst")
                continue
            user_keep = [(q.start, q.end)] + ([keep] if keep else [])
            add(task, user_keep=user_keep, agent_keep=[(ag.start, ag.end)], event=(s, e), first_user=q.start,
                reference={"agent": [ag], "onset": None, "stop": ag.end}, extra={}, context=q.text or "", current=text)

    if "user_backchannel" in tasks:
        recs = custom.get("backchannels") or []
        events = [(float(r["start"]), float(r["end"]), str(r.get("text", "")), (float(r["start"]), float(r["end"]))) for r in recs]
        if not recs:
            events = [(b.start, b.end, b.text or "", (b.start, b.end)) for b in user_bcs]
        overlap_cases("user_backchannel", events)
    if "background_noise" in tasks:
        events = []
        for rec in custom.get("augmentations") or []:
            if isinstance(rec, dict) and rec.get("name") == "noise":
                for a0, a1 in rec.get("noise_intervals") or []:
                    if agent_at(float(a0)) is not None:
                        events.append((float(a0), float(a1), "[NOISE]", None))
        overlap_cases("background_noise", events)
    return plan


# ----------------------------------------------------------------------------- case audio


@dataclass
class CaseAudio:
    input: np.ndarray              # INPUT_SAMPLE_RATE
    input_original: Optional[np.ndarray]
    original_rate: int
    output: Optional[np.ndarray]   # the reference agent stream (at ``output_rate``) or None
    output_rate: int


def _window(x: np.ndarray, sr: int, start: float, end: float, keep: Sequence[tuple[float, float]],
            mute: Sequence[tuple[float, float]], insert: Optional[tuple[float, float]]) -> np.ndarray:
    """``x[start:end]`` (zero-padded past the cut), speech in ``mute`` zeroed unless also in ``keep``, a silence inserted."""
    i0, n = int(round(start * sr)), int(round((end - start) * sr))
    out = np.zeros(n, np.float32)
    src = np.asarray(x[i0: i0 + n], np.float32)
    out[: len(src)] = src
    mask = np.ones(n, bool)
    for s, e in mute:
        mask[max(0, int(round((s - MUTE_MARGIN_S - start) * sr))): max(0, int(round((e + MUTE_MARGIN_S - start) * sr)))] = False
    for s, e in keep:
        mask[max(0, int(round((s - start) * sr))): max(0, int(round((e - start) * sr)))] = True
    out[~mask] = 0.0
    if insert:
        k = int(round((insert[0] - start) * sr))
        out = np.concatenate([out[:k], np.zeros(int(round(insert[1] * sr)), np.float32), out[k:]])
    return out


def case_audio(spec: CaseSpec, cut_user_spans: Sequence[tuple[float, float]], cut_agent_spans: Sequence[tuple[float, float]],
               user: np.ndarray, user_rate: int, agent: Optional[np.ndarray], agent_rate: int) -> CaseAudio:
    """The case's input (16 kHz, plus the original rate when it differs) and, given ``agent``, its reference output.

    ``cut_*_spans`` are every supervision of the cut per stream: those not kept by the case are muted."""
    from duplexgen.core.audio import resample

    u = _window(user, user_rate, spec.start, spec.end, spec.user_keep, cut_user_spans, spec.insert)
    inp = resample(u, user_rate, INPUT_SAMPLE_RATE)
    n_in = int(round(spec.labels["duration_s"] * INPUT_SAMPLE_RATE))
    inp = np.pad(inp, (0, max(0, n_in - len(inp))))[:n_in]
    out = None
    if agent is not None:
        # The reference keeps only the case's own agent turns: mute every agent span, keep those.
        a = _window(agent, agent_rate, spec.start, spec.end, spec.agent_keep, cut_agent_spans, spec.insert)
        n_out = int(round(spec.labels["duration_s"] * agent_rate))
        out = np.pad(a, (0, max(0, n_out - len(a))))[:n_out]
    original = None
    if user_rate != INPUT_SAMPLE_RATE:
        n_orig = int(round(spec.labels["duration_s"] * user_rate))
        original = np.pad(u, (0, max(0, n_orig - len(u))))[:n_orig]
    return CaseAudio(inp, original, user_rate, out, agent_rate)


def cut_case_audio(cut: Any, specs: Sequence[CaseSpec], reference: bool) -> Iterator[tuple[CaseSpec, CaseAudio]]:
    """Decode the cut's streams once and yield each planned case's audio."""
    user = cut.load_audio()[0].astype(np.float32)
    agent = cut.load_target_audio()[0].astype(np.float32) if reference else None
    agent_rate = int(cut.custom["target_audio"].sampling_rate) if reference else 0
    user_spans = [(s.start, s.end) for s in cut.supervisions if s.speaker == "user"]
    agent_spans = [(s.start, s.end) for s in cut.supervisions if s.speaker == "agent"]
    for spec in specs:
        yield spec, case_audio(spec, user_spans, agent_spans, user, int(cut.recording.sampling_rate), agent, agent_rate)


def write_case(out_dir: Path, spec: CaseSpec, audio: CaseAudio, write_output: bool) -> Path:
    """Write a case folder: input.wav (+ input_<rate>.wav), FDB's label file, output.wav (reference), labels.json last.

    A model's output.wav already in the folder is kept unless ``write_output`` (the reference) replaces it."""
    folder = case_dir(out_dir, spec.task, spec.case_id)
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / INPUT_WAV, audio.input, INPUT_SAMPLE_RATE)
    if audio.input_original is not None:
        write_wav(folder / f"input_{audio.original_rate}.wav", audio.input_original, audio.original_rate)
    name, content = fdb_label(spec.labels)
    write_json(folder / name, content)
    if write_output and audio.output is not None:
        write_wav(folder / OUTPUT_WAV, audio.output, audio.output_rate)
    write_json(folder / LABELS_JSON, spec.labels)  # last: a folder with labels.json is complete
    return folder


def export_cases(shard_root: Any, out_dir: str | Path, cfg: Optional[CaseConfig] = None, reference_output: bool = False,
                 max_conversations: int = 0, on_case: Optional[Callable[[CaseSpec, CaseAudio, Path], None]] = None,
                 progress: Optional[Callable[[int, int], None]] = None, created_by: str = "duplexgen export fdbench") -> dict[str, Any]:
    """Every case of every cut under ``shard_root`` written into ``out_dir``; ``on_case(spec, audio, folder)`` runs after
    each folder is written (``duplexgen eval`` runs its model there). Returns and saves the manifest."""
    import time

    from duplexgen.core.config import config_to_dict
    from duplexgen.core.shards import find_shard_dirs, iter_cuts

    cfg = cfg or CaseConfig()
    out_dir = Path(out_dir)
    dirs = find_shard_dirs(shard_root)
    if not dirs:
        raise FileNotFoundError(f"no Lhotse Shar shards (cuts.NNNNNN.jsonl.gz) under {shard_root}")
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    counts = {t: 0 for t in TASKS}
    cases, skipped, with_echo, n_cuts = [], [], [], 0
    for cut in iter_cuts(dirs):
        if max_conversations and n_cuts >= max_conversations:
            break
        n_cuts += 1
        plan = plan_cases(cut, cfg)
        skipped += plan.skipped
        if any(isinstance(a, dict) and a.get("name") == "echo" for a in (cut.custom or {}).get("augmentations") or []):
            with_echo.append(cut.id)
        for spec, audio in cut_case_audio(cut, plan.cases, reference=reference_output):
            folder = write_case(out_dir, spec, audio, write_output=reference_output)
            if on_case is not None:
                on_case(spec, audio, folder)
            counts[spec.task] += 1
            cases.append(f"{spec.task}/{spec.case_id}")
        if progress:
            progress(n_cuts, len(cases))
    warnings = []
    if with_echo:
        warnings.append(f"{len(with_echo)} conversation(s) have the agent's echo in the user stream (user_stream.echo): their "
                        f"input.wav carries the reference answer's timing; generate evaluation shards with user_stream.echo=false "
                        f"(e.g. {with_echo[0]})")
    reasons: dict[str, int] = {}
    for s in skipped:
        key = f"{s['task']}: {s['reason']}"
        reasons[key] = reasons.get(key, 0) + 1
    manifest = {
        "schema": SCHEMA, "created_by": created_by, "shards": str(shard_root), "conversations": n_cuts,
        "reference_output": reference_output, "config": config_to_dict(cfg), "tasks": counts, "cases": cases,
        "skipped": reasons, "skipped_events": skipped, "warnings": warnings, "elapsed_s": round(time.perf_counter() - t0, 2),
    }
    write_json(out_dir / MANIFEST_JSON, manifest)
    return manifest


__all__ = ["SCHEMA", "INPUT_WAV", "OUTPUT_WAV", "LABELS_JSON", "MANIFEST_JSON", "METRICS_JSON", "REPORT_HTML",
           "INPUT_SAMPLE_RATE", "BACKCHANNEL_MAX_S", "Task", "TASKS", "LABEL_FIELDS", "check_labels", "fdb_label",
           "case_dir", "list_case_dirs", "read_labels", "write_json", "write_wav", "CaseConfig", "CaseSpec", "CasePlan",
           "plan_cases", "CaseAudio", "case_audio", "cut_case_audio", "write_case", "export_cases"]
