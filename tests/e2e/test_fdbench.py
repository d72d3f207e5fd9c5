"""`duplexgen export fdbench` + `duplexgen score` end to end on real espeak speech scored with Silero-VAD.

Three short conversations (espeak-ng, barge-ins, backchannels) become Full-Duplex-Bench-style cases. The
shards' own agent stream (``--reference-output``) must score like the data was built; silence must never
take a turn; an agent that never stops must never succeed at an interruption; broken case folders are
reported by name and skipped."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from duplexgen.core.timing import BARGE_IN_KEEP_S, FRAME_S, GAP_S
from duplexgen.pipeline.cli import main

CONVERSATIONS = [
    ["What are the three primary colors in painting?",
     "The three primary colors are red, yellow and blue. Mixing two of them gives you a secondary color, for example "
     "red and yellow make orange, and blue and yellow make green.",
     "And what happens when you mix all three together?",
     "Mixing all three primary colors gives a dark brown or nearly black color, because each pigment absorbs part of "
     "the light that the others reflect, so very little light comes back to your eyes."],
    ["Can you tell me how to keep a small garden healthy?",
     "Water the plants early in the morning, pull the weeds every week, and add some compost to the soil in spring. "
     "Most vegetables also need at least six hours of sunlight every single day.",
     "Which vegetables are the easiest ones for a beginner?",
     "Lettuce, radishes and green beans are very forgiving. They grow quickly, they do not need much care, and you can "
     "harvest them only a few weeks after planting the seeds."],
    ["How long should I boil an egg for breakfast?",
     "For a soft egg with a runny yolk, boil it for about six minutes. For a firm yolk, leave it in the water for nine "
     "or ten minutes, then cool it in cold water so that it peels easily.",
     "Is it better to start with cold water or boiling water?",
     "Starting with boiling water gives more predictable timing, because the egg always begins cooking at the same "
     "temperature, while cold water depends on how fast your stove heats up."],
]


@pytest.fixture(scope="module")
def espeak_set(tmp_path_factory):
    """Three espeak conversations as a shard folder, plus the full (uncut) rendered agent turns per cut."""
    import duplexgen.tts.espeak as espeak
    import duplexgen.tts.render as render_mod
    from duplexgen.augment import AugmentConfig, assemble, plan_conversation
    from duplexgen.core.records import AGENT, USER, Conversation, Turn
    from duplexgen.pipeline.shards import assembled_to_cut, write_shard
    from duplexgen.tts.base import Voice

    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 0.5, "max_per_conversation": 1, "interruption": "mixed"},
                                   "backchannel": {"prob": 0.7}})
    renderer = render_mod.Renderer(espeak.EspeakBackend())
    voices = {USER: Voice.make("en-us+f2", "espeak"), AGENT: Voice.make("en-us+m3", "espeak")}
    cuts, full_turns = [], {}
    for k, texts in enumerate(CONVERSATIONS):
        seed = 100 + k
        turns = [Turn(USER if i % 2 == 0 else AGENT, t) for i, t in enumerate(texts)]
        conv = plan_conversation(Conversation(f"fdb-{k}", "test", "test", str(k), seed, turns), cfg, seed)
        rendered = [renderer.render(t.text, voices[t.role], t.role, kind=t.kind) for t in conv.turns]
        out = assemble(conv, rendered, cfg, seed)
        cuts.append(assembled_to_cut(out, f"fdb-{k}", {"source": "test"}, {i: r.words for i, r in enumerate(rendered)}))
        full_turns[f"fdb-{k}"] = {b["agent_turn"]: rendered[b["agent_turn"]].audio for b in out.custom["barge_in"]}
    root = tmp_path_factory.mktemp("fdb_shards")
    write_shard(cuts, root / "test", 0, root / ".staging")
    assert sum(len(c.custom["barge_in"]) for c in cuts) >= 2 and sum(len(c.custom["backchannels"]) for c in cuts) >= 2
    return root, cuts, full_turns


@pytest.fixture(scope="module")
def reference(espeak_set, tmp_path_factory):
    root, _, _ = espeak_set
    out = tmp_path_factory.mktemp("fdb") / "ref"
    assert main(["export", "fdbench", str(root), str(out), "--reference-output"]) == 0
    assert main(["score", str(out)]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def cases_of(out, task):
    return sorted(p for p in (out / task).iterdir() if p.is_dir())


def copy_cases(src, dst, tasks=None, ignore=("*.png", "report.html", "metrics.json")):
    """Copy the case folders (of ``tasks``, default all) to ``dst``."""
    for task_dir in src.iterdir():
        if task_dir.is_dir() and (tasks is None or task_dir.name in tasks):
            shutil.copytree(task_dir, dst / task_dir.name, ignore=shutil.ignore_patterns(*ignore))


def rescore(src, dst, rewrite, *overrides, tasks=None) -> dict:
    """Copy the case folders, let ``rewrite(folder, labels, n_out, sr)`` replace each output.wav, score the copy."""
    copy_cases(src, dst, tasks)
    for task_dir in dst.iterdir():
        if task_dir.is_dir():
            for folder in task_dir.iterdir():
                labels = json.loads((folder / "labels.json").read_text())
                info = sf.info(str(folder / "output.wav"))
                audio = rewrite(folder, labels, info.frames, info.samplerate)
                if audio is not None:
                    sf.write(str(folder / "output.wav"), audio, info.samplerate)
    assert main(["score", str(dst), "examples=0", *overrides]) == 0
    return json.loads((dst / "metrics.json").read_text())


def test_reference_output_scores_as_the_data_was_built(reference):
    out, m = reference
    counts = m["cases"]["by_task"]
    assert counts["smooth_turn_taking"]["cases"] >= 5 and counts["user_interruption"]["cases"] >= 2
    assert counts["pause_handling"]["cases"] >= 4 and counts["user_backchannel"]["cases"] >= 2
    assert m["cases"]["bad"] == 0 and m["cases"]["scored"] == m["cases"]["total"]
    tt, ui, ph, bc = m["turn_taking"], m["interruption"], m["pause_handling"], m["backchannel"]
    # The checks: take the turn after ~one gap, yield to every interruption, never to a pause or backchannel.
    assert tt["tor"] >= 0.95 and abs(tt["latency_mean_s"] - GAP_S) <= FRAME_S, tt
    assert ui["tor"] >= 0.95 and ui["success_rate"] >= 0.95, ui
    assert abs(ui["latency_mean_s"] - GAP_S) <= FRAME_S, ui
    # The agent keeps 0.64 s after the onset; Silero reports espeak speech ends late by up to ~0.1 s (measured on
    # the demo: end error median +0.044 s, max +0.102 s), so the measured stop latency reads a little long.
    assert BARGE_IN_KEEP_S - 0.02 <= ui["stop_latency_mean_s"] <= BARGE_IN_KEEP_S + 0.12, ui
    assert ph["tor"] <= 0.05 and bc["tor"] is not None and bc["tor"] <= 0.05, (ph, bc)
    # Files: FDB's own label files next to ours, a report with tables, histograms and playable cases.
    case = cases_of(out, "user_interruption")[0]
    assert json.loads((case / "interrupt.json").read_text())[0]["timestamp"][0] == json.loads((case / "labels.json").read_text())["event"]["start"]
    html = (out / "report.html").read_text()
    assert "latency.png" in html and "<audio controls" in html and "user_interruption/" in html
    assert (out / "latency.png").stat().st_size > 5000 and list(out.glob("example_smooth_turn_taking_*.png"))


def test_silence_never_takes_a_turn(reference, tmp_path):
    out, _ = reference
    m = rescore(out, tmp_path / "silence", lambda f, lab, n, sr: np.zeros(n, np.float32))
    assert m["turn_taking"]["tor"] == 0.0 and m["turn_taking"]["cases"] >= 5
    assert m["interruption"]["tor"] == 0.0 and m["interruption"]["success_rate"] is None  # never speaking: nothing to stop
    assert m["pause_handling"]["tor"] == 0.0 and m["backchannel"]["scored"] == 0


def test_an_agent_that_never_stops_never_succeeds_at_an_interruption(reference, espeak_set, tmp_path):
    out, _ = reference
    _, cuts, full_turns = espeak_set
    by_id = {c.id: c for c in cuts}

    def never_stop(folder, lab, n, sr):
        if lab["task"] != "user_interruption":
            return None
        # The interrupted agent turn, uncut (as rendered), looped from its start to the end of the case.
        b = next(b for b in by_id[lab["cut_id"]].custom["barge_in"] if abs(b["t_cut"] - lab["offset_s"] - lab["event"]["start"]) < 1e-3)
        full = full_turns[lab["cut_id"]][b["agent_turn"]]
        start = int(round(lab["reference"]["agent"][0]["start"] * sr))
        y = np.zeros(n, np.float32)
        y[start:] = np.resize(full, n - start)
        return y

    m = rescore(out, tmp_path / "never", never_stop, tasks={"user_interruption"})
    ui = m["interruption"]
    assert ui["cases"] >= 2 and ui["speaking_at_onset"] == ui["cases"]
    assert ui["success_rate"] == 0.0 and ui["tor"] == 0.0 and ui["reasons"] == {"kept_talking": ui["cases"]}, ui
    # A continuous tone over the whole case: Silero hears no speech in a pure tone, the energy VAD does.
    tone = lambda f, lab, n, sr: (0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / sr)).astype(np.float32)  # noqa: E731
    m = rescore(out, tmp_path / "tone", tone, "vad=energy", tasks={"user_interruption", "smooth_turn_taking", "pause_handling", "user_backchannel"})
    assert m["interruption"]["success_rate"] == 0.0 and m["interruption"]["tor"] == 0.0
    assert m["turn_taking"]["tor"] == 0.0 and m["pause_handling"]["tor"] == 1.0 and m["backchannel"]["tor"] == 0.0


def test_bad_case_folders_are_reported_by_name_and_skipped(reference, tmp_path):
    out, ref = reference
    dst = tmp_path / "bad"
    copy_cases(out, dst, {"smooth_turn_taking", "user_interruption"})
    tt = cases_of(dst, "smooth_turn_taking")
    (tt[0] / "output.wav").unlink()                                                    # missing file
    x, sr = sf.read(str(tt[1] / "input.wav"))
    sf.write(str(tt[1] / "input.wav"), x[::2], sr // 2)                                 # wrong rate
    y, sr = sf.read(str(tt[2] / "output.wav"))
    sf.write(str(tt[2] / "output.wav"), y[: len(y) - sr // 2], sr)                      # 0.5 s short
    sf.write(str(tt[3] / "output.wav"), np.stack([y, y], axis=1), sr)                   # stereo
    (tt[4] / "labels.json").write_text("{not json")                                     # broken labels
    assert main(["score", str(dst)]) == 0
    m = json.loads((dst / "metrics.json").read_text())
    reasons = {b["case"]: b["reason"] for b in m["bad_cases"]}
    name = lambda p: f"smooth_turn_taking/{p.name}"  # noqa: E731
    assert reasons[name(tt[0])].startswith("missing output.wav")
    assert "input.wav is 8000 Hz but the labels say 16000 Hz" in reasons[name(tt[1])]
    assert "output.wav lasts" in reasons[name(tt[2])] and "time-aligned" in reasons[name(tt[2])]
    assert "2 channels" in reasons[name(tt[3])]
    assert "labels.json is not valid JSON" in reasons[name(tt[4])]
    expected = ref["cases"]["by_task"]["smooth_turn_taking"]["cases"] + ref["cases"]["by_task"]["user_interruption"]["cases"] - 5
    assert m["cases"]["bad"] == 5 and m["cases"]["scored"] == expected
    assert m["interruption"] == ref["interruption"]  # the other tasks are scored as before
    assert "Bad case folders" in (dst / "report.html").read_text() and name(tt[3]) in (dst / "report.html").read_text()


def test_the_readme_script_runs_a_wav_to_wav_model_over_every_case(reference, tmp_path):
    """README "Evaluate any duplex model": the run_model.py example with a parrot model (output = its input, 16 kHz)."""
    out, ref = reference
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    script = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if b.startswith("# run_model.py"))
    (tmp_path / "run_model.py").write_text(script)
    dst = tmp_path / "parrot"
    copy_cases(out, dst, {"smooth_turn_taking"}, ignore=("output.wav",))
    parrot = [sys.executable, "-c", "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])", "{input}", "{output}"]
    subprocess.run([sys.executable, str(tmp_path / "run_model.py"), str(dst), *parrot], check=True, timeout=300)
    assert main(["score", str(dst), "examples=0"]) == 0
    m = json.loads((dst / "metrics.json").read_text())
    assert m["cases"]["bad"] == 0 and m["cases"]["scored"] == ref["cases"]["by_task"]["smooth_turn_taking"]["cases"]
    # The parrot speaks exactly while the user does: it never takes a turn after the user has ended.
    assert m["turn_taking"]["tor"] == 0.0 and m["turn_taking"]["cases"] >= 5


def test_asr_counts_words_of_short_utterances_and_transcribes_interruption_responses(reference, tmp_path):
    """With asr=pocketsphinx (offline, shipped model) the interruption responses are transcribed for relevance."""
    out, ref = reference
    dst = tmp_path / "asr"
    copy_cases(out, dst, {"user_interruption"})
    assert main(["score", str(dst), "asr=pocketsphinx", "examples=0"]) == 0
    m = json.loads((dst / "metrics.json").read_text())
    answered = [c for c in m["per_case"] if c["result"]["to"]]
    assert answered and all(c["response_text"].strip() and c["reference_response_text"] for c in answered)
    assert 0.0 <= m["interruption"]["response_wer_vs_reference"] <= 2.0
    assert m["interruption"]["tor"] == ref["interruption"]["tor"]  # the responses are long: not backchannels
