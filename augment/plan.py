"""Plan a conversation's duplex augmentation on TEXT, before TTS.

Some augmentations need extra speech (a short interruption such as "Wait, stop." and the agent's
follow-up answer; a backchannel such as "Mm-hmm."), so they must be decided before rendering. The
plan is deterministic in ``seed`` and stored in ``conv.meta["plan"]``; ``assemble`` reads it after TTS.

Turn list after planning (``kind`` in parentheses; backchannels are overlays, not part of the
user/agent alternation, and sit right after the agent turn they overlap)::

    user(turn) agent(turn)  user(backchannel)  user(turn) agent(turn)  user(interruption) agent(turn) ...
               ^ backchannel over this one                ^ barge-in (phrase) over this one

``conv.meta["plan"]`` (indices are into the planned ``conv.turns``)::

    {"seed": 7,
     "gaps": [0.64, 0.64, None, ...],           # gap after each turn, None for backchannels
     "barge_in": [{"agent_turn": 4, "user_turn": 5, "interruption": "phrase",
                   "position": "middle", "frac": 0.48, "followup_turn": 6}],
     "backchannels": [{"turn": 2, "agent_turn": 1, "frac": 0.41}]}

With ``augment.timing`` natural or custom (``augment.timing``) the plan also holds ``"timing"`` (profile
and parameters); ``gaps`` are floor-transfer offsets, negative where the next turn starts before this one
ends (an overlap); a barge-in entry carries its drawn stop delay (``"kept"``) and its depth (``"frac"``);
a backchannel entry carries ``u_pick``/``u_pause`` (which phrase-end or pause slot, and where in it)
instead of ``frac``. ``paper`` plans are exactly as before.

With ``interruption="next_turn"`` the interrupting speech is the conversation's next user turn (a new
question from the same source) and no turns are added; the last agent turn has no next user turn, so
it can only be interrupted by a phrase (``mixed`` falls back to a phrase there, ``next_turn`` skips it).

Example::

    planned = plan_conversation(conv, AugmentConfig(), seed=conv.seed)
    [t.kind for t in planned.turns]   # e.g. ['turn', 'turn', 'interruption', 'turn', 'turn', 'turn']
"""

from __future__ import annotations

import copy
import zlib
from typing import Optional

import numpy as np

from duplexgen.augment.config import POSITIONS, AugmentConfig, GapConfig, TimingConfig
from duplexgen.augment.timing import depth_fraction, draw_offset, draw_stop_delay, profile_record, timing_params
from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn

PLAN_KEY = "plan"


def rng_for(seed: int, purpose: str, *extra: int) -> np.random.Generator:
    """An independent random stream per purpose, so enabling one augmentation never shifts another's draws."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(purpose.encode()), *[int(e) for e in extra]])


def draw_gap(cfg: GapConfig, rng: np.random.Generator) -> float:
    """One gap from the configured distribution, clipped to [min_s, max_s], rounded to 0.1 ms."""
    if cfg.distribution == "fixed":
        g = cfg.s
    elif cfg.distribution == "uniform":
        g = cfg.s + rng.uniform(-cfg.jitter_s, cfg.jitter_s)
    elif cfg.distribution == "normal":
        g = cfg.s + rng.normal(0.0, cfg.jitter_s)
    else:  # mixture
        w = np.array([m[1] for m in cfg.mixture], dtype=float)
        centre = cfg.mixture[int(rng.choice(len(w), p=w / w.sum()))][0]
        g = centre + (rng.uniform(-cfg.jitter_s, cfg.jitter_s) if cfg.jitter_s else 0.0)
    return round(float(min(max(g, cfg.min_s), cfg.max_s)), 4)


def draw_gaps(turns: list[Turn], cfg: GapConfig, seed: int) -> list[Optional[float]]:
    """The gap after each turn (``None`` for backchannels, which overlay and take no gap): the one gap draw."""
    rng = rng_for(seed, "gaps")
    return [None if t.kind == "backchannel" else draw_gap(cfg, rng) for t in turns]


def gap_distribution(cfg: GapConfig) -> dict:
    """How the gaps were drawn, for ``custom["gap_distribution"]``."""
    return {"distribution": cfg.distribution, "s": cfg.s, "jitter_s": cfg.jitter_s,
            **({"mixture": cfg.mixture} if cfg.distribution == "mixture" else {})}


def draw_turn_offsets(turns: list[Turn], p: TimingConfig, seed: int, trailing_s: float) -> list[Optional[float]]:
    """Natural/custom timing: a floor-transfer offset after each main turn (< 0: the next turn overlaps it),
    ``trailing_s`` after the last one (the agent learns to stop in silence), None for backchannels."""
    rng = rng_for(seed, "offsets")
    main = [k for k, t in enumerate(turns) if t.kind != "backchannel"]
    out: list[Optional[float]] = [None] * len(turns)
    for k in main[:-1]:
        out[k] = draw_offset(p, rng)
    if main:
        out[main[-1]] = trailing_s
    return out


def plan_gaps(turns: list[Turn], cfg: AugmentConfig, seed: int) -> dict:
    """The one gap draw: ``{"gaps", "gap_distribution"}`` (plus ``"timing"`` for natural/custom timing)."""
    p = timing_params(cfg)
    if p is None:
        return {"gaps": draw_gaps(turns, cfg.gap, seed), "gap_distribution": gap_distribution(cfg.gap)}
    return {"gaps": draw_turn_offsets(turns, p, seed, cfg.gap.s), "gap_distribution": {"distribution": cfg.timing},
            "timing": profile_record(cfg, p)}


def check_alternation(conv: Conversation, stage: str = "augment.plan") -> None:
    """Raise RejectError unless the (non-backchannel) turns start with the user and alternate."""
    main = [t for t in conv.turns if t.kind != "backchannel"]
    if not main:
        raise RejectError("conversation has no turns", code="plan.bad-turns", stage=stage, item=conv.id)
    if main[0].role != USER:
        raise RejectError(f"conversation must start with the user, got {main[0].role!r}; drop the leading agent turn", code="plan.bad-turns", stage=stage, item=conv.id)
    for a, b in zip(main, main[1:]):
        if a.role == b.role:
            raise RejectError(f"turns must alternate user/agent, found two {a.role!r} turns in a row; merge them", code="plan.bad-turns", stage=stage, item=conv.id)


def plan_conversation(conv: Conversation, cfg: Optional[AugmentConfig] = None, seed: Optional[int] = None) -> Conversation:
    """Decide barge-ins, interruption phrases, backchannels and gaps; return a new, planned Conversation.

    Idempotent: a conversation that already has a plan is returned (as a copy) unchanged."""
    cfg = cfg or AugmentConfig()
    seed = conv.seed if seed is None else seed
    out = copy.deepcopy(conv)
    if PLAN_KEY in out.meta:
        return out
    check_alternation(out)
    bi, bc = cfg.barge_in, cfg.backchannel
    tp = timing_params(cfg)  # None: the paper's fixed timing

    new_turns: list[Turn] = []
    barge_ins: list[dict] = []
    backchannels: list[dict] = []
    for i, turn in enumerate(out.turns):
        new_turns.append(turn)
        if turn.role != AGENT:
            continue
        # Draw everything for this agent turn up front so the draws do not depend on earlier outcomes.
        r = rng_for(seed, "barge_in", i)
        u_bi, u_pos, frac_u, u_mode, k_phrase = r.random(), r.random(), r.random(), r.random(), r.random()
        r = rng_for(seed, "backchannel", i)
        u_bc, frac_bc, k_bc = r.random(), r.random(), r.random()

        has_next_user = i + 1 < len(out.turns) and out.turns[i + 1].role == USER
        if bi.enabled and len(barge_ins) < bi.max_per_conversation and u_bi < bi.prob:
            if bi.interruption == "phrase":
                mode = "phrase"
            elif bi.interruption == "next_turn":
                mode = "next_turn" if has_next_user else None
            else:
                mode = "phrase" if (u_mode < bi.phrase_prob or not has_next_user) else "next_turn"
            if mode is not None:
                w = np.asarray(bi.position_weights, dtype=float)
                pos_i = int(np.searchsorted(np.cumsum(w / w.sum()), u_pos, side="right"))
                pos_i = min(pos_i, 2)
                lo, hi = bi.position_ranges[pos_i]
                entry = {
                    "agent_turn": len(new_turns) - 1,
                    "interruption": mode,
                    "position": POSITIONS[pos_i],
                    "frac": round(lo + (hi - lo) * frac_u, 4),
                }
                if tp is not None:  # natural depth and stop delay instead of the position bins and kept_s
                    entry["frac"] = depth_fraction(tp, frac_u)
                    entry["position"] = POSITIONS[min(int(entry["frac"] * 3), 2)]
                    entry["kept"] = draw_stop_delay(tp, rng_for(seed, "stop_delay", i))
                if mode == "phrase":
                    phrase, followup = bi.phrases[int(k_phrase * len(bi.phrases)) % len(bi.phrases)]
                    new_turns.append(Turn(role=USER, text=phrase, kind="interruption"))
                    entry["user_turn"] = len(new_turns) - 1
                    new_turns.append(Turn(role=AGENT, text=followup, kind="turn"))
                    entry["followup_turn"] = len(new_turns) - 1
                else:
                    entry["user_turn"] = len(new_turns)  # the next user turn, appended next
                    entry["followup_turn"] = None
                barge_ins.append(entry)
                continue
        if bc.enabled and u_bc < (bc.prob if tp is None else tp.backchannel_prob):
            lo, hi = bc.position_range
            text = bc.phrases[int(k_bc * len(bc.phrases)) % len(bc.phrases)]
            new_turns.append(Turn(role=USER, text=text, kind="backchannel"))
            if tp is None:
                backchannels.append({"turn": len(new_turns) - 1, "agent_turn": len(new_turns) - 2, "frac": round(lo + (hi - lo) * frac_bc, 4)})
            else:  # natural: which phrase-end/pause slot of the agent turn, and where in its silence (assemble)
                backchannels.append({"turn": len(new_turns) - 1, "agent_turn": len(new_turns) - 2, "u_pick": round(frac_bc, 6),
                                     "u_pause": round(float(rng_for(seed, "backchannel_pause", i).random()), 6)})

    out.turns = new_turns
    gaps = plan_gaps(new_turns, cfg, seed)
    out.meta[PLAN_KEY] = {
        "seed": int(seed),
        "gaps": gaps["gaps"],
        "gap_distribution": gaps["gap_distribution"],
        "barge_in": barge_ins,
        "backchannels": backchannels,
        **({"timing": gaps["timing"]} if "timing" in gaps else {}),
    }
    return out


__all__ = ["plan_conversation", "draw_gap", "draw_gaps", "draw_turn_offsets", "plan_gaps", "gap_distribution", "rng_for", "check_alternation", "PLAN_KEY"]
