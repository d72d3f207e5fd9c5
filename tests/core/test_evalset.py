"""Full-Duplex-Bench-style cases from a cut's scripted events: which cases, their timelines and audio, the files.

The conversations are tone "words" with known timings laid out by ``duplexgen.augment.assemble`` (barge-ins,
backchannels), so every label can be checked against the layout to the sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from duplexgen.core.evalset import (
    INPUT_SAMPLE_RATE,
    LABELS_JSON,
    SCHEMA,
    TASKS,
    CaseConfig,
    check_labels,
    cut_case_audio,
    export_cases,
    list_case_dirs,
    plan_cases,
    read_labels,
)
from duplexgen.core.timing import BARGE_IN_KEEP_S, GAP_S


def tone_cut(eval_tools, seed: int, user_words: int = 7, noise: bool = False):
    """A 3-exchange tone conversation with barge-ins and backchannels, with word alignments (for pause cases);
    ``noise``: bursts of background noise on the user stream."""
    from duplexgen.augment import AugmentConfig, assemble, plan_conversation
    from duplexgen.core.records import AGENT, USER, Conversation, Turn
    from duplexgen.pipeline.shards import assembled_to_cut

    stream = {"enabled": True, "noise_prob": 1.0, "noise_silent_stretch_prob": 1.0, "echo_reverb_prob": 0.0, "gain_prob": 0.0}
    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 0.6, "max_per_conversation": 2}, "backchannel": {"prob": 0.9},
                                   **({"user_stream": stream} if noise else {})})
    rng = np.random.default_rng(seed)
    turns = []
    for p in range(3):
        turns.append(Turn(USER, " ".join(f"q{p}w{k}" for k in range(user_words))))
        turns.append(Turn(AGENT, " ".join(f"a{p}w{k}" for k in range(14))))
    conv = plan_conversation(Conversation(f"tone-{seed}", "test", "test", str(seed), seed, turns), cfg, seed)
    rendered = [eval_tools.tone_turn(t, rng) for t in conv.turns]
    out = assemble(conv, rendered, cfg, seed)
    return assembled_to_cut(out, f"tone-{seed}", {"source": "test"}, {i: r.words for i, r in enumerate(rendered)})


def test_cases_of_a_cut_follow_its_scripted_events(eval_tools):
    cut = tone_cut(eval_tools, 1)
    plan = plan_cases(cut)
    by = {t: [c for c in plan.cases if c.task == t] for t in TASKS}
    barge, bcs = cut.custom["barge_in"], cut.custom["backchannels"]
    assert barge and bcs, "seed 1 must have a barge-in and a backchannel"
    assert len(by["user_interruption"]) == len(barge) and len(by["user_backchannel"]) == len(bcs)
    assert not by["background_noise"]  # no noise augmentation in this cut
    users = [s for s in cut.supervisions if s.speaker == "user" and (s.custom or {}).get("kind") != "backchannel"]
    interrupting = {round(b["t_cut"], 3) for b in barge}
    answered = [u for u in users if round(u.start, 3) not in interrupting and any(
        a.speaker == "agent" and a.start > u.end - 1e-6 for a in cut.supervisions)]
    assert len(by["smooth_turn_taking"]) == len(answered) >= 2
    assert len(by["pause_handling"]) == len(answered)
    for spec in plan.cases:
        assert check_labels(spec.labels) == [], spec.labels
        assert spec.labels["schema"] == SCHEMA and spec.labels["cut_id"] == cut.id
    # Turn-taking: the event is the user's end; the reference answers one gap later.
    for spec in by["smooth_turn_taking"]:
        lab = spec.labels
        assert lab["event"]["start"] == lab["event"]["end"] == lab["turn_end"]
        assert lab["reference"]["latency"] == pytest.approx(GAP_S, abs=1e-3)
        assert lab["duration_s"] >= lab["turn_end"] + CaseConfig().tail_s - 1e-6
    # Interruption: onset = t_cut on the case's timeline, the reference stops kept_s later and answers one gap after.
    for spec, b in zip(by["user_interruption"], barge):
        lab = spec.labels
        assert lab["event"]["start"] == pytest.approx(b["t_cut"] - lab["offset_s"], abs=1e-3)
        assert lab["reference"]["stop"] - lab["event"]["start"] == pytest.approx(BARGE_IN_KEEP_S, abs=1e-3)
        assert lab["reference"]["latency"] == pytest.approx(GAP_S, abs=1e-3)
        assert [u["kind"] for u in lab["user_turns"]] in (["turn", "interruption"], ["turn", "turn"])
    # Pause: a 0.4-1.0 s silence inside the turn; the turn end and the answer move by its length.
    for spec, tt in zip(by["pause_handling"], by["smooth_turn_taking"]):
        lab = spec.labels
        L = lab["pause_inserted_s"]
        assert 0.4 <= L <= 1.0 and lab["event"]["end"] - lab["event"]["start"] == pytest.approx(L, abs=1e-3)
        assert lab["turn_end"] == pytest.approx(tt.labels["turn_end"] + L, abs=1e-3)
        assert lab["user_turns"][0]["start"] < lab["event"]["start"] < lab["turn_end"]
    assert len({s.labels["pause_inserted_s"] for s in by["pause_handling"]}) > 1  # drawn per case
    assert [s.labels for s in plan_cases(cut).cases] == [s.labels for s in plan.cases]  # deterministic


def test_case_audio_is_the_window_with_other_exchanges_muted_and_the_pause_inserted(eval_tools):
    cut = tone_cut(eval_tools, 1)
    plan = plan_cases(cut)
    user_full = cut.load_audio()[0]
    for spec, audio in cut_case_audio(cut, plan.cases, reference=True):
        lab = spec.labels
        n = int(round(lab["duration_s"] * INPUT_SAMPLE_RATE))
        assert len(audio.input) == n and audio.input_original is None
        assert len(audio.output) == int(round(lab["duration_s"] * 22050))
        assert lab["offset_s"] == pytest.approx(spec.start, abs=1e-4)
        # The case's own user speech is the cut's audio, sample for sample (before any inserted pause).
        u0 = lab["user_turns"][0]
        i0, i1 = int(round(u0["start"] * INPUT_SAMPLE_RATE)), int(round(min(u0["end"], lab["event"]["start"]) * INPUT_SAMPLE_RATE))
        j0 = int(round(spec.start * INPUT_SAMPLE_RATE)) + i0
        np.testing.assert_allclose(audio.input[i0:i1], user_full[j0: j0 + i1 - i0], atol=1e-6)
        # Nothing but the case's user turns is audible in the input, nothing but its agent turns in the output.
        speech_in = np.zeros(n, bool)
        for u in lab["user_turns"]:
            speech_in[int(u["start"] * INPUT_SAMPLE_RATE): int(np.ceil(u["end"] * INPUT_SAMPLE_RATE))] = True
        assert not np.any(audio.input[~speech_in])
        speech_out = np.zeros(len(audio.output), bool)
        for a in lab["reference"]["agent"]:
            speech_out[int(a["start"] * 22050): int(np.ceil(a["end"] * 22050))] = True
        assert not np.any(audio.output[~speech_out]) and np.any(audio.output)
        if spec.task == "pause_handling":
            p0, p1 = lab["event"]["start"], lab["event"]["end"]
            assert not np.any(audio.input[int(p0 * INPUT_SAMPLE_RATE) + 1: int(p1 * INPUT_SAMPLE_RATE) - 1])
            assert np.any(audio.input[int(p1 * INPUT_SAMPLE_RATE): int((p1 + 0.3) * INPUT_SAMPLE_RATE)])  # the turn goes on


def test_export_writes_fdb_folders_and_a_manifest(eval_tools, tmp_path):
    root = eval_tools.write_eval_shard([tone_cut(eval_tools, s) for s in (1, 2)], tmp_path / "shards")
    out = tmp_path / "fdb"
    manifest = export_cases(root, out, reference_output=True)
    assert manifest["conversations"] == 2 and sum(manifest["tasks"].values()) == len(manifest["cases"]) > 6
    assert json.loads((out / "manifest.json").read_text())["tasks"] == manifest["tasks"]
    folders = list_case_dirs(out)
    assert [f"{f.parent.name}/{f.name}" for f in folders] == sorted(manifest["cases"], key=lambda c: (list(TASKS).index(c.split("/")[0]), c))
    for folder in folders:
        lab = read_labels(folder)
        info = sf.info(str(folder / "input.wav"))
        assert info.samplerate == INPUT_SAMPLE_RATE and info.channels == 1 and info.subtype == "PCM_16"
        assert info.frames == int(round(lab["duration_s"] * INPUT_SAMPLE_RATE))
        assert sf.info(str(folder / "output.wav")).duration == pytest.approx(info.duration, abs=1e-4)
        fdb = json.loads((folder / TASKS[lab["task"]].fdb_file).read_text())
        if lab["task"] == "pause_handling":
            assert fdb == [{"text": "[PAUSE]", "timestamp": [lab["event"]["start"], lab["event"]["end"]]}]
        elif lab["task"] == "user_interruption":
            assert fdb[0]["timestamp"] == [lab["event"]["start"], lab["event"]["end"]] and fdb[0]["interrupt"]
        elif lab["task"] == "smooth_turn_taking":
            assert fdb[0]["text"] == "[TURN-TAKING]" and fdb[0]["timestamp"][0] == lab["turn_end"]
        else:
            assert set(fdb) == {"context_text", "current_turn_text", "timestamps"}
    # A rerun without --reference-output keeps a model's output.wav and rewrites the rest identically.
    some = folders[0] / "output.wav"
    sf.write(str(some), np.zeros(sf.info(str(some)).frames, np.float32), 22050)
    labels_before = (folders[0] / LABELS_JSON).read_bytes()
    export_cases(root, out, reference_output=False)
    assert not np.any(sf.read(str(some))[0]) and (folders[0] / LABELS_JSON).read_bytes() == labels_before


def test_labels_are_checked():
    assert check_labels([]) == ["labels must be a JSON object, got list"]
    problems = check_labels({"schema": "x", "task": "dance", "event": {"start": 5.0, "end": 4.0}, "duration_s": 3.0})
    text = " | ".join(problems)
    assert "schema is 'x'" in text and "task is 'dance'" in text and "missing key 'case_id'" in text
    assert "event {'start': 5.0, 'end': 4.0} is not inside the case" in text
    with pytest.raises(ValueError, match="cases.tasks: unknown"):
        CaseConfig(tasks=["karaoke"])
    with pytest.raises(ValueError, match="pause_max_s"):
        CaseConfig(pause_min_s=1.0, pause_max_s=0.5)


def test_a_user_stream_at_another_rate_is_resampled_and_kept_as_is(eval_tools):
    """input.wav is always 16 kHz; a shard whose user stream has another rate keeps it too (input_<rate>.wav)."""
    from duplexgen.core.evalset import case_audio

    cut = tone_cut(eval_tools, 1)
    spec = next(c for c in plan_cases(cut).cases if c.task == "smooth_turn_taking")
    user16 = cut.load_audio()[0]
    from duplexgen.core.audio import resample

    user24 = resample(user16, 16000, 24000)
    spans = [(s.start, s.end) for s in cut.supervisions if s.speaker == "user"]
    a16 = case_audio(spec, spans, [], user16, 16000, None, 0)
    a24 = case_audio(spec, spans, [], user24, 24000, None, 0)
    assert a24.original_rate == 24000 and len(a24.input_original) == pytest.approx(spec.labels["duration_s"] * 24000, abs=1)
    assert len(a24.input) == len(a16.input) and a16.input_original is None and a24.output is None
    assert np.corrcoef(a24.input, a16.input)[0, 1] > 0.99  # the same speech, resampled back to 16 kHz


def test_noise_bursts_over_agent_turns_become_background_noise_cases(eval_tools):
    cut = tone_cut(eval_tools, 3, noise=True)
    rec = next(a for a in cut.custom["augmentations"] if a["name"] == "noise")
    agents = [s for s in cut.supervisions if s.speaker == "agent"]
    over_agent = [iv for iv in rec["noise_intervals"] if any(a.start <= iv[0] <= a.end for a in agents)]
    plan = plan_cases(cut)
    cases = [c for c in plan.cases if c.task == "background_noise"]
    skipped = [k for k in plan.skipped if k["task"] == "background_noise"]
    # Seed 3: one burst starts right after a barge-in (the agent must stop anyway: no case), one over clean agent speech.
    assert len(over_agent) == 2 and len(cases) == 1 and [k["reason"] for k in skipped] == [
        "its agent turn is interrupted: the agent must stop anyway"]
    over_agent = [iv for iv in over_agent if abs(iv[0] - float(skipped[0]["t"])) > 1e-3]
    for spec, (a0, a1) in zip(cases, over_agent):
        lab = spec.labels
        assert lab["event"]["start"] == pytest.approx(a0 - lab["offset_s"], abs=1e-3) and lab["current_turn_text"] == "[NOISE]"
        ref = lab["reference"]["agent"][0]
        assert ref["start"] <= lab["event"]["start"] and lab["event"]["end"] <= ref["end"] + 1e-3  # clipped to the agent turn
        assert lab["augmentations"] == ["noise"]
    # The noise stays in the input (only other exchanges' speech is muted).
    spec, audio = next(iter(cut_case_audio(cut, cases[:1], reference=False)))
    e0, e1 = spec.labels["event"]["start"], spec.labels["event"]["end"]
    assert np.sqrt(np.mean(audio.input[int(e0 * INPUT_SAMPLE_RATE): int(e1 * INPUT_SAMPLE_RATE)] ** 2)) > 1e-3
