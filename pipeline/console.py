"""What `duplexgen generate` shows while it runs: one progress bar for the whole job, and Ray's output in a log file.

Ray prints a lot on a long run: Ray Data's per-operator progress blocks every 10 s when stdout is not a
terminal, every worker's output forwarded to the driver, and C++ log lines the driver's core worker writes
straight to file descriptor 2. :func:`ray_output_to_log` points descriptors 1 and 2 at a log file for the
Ray part of the job (so Python, C++ and child processes alike write there) and follows the file, passing
the lines that report errors on to the terminal. :class:`JobProgress` draws one bar on the real terminal:
rows done of all rows (ETA from rows), conversations, hours of audio, speed, rejects.

Example::

    progress = JobProgress(tasks, stream=sys.stderr)
    with ray_output_to_log("out/logs/generate.log", show=progress.note) as log:
        for entry in finished_shards:
            progress.update(entry)
    progress.close()
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from typing import Any, Callable, Iterator, Optional, TextIO

#: Lines of Ray's output worth showing a person: error-level log records (Python or C++ glog "[... E ...]"),
#: raylet messages (worker deaths, out-of-memory kills) and the start of a Python traceback.
ERROR_LINE = re.compile(r"\bERROR\b|\bCRITICAL\b|\bFATAL\b|^\[[^\]]* [EF] \d+ \d+\]|\(raylet\)|Traceback \(most recent call last\)")

#: Messages Ray logs at error level that report no problem, each with why.
HARMLESS = (
    # Ray Data's actor pools pass object refs to each actor's constructor and allow restarts (max_restarts=-1,
    # which is what recovers from a lost spot node); Ray's core worker logs that combination as an error
    # (ray-project/ray#53727). Printed by the driver's C++ core worker for every actor pool we start.
    re.compile(r"has constructor arguments in the object store and max_restarts > 0"),
)


def is_error_line(line: str) -> bool:
    return bool(ERROR_LINE.search(line)) and not any(p.search(line) for p in HARMLESS)


@contextlib.contextmanager
def ray_output_to_log(log_path: str, show: Optional[Callable[[str], None]] = None, poll_s: float = 0.2) -> Iterator[TextIO]:
    """Inside the block, everything written to file descriptors 1 and 2 (by this process, its C++ libraries and
    any process it starts) goes to ``log_path`` (appended); a thread follows the file and calls ``show`` with
    each error line (:func:`is_error_line`). Yields a text stream on the real terminal (the old descriptor 2).

    The log is a file, not a pipe, so a slow reader never blocks a writer."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding="utf-8", errors="replace")
    show = show or (lambda line: print(line, file=terminal, flush=True))
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    start = os.fstat(log_fd).st_size
    stop = threading.Event()

    def follow() -> None:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            pending = ""
            while True:
                chunk = f.read()
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        if is_error_line(line):
                            try:
                                show(line.rstrip()[:500])
                            except Exception:  # noqa: BLE001 - showing must never stop the follower
                                pass
                elif stop.is_set():
                    return
                else:
                    time.sleep(poll_s)

    follower = threading.Thread(target=follow, name="ray-log-follower", daemon=True)
    follower.start()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[1], 1)
        os.dup2(saved[2], 2)
        for fd in (*saved.values(), log_fd):
            os.close(fd)
        stop.set()
        follower.join(timeout=10)
        terminal.flush()
        terminal.close()


class JobProgress:
    """One progress line for the whole job. On a terminal: a bar redrawn in place (tqdm). Elsewhere (CI, a pipe,
    a file): a plain line at most every ``interval_s`` seconds and at the end, so logs stay short."""

    def __init__(self, tasks: list[Any], stream: Optional[TextIO] = None, interval_s: float = 30.0):
        self._own_stream = None
        if stream is None:
            # where stderr points now, kept on a descriptor of our own: Ray's output may be sent elsewhere later
            # (ray_output_to_log moves descriptor 2), the progress stays on the person's terminal
            stream = sys.stderr
            try:
                self._own_stream = stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
            except (AttributeError, OSError, ValueError):  # a stderr without a descriptor (captured in a test)
                pass
        self.stream = stream
        self.rows_of = {(t.source, t.shard_index): t.stop - t.start for t in tasks}
        self.total_shards = len(tasks)
        self.total_rows = sum(self.rows_of.values())
        self.shards = self.rows = self.conversations = self.rejects = 0
        self.seconds = 0.0
        self.interval_s = interval_s
        self.t0 = time.perf_counter()
        self._last_line = -1e9
        self._bar = None
        if _isatty(self.stream):
            from tqdm import tqdm

            # a terminal that reports no width (some CI runners, a bare pty) would get an empty bar: assume 120
            sized = _columns(self.stream) > 0
            self._bar = tqdm(total=self.total_rows, unit="row", file=self.stream, dynamic_ncols=sized, ncols=None if sized else 120,
                             mininterval=0.5, bar_format="{percentage:3.0f}%|{bar:24}| {n}/{total} rows [{elapsed}<{remaining}{postfix}]")

    # --- numbers ---------------------------------------------------------------------------

    def update(self, entry: Any) -> str:
        """Count a finished shard (a :class:`~duplexgen.core.records.ManifestEntry`); returns the status text."""
        rows = self.rows_of.get((entry.source, entry.shard_index), 0)
        self.shards += 1
        self.rows += rows
        self.conversations += entry.cuts
        self.seconds += entry.seconds
        self.rejects += len(entry.rejects)
        text = self.status()
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(rows)
        elif self.rows >= self.total_rows or time.perf_counter() - self._last_line >= self.interval_s:
            self._last_line = time.perf_counter()
            print(self.line(), file=self.stream, flush=True)
        return text

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def eta_s(self) -> Optional[float]:
        """Seconds left at the rate so far, from rows (the last shard of a source may be short); None before any."""
        if not self.rows:
            return None
        return (self.total_rows - self.rows) * self.elapsed() / self.rows

    def status(self) -> str:
        speed = self.seconds / max(self.elapsed(), 1e-9)
        return (f"{self.conversations} conversations, {self.seconds / 3600:.3f} h audio ({speed:.1f}x real time), "
                f"{self.rejects} reject{'' if self.rejects == 1 else 's'}")

    def line(self) -> str:
        """The plain-text form (no bar): rows, shards, conversations, hours, speed, rejects, ETA."""
        pct = 100.0 * self.rows / max(self.total_rows, 1)
        eta = self.eta_s()
        return (f"progress: {self.rows}/{self.total_rows} rows ({pct:.0f}%), {self.shards}/{self.total_shards} shards, "
                f"{self.status()}, elapsed {_clock(self.elapsed())}, ETA {_clock(eta) if eta is not None else '?'}")

    # --- messages --------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """A message above the bar (or a line of its own), without breaking the bar."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._own_stream is not None:
            self._own_stream.close()
            self._own_stream = None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _columns(stream: Any) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


__all__ = ["JobProgress", "ray_output_to_log", "is_error_line", "ERROR_LINE", "HARMLESS"]
