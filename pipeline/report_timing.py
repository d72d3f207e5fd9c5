"""The report's timing section: realised turn-taking timing of natural/custom cuts against their profile.

For every timing profile in the corpus (cuts record it in ``custom.timing``; the manifest stats carry
what the layout realised, ``stages.timing_stats``) four plots: the floor-transfer offsets between turns
(histogram; gaps > 0, overlaps < 0) with the profile's own distribution drawn over it, the barge-in stop
delays against the profile, the barge-in depth into the agent turn, and where backchannels start (as a
fraction of the agent turn, and how long after the agent word they follow). A table gives the medians,
the overlap share and a two-sample KS test against draws from the profile. These are the layout's
numbers; ``duplexgen validate --audit`` measures the same things from the audio.

Example::

    for title, png, table_html in timing_sections(entries):   # entries = read_manifest(out)
        ...
"""

from __future__ import annotations

import html
import json
from typing import Any, Sequence

import numpy as np

#: Bin width of the offset and stop-delay histograms: one 10 ms VAD frame would be noisy, 50 ms reads well.
BIN_S = 0.05


def timing_groups(entries: Sequence[Any]) -> list[dict[str, Any]]:
    """The per-cut timing stats of the manifest entries, pooled per profile (profile name + parameters)."""
    groups: dict[str, dict[str, Any]] = {}
    for entry in entries:
        for st in getattr(entry, "stats", None) or []:
            t = st.get("timing")
            if not t:
                continue
            key = json.dumps({"profile": t.get("profile"), "params": t.get("params")}, sort_keys=True)
            g = groups.setdefault(key, {"profile": t.get("profile"), "params": t.get("params"), "conversations": 0,
                                        "offsets": [], "stop_delays": [], "depth_s": [], "backchannel_frac": [],
                                        "backchannel_after_word_s": []})
            g["conversations"] += 1
            for k in ("offsets", "stop_delays", "depth_s", "backchannel_frac", "backchannel_after_word_s"):
                g[k].extend(x for x in t.get(k, []) if x is not None)
    return list(groups.values())


def _hist_vs_profile(ax, values: Sequence[float], reference: np.ndarray, title: str, xlabel: str) -> None:
    lo = min(float(np.min(reference)), min(values, default=0.0))
    hi = max(float(np.percentile(reference, 99.5)), max(values, default=0.0))
    bins = np.arange(np.floor(lo / BIN_S) * BIN_S, hi + 2 * BIN_S, BIN_S)
    ax.hist(values or [0], bins=bins, density=True, color="#55A868", alpha=0.7, label=f"realised (n={len(values)})")
    ax.hist(reference, bins=bins, density=True, histtype="step", color="black", lw=1.5, label="profile")
    ax.axvline(0.0, color="#999", lw=0.8)
    ax.set(title=title, xlabel=xlabel)
    ax.legend(fontsize=8)


def timing_figure(g: dict[str, Any]):
    """One 2x2 figure for one profile group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from duplexgen.augment.config import TimingConfig
    from duplexgen.augment.timing import draw_offsets, draw_stop_delays

    p = TimingConfig(**g["params"])
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5))
    _hist_vs_profile(axes[0, 0], g["offsets"], draw_offsets(p, 20000, seed=0), "turn transitions: gap (> 0) / overlap (< 0)", "offset, s")
    _hist_vs_profile(axes[0, 1], g["stop_delays"], draw_stop_delays(p, 20000, seed=0), "barge-in: agent speech after the user starts", "stop delay, s")
    axes[1, 0].hist(g["depth_s"] or [0], bins=20, color="#C44E52")
    axes[1, 0].set(title=f"barge-in depth into the agent turn (n={len(g['depth_s'])})", xlabel="s from the agent turn's start")
    axes[1, 1].hist(g["backchannel_frac"] or [0], bins=np.linspace(0, 1, 21), color="#8172B2", alpha=0.8,
                    label=f"position in agent turn (n={len(g['backchannel_frac'])})")
    axes[1, 1].set(title="backchannel starts", xlabel="fraction of the agent turn")
    twin = axes[1, 1].twiny()
    twin.hist(g["backchannel_after_word_s"] or [0], bins=20, color="#CCB974", alpha=0.6)
    twin.set_xlabel("s after the agent word it follows (yellow)")
    axes[1, 1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary_rows(g: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, value) rows of the timing table of one profile group."""
    from duplexgen.augment.config import TimingConfig
    from duplexgen.augment.timing import compare_offsets, compare_stop_delays

    p = TimingConfig(**g["params"])
    rows = [("conversations", str(g["conversations"]))]
    off = compare_offsets(g["offsets"], p)
    if off.get("n"):
        rows += [("turn transitions", str(off["n"])),
                 ("offset median: realised / profile", f"{off['median_measured']:.3f} s / {off['median_profile']:.3f} s"),
                 ("overlap share: realised / profile", f"{off['overlap_share_measured']:.1%} / {off['overlap_share_profile']:.1%}"),
                 ("offsets KS test against the profile", f"D = {off['ks_statistic']:.3f}, p = {off['ks_p']:.3g}")]
    sd = compare_stop_delays(g["stop_delays"], p)
    if sd.get("n"):
        rows += [("barge-ins", str(sd["n"])),
                 ("stop delay median: realised / profile", f"{sd['median_measured']:.3f} s / {sd['median_profile']:.3f} s")]
    rows.append(("backchannels", str(len(g["backchannel_frac"]))))
    return rows


def timing_sections(entries: Sequence[Any]) -> list[tuple[str, Any, str]]:
    """(title, matplotlib figure, HTML table) per timing profile of the corpus; empty for a paper-timing corpus."""
    out = []
    for g in timing_groups(entries):
        table = "<table>" + "".join(f"<tr><td style='text-align:left'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                                    for k, v in summary_rows(g)) + "</table>"
        out.append((f"Timing: {g['profile']} profile", timing_figure(g), table))
    return out


__all__ = ["timing_groups", "timing_figure", "summary_rows", "timing_sections"]
