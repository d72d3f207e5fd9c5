"""A picture of one conversation: both streams on one time axis, with what the layout did to them.

Two rows, user (16 kHz) above agent (22.05 kHz): each stream's waveform (min/max per pixel column), every
turn's span (user, agent, backchannel, interruption), the gap between consecutive turns with its length,
each barge-in (a dashed line where the user cuts in, and a hatched box over the agent speech kept after
it, 0.64 s by default), and the user-stream noise. Everything is read from the cut (its supervisions and
``custom``); the audio is only drawn.

Example::

    png = timeline_png(cut)                  # bytes of a PNG, ~40-60 KB for a minute of conversation
    Path("conv.png").write_bytes(png)
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from duplexgen.core.events import cut_events, sup_kind

#: One colour per kind of span, shared with the report's transcripts.
COLORS = {"user": "#4C72B0", "agent": "#DD8452", "backchannel": "#55A868", "interruption": "#C44E52", "barge_in": "#8B0000",
          "noise": "#8172B3"}


def envelope(audio: np.ndarray, sample_rate: int, columns: int = 1100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, min, max) per pixel column: a minute of audio draws with ~1k points instead of a million samples."""
    audio = np.asarray(audio, dtype=np.float32)
    if not len(audio):
        return np.zeros(1), np.zeros(1), np.zeros(1)
    n = max(1, len(audio) // columns)
    m = -(-len(audio) // n) * n
    a = np.pad(audio, (0, m - len(audio))).reshape(-1, n)
    t = (np.arange(a.shape[0]) * n + n / 2) / sample_rate
    return t, a.min(axis=1), a.max(axis=1)


def spans(cut: Any) -> list[dict[str, Any]]:
    """The cut's supervisions as dicts (start, end, speaker, kind, text, voice), in time order."""
    out = [{"start": float(s.start), "end": float(s.end), "speaker": s.speaker, "kind": sup_kind(s), "text": s.text or "",
            "voice": str((s.custom or {}).get("voice", ""))} for s in cut.supervisions]
    return sorted(out, key=lambda s: (s["start"], s["speaker"]))


def measured_gaps(turns: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """(end of a turn, start of the next turn, the speaker who takes it) for each silence between consecutive
    turns of different speakers; backchannels overlay the agent and are not turns."""
    main = [s for s in turns if s["kind"] != "backchannel"]
    return [(a["end"], b["start"], b["speaker"]) for a, b in zip(main, main[1:])
            if a["speaker"] != b["speaker"] and b["start"] - a["end"] > 1e-3]


def user_stream_notes(custom: dict[str, Any], duration: float) -> tuple[list[str], list[tuple[float, float]]]:
    """What was done to the user stream, in words, and the intervals that carry noise."""
    notes, noise = [], []
    for aug in custom.get("augmentations") or []:
        name = aug.get("name", "?") if isinstance(aug, dict) else str(aug)
        if name == "noise":
            noise += [(float(a), float(b)) for a, b in (aug.get("noise_intervals") or [(0.0, duration)])]
            notes.append(f"noise {float(aug.get('relative_db', 0.0)):+.1f} dB")
        elif name == "gain":
            notes.append(f"gain {float(aug.get('db', 0.0)):+.1f} dB")
        elif name == "echo":
            notes.append(f"agent echo {float(aug.get('delay_ms', 0.0)):.0f} ms")
        elif name == "reverb":
            notes.append(f"reverb RT60 {float(aug.get('rt60_s', 0.0)):.2f} s")
        else:
            notes.append(name)
    return notes, noise


def timeline_png(cut: Any, title: str = "", dpi: int = 100) -> bytes:
    """The timeline of ``cut`` (a duplexgen MonoCut with ``custom.target_audio``) as PNG bytes."""
    user, user_sr = cut.load_audio()[0], cut.recording.sampling_rate
    agent, agent_sr = cut.load_target_audio()[0], cut.custom["target_audio"].sampling_rate
    return draw_timeline(user, user_sr, agent, agent_sr, cut, title=title, dpi=dpi)


def draw_timeline(user: np.ndarray, user_sr: int, agent: np.ndarray, agent_sr: int, cut: Any, title: str = "", dpi: int = 100) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    custom = cut.custom or {}
    turns = spans(cut)
    events = cut_events(cut)
    duration = max(len(user) / user_sr, len(agent) / agent_sr, float(cut.duration))
    fig, axes = plt.subplots(2, 1, figsize=(11, 3.6), sharex=True, gridspec_kw={"hspace": 0.15})
    rows = {"user": axes[0], "agent": axes[1]}
    for role, (audio, sr) in {"user": (user, user_sr), "agent": (agent, agent_sr)}.items():
        ax = rows[role]
        t, lo, hi = envelope(audio, sr)
        peak = max(1e-4, float(np.abs(audio).max()) if len(audio) else 0.0)
        ax.fill_between(t, lo / peak, hi / peak, color="#333333", linewidth=0, zorder=2)
        ax.set_ylim(-1.4, 1.4)
        ax.set_yticks([])
        ax.set_ylabel(f"{role}\n{sr / 1000:g} kHz", rotation=0, ha="right", va="center", fontsize=9)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    numbers = {"user": 0, "agent": 0}
    for s in turns:
        kind, role = s["kind"], s["speaker"]
        color = COLORS[kind] if kind in ("backchannel", "interruption") else COLORS[role]
        ax = rows[role]
        ax.axvspan(s["start"], s["end"], color=color, alpha=0.22 if kind == "turn" else 0.45, zorder=1, linewidth=0)
        if kind == "turn":
            numbers[role] += 1
            label = f"{role[0].upper()}{numbers[role]}"
        else:
            label = kind
        ax.text(s["start"] + 0.02 * duration / 60, 1.08, label, fontsize=7, color=color, va="bottom")
    for end, start, speaker in measured_gaps(turns):
        ax, y = rows[speaker], -1.22  # under the row of the speaker who takes the turn
        ax.annotate("", xy=(start, y), xytext=(end, y), arrowprops={"arrowstyle": "<->", "lw": 0.7, "color": "#444", "shrinkA": 0, "shrinkB": 0})
        ax.text((end + start) / 2, y + 0.07, f"{start - end:.2f} s", fontsize=7, ha="center", va="bottom", color="#444")
    for t_cut, kept in zip(events.interruptions, events.reference_kept):
        for ax in axes:
            ax.axvline(t_cut, color=COLORS["barge_in"], ls="--", lw=1, zorder=3)
        rows["agent"].add_patch(Rectangle((t_cut, -1.0), kept, 2.0, fill=False, hatch="////", edgecolor=COLORS["barge_in"], lw=0.8, zorder=3))
        rows["agent"].text(t_cut + kept, 0.8, f" barge-in: {kept:.2f} s kept", fontsize=7, color=COLORS["barge_in"], va="bottom")
    notes, noise = user_stream_notes(custom, duration)
    for a, b in noise:
        rows["user"].axvspan(a, b, ymin=0.0, ymax=0.05, color=COLORS["noise"], alpha=0.9, linewidth=0)
    axes[1].set_xlabel("seconds")
    axes[1].set_xlim(0, duration)
    legend = [Patch(color=COLORS["user"], alpha=0.3, label="user turn"), Patch(color=COLORS["agent"], alpha=0.3, label="agent turn"),
              Patch(color=COLORS["backchannel"], alpha=0.5, label="backchannel"), Patch(color=COLORS["interruption"], alpha=0.5, label="interruption"),
              Patch(facecolor="none", edgecolor=COLORS["barge_in"], hatch="////", label="agent speech kept after a barge-in"),
              Patch(color=COLORS["noise"], label="noise (user stream)")]
    # the legend under the time axis, the title (and what was done to the user stream) above: they never overlap
    axes[1].legend(handles=legend, loc="upper left", bbox_to_anchor=(0, -0.32), ncol=6, fontsize=7, frameon=False)
    heading = (title + "   " if title else "") + ("user stream: " + ", ".join(notes) if notes else "")
    if heading:
        axes[0].set_title(heading, fontsize=9, loc="left", pad=14)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


__all__ = ["timeline_png", "draw_timeline", "envelope", "spans", "measured_gaps", "user_stream_notes", "COLORS"]
