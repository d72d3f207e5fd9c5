"""Measurement helpers shared by the generation bench and the trainer bench: CPU seconds, peak memory,
medians, machine facts, Markdown tables.

Example::

    c0 = process_cpu_seconds(); work(); print(process_cpu_seconds() - c0)
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
from pathlib import Path
from typing import Any


def process_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its reaped children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def peak_rss_mb() -> float:
    """Peak RSS of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def machine_facts() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
        mem_gib = round(kib / 2**20, 1)
    versions = {}
    for dist in ("ray", "lhotse", "torch", "nemo_toolkit", "espeakng-loader", "soxr", "soundfile"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[dist] = version(dist)
    return {
        "nproc": os.cpu_count(), "cpu_model": model, "ram_gib": mem_gib, "python": platform.python_version(),
        "platform": platform.platform(), "load_avg_start": [round(x, 2) for x in os.getloadavg()], "versions": versions,
    }


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


__all__ = ["process_cpu_seconds", "peak_rss_mb", "median", "machine_facts", "markdown_table"]
