"""Assemble a planned conversation's rendered turns into two streams, with barge-ins, backchannels and
user-stream augmentation; the AUDIO half of augmentation (``plan.plan_conversation`` is the TEXT half).

Steps, all deterministic in ``seed``:

1. Timeline over the alternating turns (backchannels excluded): each turn starts one gap after the
   previous one ends (gaps drawn by the plan); a user turn that barges in starts at ``t_cut`` instead.
2. Barge-in: the agent turn is cut on a word boundary (``bargein.choose_cut``), keeps ``kept_s`` of
   audio after ``t_cut`` (fade inside), and its supervision ends there with the words spoken so far.
   It is skipped (and recorded in ``barge_in_skipped``) when no word boundary fits or the shortened
   turn would break NeMo's EOS rule (``core.timing.eos_frame_ok``); a skipped phrase interruption drops
   its phrase and follow-up turns.
3. Backchannels are added to the user stream inside their agent turn, after a word; the agent
   stream is not touched.

With natural/custom timing (``augment.timing``, ``timing.py``) step 1 uses the plan's floor-transfer
offsets (negative = the next turn starts before this one ends: an overlap that keeps BOTH whole turns;
only ``barge_in`` entries cut an agent turn), moved later where needed so a turn is heard alone for
``min_solo_s`` and one channel never overlaps itself (each move is listed in ``timing.clamped``); a
barge-in keeps its drawn stop delay; a backchannel starts in the silence after an agent phrase end or
pause, never inside a word.
4. Both streams end one trailing gap after the last speech, rounded up to 20 ms so they have the
   same duration to the sample; then the user stream gets its realism (``user_stream``).

``custom`` records it all: ``gaps``, ``gap_distribution``, ``barge_in``, ``barge_in_skipped``,
``backchannels``, ``backchannels_skipped``, ``augmentations``, ``augment_seed`` (and ``timing`` for the
natural/custom profiles; its absence means the paper's timing). Turn indices
(``agent_turn``, ``user_turn``, ``turn``) are indices into ``conv.turns`` and equal
``Segment.turn_index``.

Example::

    planned = plan_conversation(conv, cfg, seed)
    rendered = [tts.render(t) for t in planned.turns]          # one RenderedTurn per turn
    out = assemble(planned, rendered, cfg, seed)
    out.custom["barge_in"]   # [{"agent_turn": 3, "t_cut": 7.41, "kept": 0.64, ...}]
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from duplexgen.augment.bargein import choose_cut, spoken_text, truncate_with_fade, words_spoken_by
from duplexgen.core.words import word_symbols
from duplexgen.augment.config import AugmentConfig
from duplexgen.core.timing import eos_frame_ok, estimate_tokens
from duplexgen.augment.layout import place, round_up_to_grid, to_samples
from duplexgen.core.records import Segment, TwoStreamCut
from duplexgen.augment.plan import PLAN_KEY, check_alternation, plan_gaps
from duplexgen.augment.timing import backchannel_slots, clip_slots, params_from_record, pick_in_slots
from duplexgen.augment.config import TimingConfig
from duplexgen.augment.user_stream import NoiseProvider, augment_user_stream
from duplexgen.core.records import AGENT, USER, Conversation, RejectError, RenderedTurn
from duplexgen.core.timing import AGENT_SAMPLE_RATE, USER_SAMPLE_RATE

STAGE = "augment.assemble"


def _check_inputs(conv: Conversation, turns: Sequence[RenderedTurn]) -> None:
    if len(turns) != len(conv.turns):
        raise RejectError(f"got {len(turns)} rendered turns for {len(conv.turns)} text turns; render every turn", code="assemble.mismatch", stage=STAGE, item=conv.id)
    check_alternation(conv, STAGE)
    for i, (t, r) in enumerate(zip(conv.turns, turns)):
        if t.role != r.role:
            raise RejectError(f"turn {i}: rendered role {r.role!r} != text role {t.role!r}", code="assemble.mismatch", stage=STAGE, item=conv.id)
        expected = USER_SAMPLE_RATE if r.role == USER else AGENT_SAMPLE_RATE
        if r.sample_rate != expected:
            raise RejectError(f"turn {i}: {r.role} audio at {r.sample_rate} Hz, expected {expected} Hz; resample it", code="assemble.mismatch", stage=STAGE, item=conv.id)
        if len(r.audio) == 0:
            raise RejectError(f"turn {i}: empty audio; the TTS produced nothing for {r.text[:40]!r}", code="assemble.mismatch", stage=STAGE, item=conv.id)


def _default_plan(conv: Conversation, cfg: AugmentConfig, seed: int) -> dict[str, Any]:
    """An unplanned conversation: gaps only (no barge-ins, no backchannels)."""
    gaps = plan_gaps(list(conv.turns), cfg, seed)
    return {"seed": seed, "barge_in": [], "backchannels": [], **gaps}


def assemble(
    conv: Conversation,
    turns: Sequence[RenderedTurn],
    cfg: Optional[AugmentConfig] = None,
    seed: Optional[int] = None,
    noise_provider: Optional[NoiseProvider] = None,
    count_tokens: Optional[Callable[[str], int]] = None,
) -> TwoStreamCut:
    """Lay out ``turns[i]`` (the audio of ``conv.turns[i]``) as two streams and apply the planned augmentation.

    ``count_tokens`` (the pipeline builds it from ``cfg.tokenizer``; else ``core.timing.estimate_tokens``) is the training
    tokenizer's token count, used to check NeMo's EOS rule for shortened agent turns."""
    cfg = cfg or AugmentConfig()
    seed = conv.seed if seed is None else int(seed)
    count = count_tokens or estimate_tokens
    _check_inputs(conv, turns)
    plan = conv.meta.get(PLAN_KEY) or _default_plan(conv, cfg, seed)
    gaps = plan["gaps"]
    if len(gaps) != len(conv.turns):
        raise RejectError(f"plan has {len(gaps)} gaps for {len(conv.turns)} turns; re-plan the conversation", code="assemble.mismatch", stage=STAGE, item=conv.id)
    bi = cfg.barge_in
    sr_u, sr_a = USER_SAMPLE_RATE, AGENT_SAMPLE_RATE
    barge_plan = {e["agent_turn"]: e for e in plan.get("barge_in", [])} if bi.enabled else {}
    main = [i for i, t in enumerate(conv.turns) if t.kind != "backchannel"]

    # 1-2. Timeline of the alternating turns, with barge-in cuts.
    placed: dict[int, dict[str, Any]] = {}  # turn index -> start, audio, end, text
    dropped: set[int] = set()
    barge_in, barge_skipped, gap_log = [], [], []
    t_next = 0.0  # where the next turn starts (end of the previous turn + its gap)
    user_start_override: Optional[float] = None
    last_agent_end = -np.inf
    tp = params_from_record(plan["timing"]) if plan.get("timing") else None  # None: the paper's timing
    last_end = {USER: -np.inf, AGENT: -np.inf}
    prev_start: Optional[float] = None
    clamped: list[dict[str, Any]] = []
    for pos, i in enumerate(main):
        if i in dropped:
            continue
        turn, r = conv.turns[i], turns[i]
        start = t_next
        if turn.role == USER and user_start_override is not None:
            start, user_start_override = user_start_override, None
        elif tp is not None:
            # An overlap leaves the previous turn heard alone for min_solo_s (and the first agent BOS off
            # frame 0); one speaker's turns are min_solo_s apart (never overlapping on a channel, EOS and BOS
            # frames apart, and a VAD does not read them as one turn with a pause).
            planned = start
            if prev_start is not None:
                start = max(start, prev_start + tp.min_solo_s)
            start = max(start, last_end[turn.role] + _same_speaker_gap(cfg, tp))
            if start != planned:
                clamped.append({"turn": i, "planned_start": round(planned, 6), "start": round(start, 6)})
        elif turn.role == AGENT:
            # After a barge-in the agent's previous (cut) audio must be over before it answers.
            start = max(start, last_agent_end + cfg.gap.min_s)
        audio, text, end = r.audio.astype(np.float32, copy=False), r.text, start + r.duration
        n_words: Optional[int] = None  # all of the turn's words
        gap = gaps[i]
        entry = barge_plan.get(i) if turn.role == AGENT else None
        if entry is not None:
            following = [j for j in main[pos + 1 :] if j not in dropped]
            result = _cut(conv, i, r, start, entry, following[0] if following else None, cfg, count,
                          not_before=None if tp is None else last_end[USER] + _same_speaker_gap(cfg, tp))
            if isinstance(result, str):
                barge_skipped.append({"agent_turn": i, "reason": result})
                if entry.get("interruption") == "phrase":
                    dropped.update(j for j in (entry.get("user_turn"), entry.get("followup_turn")) if j is not None)
            else:
                audio, text, end = result["audio"], result["text"], result["end"]
                n_words = result["record"]["words_kept"]
                user_start_override = result["t_cut"]
                gap = None  # the next user turn overlaps instead of following a gap
                barge_in.append(result["record"])
        placed[i] = {"start": start, "audio": audio, "text": text, "end": end, "n_words": n_words}
        if turn.role == AGENT:
            last_agent_end = end
        last_end[turn.role], prev_start = end, start
        gap_log.append({"after_turn": i, "gap": gap})
        t_next = end + (gap if gap is not None else 0.0)

    if tp is not None:  # record the realised offsets (clamps moved some starts); None stays where a barge-in cut in
        for g, nxt in zip(gap_log, gap_log[1:]):
            if g["gap"] is not None:
                g["gap"] = round(placed[nxt["after_turn"]]["start"] - placed[g["after_turn"]]["end"], 6)
        # The paper's trailing silence after the last laid-out turn, also when a skipped phrase barge-in dropped the
        # turns planned after it (the offset drawn for this turn was meant for a next turn that is gone).
        if gap_log and gap_log[-1]["gap"] is not None:
            gap_log[-1]["gap"] = cfg.gap.s

    # 3. Backchannels over (uncut) agent turns, on the user stream only.
    backchannels, bc_skipped = [], []
    for e in plan.get("backchannels", []) if cfg.backchannel.enabled else []:
        k, j = e["turn"], e["agent_turn"]
        if tp is not None:
            res = _place_backchannel_natural(turns[k], turns[j], placed.get(j), e, tp, cfg, placed, conv,
                                             cut=any(b["agent_turn"] == j for b in barge_in))
            if isinstance(res, str):
                bc_skipped.append({"turn": k, "agent_turn": j, "reason": res})
            else:
                start = res["start"]
                placed[k] = {"start": start, "audio": turns[k].audio.astype(np.float32, copy=False), "text": turns[k].text,
                             "end": start + turns[k].duration}
                backchannels.append({"turn": k, "agent_turn": j, "text": turns[k].text, "start": start,
                                     "end": start + turns[k].duration, "frac": res["frac"], "after_word_end": res["word_end"]})
            continue
        res = _place_backchannel(turns[k], turns[j], placed.get(j), e["frac"], cfg.backchannel.margin_s,
                                 cut=any(b["agent_turn"] == j for b in barge_in))
        if isinstance(res, str):
            bc_skipped.append({"turn": k, "agent_turn": j, "reason": res})
        else:
            placed[k] = {"start": res, "audio": turns[k].audio.astype(np.float32, copy=False), "text": turns[k].text, "end": res + turns[k].duration}
            backchannels.append({"turn": k, "agent_turn": j, "text": turns[k].text, "start": res,
                                 "end": res + turns[k].duration, "frac": e["frac"]})

    # 4. Streams: one trailing gap after the last speech, on the 20 ms grid both rates share.
    last_main = [g for g in gap_log if g["gap"] is not None][-1] if gap_log else None
    trailing = last_main["gap"] if last_main else cfg.gap.s
    last_end = max(p["end"] for p in placed.values())
    total = round_up_to_grid(last_end + trailing)
    user = np.zeros(to_samples(total, sr_u), dtype=np.float32)
    agent = np.zeros(to_samples(total, sr_a), dtype=np.float32)
    segments = []
    for i in sorted(placed, key=lambda i: (placed[i]["start"], i)):
        p, t, r = placed[i], conv.turns[i], turns[i]
        stream, sr = (user, sr_u) if t.role == USER else (agent, sr_a)
        place(stream, p["audio"], p["start"], sr)
        segments.append(Segment(speaker=t.role, start=p["start"], duration=p["end"] - p["start"], text=p["text"],
                                turn_index=i, kind=t.kind, voice=r.voice, n_words=p.get("n_words"),
                                timing_source=r.timing_source))

    user_speech = [placed[i]["audio"] for i in placed if conv.turns[i].role == USER and conv.turns[i].kind != "backchannel"]
    ref_rms = float(np.sqrt(np.mean(np.square(np.concatenate(user_speech), dtype=np.float64)))) if user_speech else 0.0
    user, aug_records = augment_user_stream(user, agent, sr_u, sr_a, ref_rms, cfg.user_stream, seed, noise_provider)

    custom = {
        "augment_seed": seed,
        "gaps": [g["gap"] for g in gap_log],
        "gap_turns": [g["after_turn"] for g in gap_log],
        "trailing_gap": round(total - last_end, 6),
        "gap_distribution": plan.get("gap_distribution", {}),
        "barge_in": barge_in,
        "barge_in_skipped": barge_skipped,
        "backchannels": backchannels,
        "backchannels_skipped": bc_skipped,
        "dropped_turns": sorted(dropped),
        "augmentations": aug_records,
    }
    if tp is not None:
        custom["timing"] = {**plan["timing"], "clamped": clamped}
    return TwoStreamCut(user, agent, segments, custom, sr_u, sr_a)


def _cut(conv: Conversation, i: int, r: RenderedTurn, start: float, entry: dict, next_main: Optional[int],
         cfg: AugmentConfig, count: Callable[[str], int], not_before: Optional[float] = None) -> dict[str, Any] | str:
    """Cut agent turn ``i`` (placed at ``start``) for a barge-in; a reason string when it cannot be cut.

    ``entry["kept"]`` (natural timing: the drawn stop delay) replaces ``barge_in.kept_s``; ``not_before`` is the
    earliest cut on the timeline (natural timing: the user's previous turn must be over before the user barges in)."""
    bi, sr = cfg.barge_in, r.sample_rate
    kept_s = float(entry.get("kept", bi.kept_s))
    min_cut_s = bi.min_cut_s if not_before is None else max(bi.min_cut_s, not_before - start)
    if next_main is None or next_main != entry.get("user_turn") or conv.turns[next_main].role != USER:
        return "the planned interrupting user turn does not follow this agent turn"
    if not r.words:
        return f"no word timings for the agent turn (timing_source={r.timing_source!r})"
    if r.timing_source == "estimate":
        return "word boundaries are estimated, not measured (timing_source='estimate'): a cut could split a word"
    if [w.text for w in r.words] != word_symbols(r.text):
        return "the turn's word timings do not spell its text, so the kept text could not be an exact prefix"
    cut = choose_cut(r.words, r.duration, float(entry["frac"]), kept_s, sr, min_cut_s)
    if cut is None:
        return "no word boundary leaves kept_s after a cut inside the turn"
    start_sample = to_samples(start, sr)
    end = (start_sample + cut.keep_samples) / sr
    t_cut = end - to_samples(kept_s, sr) / sr
    text = spoken_text(r.text, cut.n_words)
    n_tokens = int(count(text))
    if not eos_frame_ok(start, end, n_tokens):
        return f"truncated turn too short for its {n_tokens} tokens (NeMo EOS rule)"
    audio = truncate_with_fade(r.audio, cut.keep_samples, int(round(bi.fade_ms / 1000 * sr)))
    record = {
        "agent_turn": i,
        "user_turn": entry["user_turn"],
        "t_cut": t_cut,
        "kept": kept_s,
        "end": end,
        "fade_ms": bi.fade_ms,
        "interruption": entry["interruption"],
        "position": entry["position"],
        "frac": entry["frac"],
        "words_kept": cut.n_words,
        "words_total": len(r.words),
        "n_tokens": n_tokens,
        "full_text": r.text,
        "spoken_text": text,
    }
    if entry.get("followup_turn") is not None:
        record["followup_turn"] = entry["followup_turn"]
    if "kept" in entry:  # natural/custom timing: how deep into the agent turn the user came in
        record["depth_s"] = round(t_cut - start, 6)
    return {"audio": audio, "text": text, "end": end, "t_cut": t_cut, "record": record}


def _place_backchannel(bc: RenderedTurn, ag: RenderedTurn, agent_placed: Optional[dict], frac: float, margin: float, cut: bool) -> float | str:
    """Start time of a backchannel inside its agent turn (just after a word), or a reason string."""
    if agent_placed is None:
        return "its agent turn was not laid out"
    if cut:
        return "its agent turn was interrupted"
    a0 = agent_placed["start"]
    lo, hi = a0 + margin, a0 + ag.duration - margin - bc.duration
    if hi < lo:
        return f"agent turn ({ag.duration:.2f} s) too short for a {bc.duration:.2f} s backchannel"
    desired = a0 + frac * ag.duration
    candidates = [a0 + w.end for w in words_spoken_by(ag.words, ag.duration) if lo <= a0 + w.end <= hi]
    if candidates:
        return min(candidates, key=lambda t: abs(t - desired))
    return min(max(desired, lo), hi)


def _same_speaker_gap(cfg: AugmentConfig, tp: TimingConfig) -> float:
    """Natural timing: the least silence between two stretches of one speaker's channel."""
    return max(cfg.gap.min_s, tp.min_solo_s)


def _place_backchannel_natural(bc: RenderedTurn, ag: RenderedTurn, agent_placed: Optional[dict], entry: dict, tp: TimingConfig,
                               cfg: AugmentConfig, placed: dict[int, dict], conv: Conversation, cut: bool) -> dict[str, float] | str:
    """Natural timing: a backchannel starts in the silence after an agent phrase end or pause (``timing.backchannel_slots``,
    never inside a word) while the user's own channel is free; a reason string when no slot fits."""
    if agent_placed is None:
        return "its agent turn was not laid out"
    if cut:
        return "its agent turn was interrupted"
    if not ag.words:
        return f"no word timings for the agent turn (timing_source={ag.timing_source!r})"
    a0, gap = agent_placed["start"], _same_speaker_gap(cfg, tp)
    slots = [(a0 + a, a0 + b) for a, b in backchannel_slots(ag.words, ag.duration, bc.duration, tp, cfg.backchannel.margin_s)]
    users = [(p["start"], p["end"]) for k, p in placed.items() if conv.turns[k].role == USER and conv.turns[k].kind != "backchannel"]
    free_from = max([e + gap for s, e in users if s <= a0] or [0.0])
    free_until = min([s - gap - bc.duration for s, _ in users if s > a0] or [np.inf])
    start = pick_in_slots(clip_slots(slots, free_from, free_until), entry["u_pick"], entry["u_pause"])
    if start is None:
        return "no phrase end or pause of the agent turn leaves room for the backchannel"
    word_end = max(a0 + w.end for w in ag.words if a0 + w.end <= start + 1e-9)
    return {"start": start, "frac": round((start - a0) / ag.duration, 4), "word_end": round(word_end, 6)}


__all__ = ["assemble"]
