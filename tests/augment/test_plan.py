"""The text-side plan: which agent turns get barge-ins and backchannels, what turns are added, gaps; config checks."""

from __future__ import annotations

import pytest

from duplexgen.augment import AugmentConfig, plan_conversation
from duplexgen.augment.config import BargeInConfig, GapConfig, UserStreamConfig
from duplexgen.core.records import AGENT, USER, Conversation, RejectError, Turn


def conv(n_pairs: int = 5, seed: int = 0) -> Conversation:
    turns = []
    for p in range(n_pairs):
        turns += [Turn(USER, f"Question number {p}?"), Turn(AGENT, f"Here is a long answer number {p} with many words in it.")]
    return Conversation(id="c", source="s", recipe="r", row_id="0", seed=seed, turns=turns)


def main_roles(c: Conversation) -> list[str]:
    return [t.role for t in c.turns if t.kind != "backchannel"]


def test_phrase_barge_in_inserts_interruption_and_followup_and_keeps_alternation():
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 1.0, "max_per_conversation": 3, "interruption": "phrase"},
                                   "backchannel": {"enabled": False}})
    c = conv(5)
    p = plan_conversation(c, cfg, seed=1)
    plan = p.meta["plan"]
    assert len(plan["barge_in"]) == 3  # the cap
    assert len(p.turns) == len(c.turns) + 2 * 3
    roles = main_roles(p)
    assert roles[0] == USER and all(a != b for a, b in zip(roles, roles[1:]))
    phrases = {tuple(x) for x in cfg.barge_in.phrases}
    for b in plan["barge_in"]:
        agent, user, follow = p.turns[b["agent_turn"]], p.turns[b["user_turn"]], p.turns[b["followup_turn"]]
        assert agent.role == AGENT and user.kind == "interruption" and follow.role == AGENT
        assert (user.text, follow.text) in phrases and b["user_turn"] == b["agent_turn"] + 1
        lo, hi = dict(zip(("early", "middle", "late"), cfg.barge_in.position_ranges))[b["position"]]
        assert lo <= b["frac"] <= hi
    assert len(plan["gaps"]) == len(p.turns) and all(g == 0.64 for g in plan["gaps"])
    # The input conversation is not modified; planning twice is a no-op.
    assert len(c.turns) == 10 and "plan" not in c.meta
    assert plan_conversation(p, cfg, seed=1).turns == p.turns


def test_next_turn_mode_adds_no_turns_and_never_targets_the_last_agent_turn():
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 1.0, "max_per_conversation": 10, "interruption": "next_turn"},
                                   "backchannel": {"enabled": False}})
    c = conv(4)
    p = plan_conversation(c, cfg, seed=2)
    assert [t.text for t in p.turns] == [t.text for t in c.turns]
    assert [b["agent_turn"] for b in p.meta["plan"]["barge_in"]] == [1, 3, 5]
    assert all(b["user_turn"] == b["agent_turn"] + 1 and b["followup_turn"] is None for b in p.meta["plan"]["barge_in"])
    # mixed falls back to a phrase for the last agent turn (it has no next user turn).
    mixed = AugmentConfig.from_dict({"barge_in": {"prob": 1.0, "max_per_conversation": 10, "phrase_prob": 0.0}})
    last = plan_conversation(c, mixed, seed=2).meta["plan"]["barge_in"][-1]
    assert last["interruption"] == "phrase" and last["agent_turn"] == 7


def test_position_weights_select_early_middle_late():
    for weights, pos in (([1, 0, 0], "early"), ([0, 1, 0], "middle"), ([0, 0, 1], "late")):
        cfg = AugmentConfig.from_dict({"barge_in": {"prob": 1.0, "max_per_conversation": 10, "position_weights": weights}})
        assert {b["position"] for b in plan_conversation(conv(6), cfg, seed=3).meta["plan"]["barge_in"]} == {pos}


def test_backchannels_are_overlays_after_their_agent_turn_and_probabilities_hold():
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 0.3}, "backchannel": {"prob": 0.5}})
    n_agent = n_bc = n_bi = 0
    for seed in range(60):
        p = plan_conversation(conv(5), cfg, seed)
        plan = p.meta["plan"]
        roles = main_roles(p)
        assert all(a != b for a, b in zip(roles, roles[1:]))
        for e in plan["backchannels"]:
            t = p.turns[e["turn"]]
            assert t.kind == "backchannel" and t.role == USER and t.text in cfg.backchannel.phrases
            assert e["agent_turn"] == e["turn"] - 1 and p.turns[e["agent_turn"]].role == AGENT
            assert plan["gaps"][e["turn"]] is None
        assert not {e["agent_turn"] for e in plan["backchannels"]} & {b["agent_turn"] for b in plan["barge_in"]}
        n_agent += 5
        n_bc += len(plan["backchannels"])
        n_bi += len(plan["barge_in"])
    assert 0.2 < n_bi / n_agent < 0.4  # p = 0.3 (cap 3 of 5 rarely binds)
    assert 0.25 < n_bc / (n_agent - n_bi) < 0.65  # p = 0.5 over the turns without a barge-in


def test_disabled_features_plan_nothing():
    cfg = AugmentConfig.from_dict({"barge_in": {"enabled": False}, "backchannel": {"enabled": False}})
    p = plan_conversation(conv(3), cfg, seed=0)
    assert p.meta["plan"]["barge_in"] == [] and p.meta["plan"]["backchannels"] == [] and len(p.turns) == 6


def test_bad_conversations_are_rejected():
    c = conv(2)
    c.turns = c.turns[1:]
    with pytest.raises(RejectError, match="start with the user"):
        plan_conversation(c)
    c = conv(2)
    c.turns = [c.turns[0], c.turns[0], c.turns[1]]
    with pytest.raises(RejectError, match="alternate"):
        plan_conversation(c)


@pytest.mark.parametrize(
    "build, key",
    [
        (lambda: BargeInConfig(prob=1.5), "augment.barge_in.prob"),
        (lambda: BargeInConfig(position_weights=[0, 0, 0]), "augment.barge_in.position_weights"),
        (lambda: BargeInConfig(interruption="shout"), "augment.barge_in.interruption"),
        (lambda: GapConfig(distribution="mixture", mixture=[[0.64, 0]]), "augment.gap.mixture"),
        (lambda: GapConfig(s=0.1), "augment.gap.s"),
        (lambda: UserStreamConfig(gain_db=[10, -10]), "augment.user_stream.gain_db"),
        (lambda: AugmentConfig.from_dict({"barge_in": {"probability": 0.2}}), "augment.barge_in: unknown key"),
    ],
)
def test_config_errors_name_the_key(build, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        build()
