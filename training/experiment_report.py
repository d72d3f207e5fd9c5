"""The barge-in ablation's report: ``results.json``, ``EXPERIMENTS.md`` and loss-curve PNGs from the stage results.

The arms are scored twice, with the agent's activity read two ways: from its **text channel** (frames from
each BOS to the next EOS token: the model's own turn decisions, ``arms.<arm>`` top-level keys) and from
**Silero VAD on the decoded agent audio** (the public metric's way, ``arms.<arm>.vad``). Both are in the
table; the choice of the text channel for the top-level keys was made before the run (the decoded audio
also depends on the tiny codec). ``experiments/bargein_ablation_reading.md`` in the report folder, when present, is
the hand-written reading of the numbers and is kept when the report is rewritten.

Example::

    write_report(results, Path("out/ablation"), Path("."))   # -> results.json, EXPERIMENTS.md, experiments/*.png
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

ARM_ORDER = ("untrained", "no_bargein_aug", "bargein_aug", "reference")


def arm_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The issue's numbers from one ``duplexgen eval`` scoring (its Full-Duplex-Bench-style cases):
    turn-taking success = the take-over rate of smooth turn-taking cases; barge-in success = SALM-Duplex's
    (the agent stops within 1.5 s of the user's onset), over the interruption cases where it was speaking;
    false-alarm rate = the take-over rate of user-backchannel cases (a backchannel made it give up the floor)."""
    tt, ui, bc = summary["turn_taking"], summary["interruption"], summary["backchannel"]
    noise = summary.get("background_noise") or {}
    return {
        "turn_taking_success": tt["tor"], "barge_in_success": ui["success_rate"], "false_alarm_rate": bc["tor"],
        "turn_taking_latency_s": tt["latency_mean_s"], "barge_in_latency_s": ui["stop_latency_mean_s"],
        "interruption_response_tor": ui["tor"], "pause_handling_tor": (summary.get("pause_handling") or {}).get("tor"),
        "background_noise_tor": noise.get("tor"),
        "events": {"turn_taking": tt["cases"], "barge_in": ui["speaking_at_onset"],
                   "barge_in_not_scored": ui["cases"] - ui["speaking_at_onset"], "false_alarm": bc["scored"]},
    }


def results_json(results: dict[str, Any]) -> dict[str, Any]:
    st = results["stages"]
    arms = {}
    for arm in ARM_ORDER:
        ev = st[f"eval_{arm}"]
        text = arm_metrics(ev["text_channel"]) if "text_channel" in ev else None
        vad = arm_metrics(ev)
        arms[arm] = {**(text or vad), "activity": "text_channel" if text else "vad", "vad": vad,
                     "text_channel": text, "eval_wall_s": st[f"eval_{arm}"]["wall_s"], "eval_cpu_s": st[f"eval_{arm}"]["cpu_s"]}
    codec = st["codec"]
    targets = results["config"]["targets"]
    b, n = arms["bargein_aug"], arms["no_bargein_aug"]

    def ge(x: Optional[float], t: float) -> bool:
        return x is not None and x >= t

    met = {
        "bargein_aug_barge_in>=%.2f" % targets["bargein_aug_barge_in"]: ge(b["barge_in_success"], targets["bargein_aug_barge_in"]),
        "bargein_aug - no_bargein_aug barge_in>=%.2f" % targets["bargein_margin"]:
            b["barge_in_success"] is not None and n["barge_in_success"] is not None
            and b["barge_in_success"] - n["barge_in_success"] >= targets["bargein_margin"],
        "turn_taking>=%.2f (both trained arms)" % targets["turn_taking"]:
            ge(b["turn_taking_success"], targets["turn_taking"]) and ge(n["turn_taking_success"], targets["turn_taking"]),
        "false_alarm<=%.2f (both trained arms)" % targets["false_alarm_max"]:
            all(a["false_alarm_rate"] is not None and a["false_alarm_rate"] <= targets["false_alarm_max"] for a in (b, n)),
    }
    wall = sum(v.get("wall_s", 0) for v in st.values() if isinstance(v, dict))
    cpu = sum(v.get("cpu_s", 0) for v in st.values() if isinstance(v, dict))
    return {
        "experiment": "bargein-ablation",
        # The output folder is this machine's; the page names it OUT.
        "command": results.get("command", "duplexgen experiment bargein-ablation --out OUT").replace(results.get("out") or "\0", "OUT"),
        "arms": arms,
        "train_hours": st["data"]["train_hours"],
        "train_conversations": st["data"]["train_conversations"],
        "eval_conversations": st["data"]["eval_conversations"],
        "codec": {k: codec[k] for k in ("entropy_bits_per_codebook", "distinct_share_per_codebook", "reference_through_codec_turn_taking",
                                        "reference_through_codec_barge_in", "reference_through_codec_events", "encoder_lookahead")},
        "model_parameters": st["untrained"].get("parameters"),
        "training": {arm: {k: st[f"train_{arm}"][k] for k in ("steps", "first_loss", "last_loss", "val_first", "val_last", "val_best")}
                     for arm in ("no_bargein_aug", "bargein_aug")},
        "decoding": results["config"]["decoding"],
        "targets": targets,
        "targets_met": met,
        "stages": {k: {"wall_s": v.get("wall_s"), "cpu_s": v.get("cpu_s")} for k, v in st.items() if isinstance(v, dict)},
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "data": {k: v for k, v in st["data"].items() if isinstance(v, dict)},
    }


def plot_losses(out: Path, report_dir: Path) -> list[str]:
    """Train (smoothed) and validation loss of both trained arms: total and text parts, one PNG each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figdir = report_dir / "experiments"
    figdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for part, title in (("loss", "total loss (3 x text + 1 x speech)"), ("text_loss", "text-channel loss"), ("audio_loss", "speech-code loss")):
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=90)
        for arm, color in (("no_bargein_aug", "tab:blue"), ("bargein_aug", "tab:red")):
            run = out / "runs" / arm
            rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
            val = [json.loads(ln) for ln in (run / "val.jsonl").read_text().splitlines() if ln.strip()] if (run / "val.jsonl").exists() else []
            steps = np.array([r["step"] for r in rows])
            y = np.array([r[part] for r in rows])
            k = max(1, len(y) // 40)
            smooth = np.convolve(y, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1 :], smooth, color=color, alpha=0.6, label=f"{arm} train (mean of {k})")
            if val:
                ax.plot([v["step"] for v in val], [v["val_" + part] for v in val], "o-", color=color, label=f"{arm} validation")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(part)
        ax.set_title(title)
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = figdir / f"bargein_ablation_{part}.png"
        fig.savefig(p)
        plt.close(fig)
        paths.append(str(p))
    return paths


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _lat(x: Optional[float]) -> str:
    return "" if x is None else f" ({x:.2f} s)"


def markdown(res: dict[str, Any], reading: str, pngs: list[str], report_dir: Path) -> str:
    arms = res["arms"]
    lines = ["# Experiments", "", "## Barge-in ablation: does a model trained on duplexgen shards learn turn-taking and barge-in?", "",
             "Command (2 CPU cores, no GPU):", "", "```", res["command"], "```", "",
             f"Wall time {res['wall_s'] / 60:.1f} min, CPU time {res['cpu_s'] / 60:.1f} min (process tree, sampled); "
             f"training set {res['train_hours']:.2f} h ({res['train_conversations']} conversations), "
             f"evaluation set {res['eval_conversations']} conversations from disjoint source rows.", ""]
    for how, label in (("top", "text channel (BOS..EOS frames of the agent's own text stream)"), ("vad", "Silero VAD on the decoded agent audio")):
        lines += [f"### Agent activity from the {label}", "",
                  "| arm | turn-taking (latency) | barge-in (latency) | false alarms | events TT / BI (not scored) / FA |",
                  "|---|---|---|---|---|"]
        for arm in ("untrained", "no_bargein_aug", "bargein_aug", "reference"):
            a = arms[arm] if how == "top" else arms[arm]["vad"]
            if a is None:
                continue
            e = a["events"]
            lines.append(f"| {arm} | {_pct(a['turn_taking_success'])}{_lat(a['turn_taking_latency_s'])} | "
                         f"{_pct(a['barge_in_success'])}{_lat(a['barge_in_latency_s'])} | {_pct(a['false_alarm_rate'])} | "
                         f"{e['turn_taking']} / {e['barge_in']} ({e['barge_in_not_scored']}) / {e['false_alarm']} |")
        lines.append("")
    c = res["codec"]
    lines += ["### Codec gate", "",
              f"Reference agent stream through the trained tiny codec, Silero VAD: turn-taking "
              f"{_pct(c['reference_through_codec_turn_taking'])}, barge-in {_pct(c['reference_through_codec_barge_in'])} "
              f"(events {c['reference_through_codec_events']}). Encoder lookahead past its own frame: "
              f"{c['encoder_lookahead']['samples']} samples ({c['encoder_lookahead']['ms']} ms; the agent's onset reaches the model "
              f"before its BOS: {'yes' if c['encoder_lookahead']['leaks_onset'] else 'no'}). Code entropy per codebook (bits, max log2 200 = 7.64): "
              f"{c['entropy_bits_per_codebook']}; share of distinct codes: {c['distinct_share_per_codebook']}.", "",
              "### Targets (from the issue; reported, never tuned for)", ""]
    lines += [f"- {k}: {'met' if v else 'NOT met'}" for k, v in res["targets_met"].items()]
    lines += ["", "### Sizes, steps, time", "", f"- model parameters: {res['model_parameters']}",
              f"- training: {json.dumps(res['training'])}", f"- decoding (all arms): `{json.dumps(res['decoding'])}`", "",
              "| stage | wall s | CPU s |", "|---|---|---|"]
    lines += [f"| {k} | {v['wall_s']} | {v['cpu_s']} |" for k, v in res["stages"].items()]
    lines += ["", "### Loss curves", ""] + [f"![{Path(p).stem}]({Path(p).relative_to(report_dir)})" for p in pngs]
    lines += ["", "### Reading", "", reading.strip() or "(not written yet)", ""]
    return "\n".join(lines)


def write_report(results: dict[str, Any], out: Path, report_dir: Path) -> dict[str, Any]:
    report_dir.mkdir(parents=True, exist_ok=True)
    res = results_json(results)
    (report_dir / "results.json").write_text(json.dumps(res, indent=1) + "\n")
    pngs = plot_losses(out, report_dir)
    reading_file = report_dir / "experiments" / "bargein_ablation_reading.md"
    reading = reading_file.read_text() if reading_file.exists() else ""
    (report_dir / "EXPERIMENTS.md").write_text(markdown(res, reading, pngs, report_dir))
    return {"results_json": str(report_dir / "results.json"), "experiments_md": str(report_dir / "EXPERIMENTS.md"), "pngs": pngs}


__all__ = ["write_report", "results_json", "arm_metrics"]
