"""ASR-QA: real speech from an ASR corpus as the user turn, an LLM answer as the agent turn (SALM-Duplex: 20k hours).

Any ASR corpus with transcripts works (LibriSpeech, MLS, Common Voice, your own), given as

- a NeMo JSON Lines manifest: ``{"audio_filepath", "duration", "text", "offset" (optional)}`` per
  utterance, paths absolute or relative to the manifest's folder; or
- Lhotse manifests: a cuts manifest (``*cuts*.jsonl[.gz]``/``.json``; one utterance per supervision),
  or a supervisions manifest with its recordings manifest beside it (``*supervisions*`` ->
  ``*recordings*``).

The recipe keeps the real audio on the user turn (:class:`Turn` ``audio_path``/``audio_offset``/
``audio_duration``) and asks the LLM stage for the answer (``meta["llm"] = {"task": "answer"}``).
With ``chain: N`` it chains N consecutive utterances into one N-exchange conversation: row ``i`` with
``i % N == 0`` starts a conversation of rows ``i..i+N-1``, the other rows are skipped with a
:class:`ChainedRow` reject (a RejectError subclass) so every utterance is used once.

Options: ``chain`` (1), ``max_audio_s`` (20: longer utterances are skipped, or cut with
``too_long: clip``, which leaves the transcript longer than the audio; the user transcript is not a
training target of the duplex model, the answer is), ``min_audio_s`` (0.3), ``audio_root`` (the
folder audio must lie in; default: the manifest's folder).

At render time :func:`load_user_audio` reads the span (soundfile, offset/duration), mixes to mono,
resamples with soxr to 16 kHz, trims leading/trailing silence and levels it (RMS to -23 dBFS, peak
at most -1 dBFS).

Example::

    rows = list(read_rows("dev-clean.nemo.jsonl"))
    conv = to_conversation(rows[0], seed=1, chain=2)  # user turns carry audio, agent turns are ""
"""

from __future__ import annotations

import gzip
import itertools
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from duplexgen.core.records import AGENT, USER, Conversation, RejectError, RenderedTurn, SkipRow, Turn
from duplexgen.core.timing import AGENT_SAMPLE_RATE, USER_SAMPLE_RATE
from duplexgen.core.config import help_field
from duplexgen.recipes.base import (
    Recipe,
    SourceOptions,
    SourceRow,
    check_input_file,
    conversation_id,
    load_table,
    parse_jsonl_lines,
    table_rows,
)

log = logging.getLogger(__name__)

NAME = "asr_qa"
#: How many following utterances each row carries, so that ``chain`` up to this works.
MAX_CHAIN = 8
DEFAULT_MAX_AUDIO_S = 20.0
DEFAULT_MIN_AUDIO_S = 0.3


@dataclass
class AsrQaOptions(SourceOptions):
    chain: int = help_field("chain N consecutive utterances into one N-exchange conversation", 1)
    max_audio_s: float = help_field("longest user utterance in seconds (longer ones are rejected, or cut with too_long: clip)", DEFAULT_MAX_AUDIO_S)
    min_audio_s: float = help_field("shortest user utterance in seconds", DEFAULT_MIN_AUDIO_S)
    too_long: str = help_field("utterance over max_audio_s: skip (reject it) or clip (keep the first max_audio_s seconds)", "skip")
    audio_root: Optional[str] = help_field("the folder audio files must lie in (default: the manifest's folder)", None)

    def __post_init__(self):
        if self.too_long not in ("skip", "clip"):
            raise ValueError(f"too_long must be skip or clip, got {self.too_long!r}")
        if not 1 <= self.chain <= MAX_CHAIN:
            raise ValueError(f"chain must be in [1, {MAX_CHAIN}], got {self.chain}")


class ChainedRow(SkipRow):
    """A row used inside an earlier row's chained conversation: skipped, not an error in the data."""


# --- reading manifests ----------------------------------------------------------------------


def _open_text(path: str):
    return gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")


def _is_lhotse(path: str) -> bool:
    """NeMo manifests have ``audio_filepath`` on every line; anything else is read as a Lhotse manifest."""
    if "supervisions" in Path(path).name:
        return True
    with _open_text(path) as f:
        for line in f:
            if line.strip():
                return '"audio_filepath"' not in line
    return False


def _nemo_utterance(rec: dict[str, Any]) -> dict[str, Any]:
    """The fields we use from a NeMo manifest line (absent and null mean the same: Arrow fills nulls)."""

    def first(*keys: str, default: Any = None) -> Any:
        return next((rec[k] for k in keys if rec.get(k) is not None), default)

    return {
        "audio_filepath": rec.get("audio_filepath"),
        "offset": first("offset", default=0.0),
        "duration": rec.get("duration"),
        "text": rec.get("text"),
        "speaker": first("speaker", "speaker_id"),
        "utt_id": first("utt_id", "id"),
    }


def _nemo_utterances(path: str) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
    with _open_text(path) as f:
        for rec, err in parse_jsonl_lines(f):
            yield (None, err) if rec is None else (_nemo_utterance(rec), None)


def _utterances_between(path: str, start: int, stop: Optional[int]) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
    """Utterances ``[start, stop)``. A well-formed NeMo manifest is sliced from its cached Arrow table
    (a chunk never re-reads the lines before it); Lhotse manifests and manifests with bad lines are
    streamed and skipped."""
    if not _is_lhotse(path):
        try:
            ds = load_table(path)
        except Exception as e:  # noqa: BLE001 - a bad line: stream it so that the line becomes one reject
            log.info("datasets could not read %s (%s); streaming it", path, type(e).__name__)
        else:
            for _, rec in table_rows(ds, start, stop):
                yield _nemo_utterance(rec), None
            return
    reader = _lhotse_utterances if _is_lhotse(path) else _nemo_utterances
    yield from itertools.islice(reader(path), start, stop)


def _lhotse_utterances(path: str) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
    """One utterance per supervision, from cuts or from supervisions + recordings."""
    from lhotse.serialization import load_manifest_lazy_or_eager
    from lhotse.cut import Cut

    name = Path(path).name
    if "supervisions" in name:
        rec_path = Path(path).with_name(name.replace("supervisions", "recordings"))
        if not rec_path.exists():
            raise FileNotFoundError(f"{path}: its recordings manifest {rec_path} is missing (keep them side by side)")
        from lhotse import CutSet

        items = CutSet.from_manifests(
            recordings=load_manifest_lazy_or_eager(rec_path), supervisions=load_manifest_lazy_or_eager(path)
        ).trim_to_supervisions(keep_overlapping=False)
    else:
        items = load_manifest_lazy_or_eager(path)
    for cut in items:
        if not isinstance(cut, Cut):
            yield None, f"not a cut: {type(cut).__name__} (give a cuts or supervisions manifest)"
            continue
        if cut.has_recording is False or getattr(cut, "recording", None) is None:
            yield None, f"cut {cut.id} has no single recording (mixed cuts are not supported: flatten them first)"
            continue
        sources = cut.recording.sources
        if len(sources) != 1 or sources[0].type != "file":
            yield None, f"cut {cut.id}: recording {cut.recording.id} is not one audio file"
            continue
        for sup in cut.supervisions:
            start = max(0.0, sup.start)
            end = min(cut.duration, sup.end)
            yield {
                "audio_filepath": sources[0].source,
                "offset": round(cut.start + start, 6),
                "duration": round(end - start, 6),
                "text": sup.text,
                "speaker": sup.speaker,
                "utt_id": sup.id,
            }, None


def read_rows(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[SourceRow]:
    """Rows ``[start, stop)``: each utterance as a row carrying itself and the next MAX_CHAIN-1
    utterances (for chaining), so rows ``[start, stop)`` read utterances ``[start, stop + MAX_CHAIN - 1)``."""
    check_input_file(path)
    root = str(Path(path).resolve().parent)
    window: list[tuple[dict | None, str | None]] = []

    def emit(i: int) -> SourceRow:
        rec, err = window[0]
        if err:
            return SourceRow(NAME, str(i), error=err)
        return SourceRow(NAME, str(i), data={"utterances": [r for r, _ in window], "manifest_dir": root})

    def wanted(i: int) -> bool:
        return stop is None or i < stop

    i = start
    for pair in _utterances_between(path, start, None if stop is None else stop + MAX_CHAIN - 1):
        window.append(pair)
        if len(window) == MAX_CHAIN:
            yield emit(i)
            window.pop(0)
            i += 1
    while window and wanted(i):  # the file's last rows carry fewer following utterances
        yield emit(i)
        window.pop(0)
        i += 1


# --- rows -> conversations ------------------------------------------------------------------


def resolve_audio_path(audio_filepath: str, manifest_dir: str, audio_root: Optional[str]) -> str:
    """Absolute path of an utterance's audio; RejectError when it escapes the dataset root."""
    p = Path(audio_filepath)
    if not p.is_absolute():
        p = Path(manifest_dir) / p
    p = Path(os.path.normpath(p))
    root = Path(os.path.normpath(audio_root or manifest_dir))
    if root != p and root not in p.parents:
        raise RejectError(
            f"audio path outside the dataset root ({audio_filepath} -> {p} is not under {root}; set sources[].options.audio_root)",
            code="source.audio-missing", stage="source",
        )
    return str(p)


def probe_audio(audio_path: str) -> None:
    """Read only the header, so that a missing or broken file is rejected before the LLM writes its answer."""
    import soundfile as sf

    path, _ = _parse_channel(audio_path)
    if not os.path.exists(path):
        raise RejectError(f"audio file not found ({path})", code="source.audio-missing", stage="source")
    try:
        info = sf.info(path)
    except Exception as e:  # noqa: BLE001 - any decoder error means the file is unusable
        raise RejectError(f"unreadable audio ({path}: {str(e).strip()[:120]})", code="source.audio-unreadable", stage="source") from None
    if info.frames <= 0:
        raise RejectError(f"zero-length audio ({path})", code="source.audio-empty", stage="source")


def _utterance_turn(utt: Optional[dict[str, Any]], manifest_dir: str, options: dict[str, Any]) -> Turn:
    if utt is None:
        raise RejectError("unreadable manifest line in the chain", code="source.unreadable", stage="source")
    path, text, dur, offset = utt.get("audio_filepath"), utt.get("text"), utt.get("duration"), utt.get("offset") or 0.0
    if not isinstance(path, str) or not path:
        raise RejectError("missing field 'audio_filepath'", code="source.missing-field", stage="source")
    if not isinstance(text, str) or not text.strip():
        raise RejectError("missing or empty transcript (field 'text')", code="source.missing-field", stage="source")
    if not isinstance(dur, (int, float)) or isinstance(dur, bool) or not math.isfinite(dur) or dur <= 0:
        raise RejectError(f"bad duration ({dur!r}; the manifest needs duration > 0 in seconds)", code="source.bad-value", stage="source")
    if not isinstance(offset, (int, float)) or offset < 0:
        raise RejectError(f"bad offset ({offset!r}; must be >= 0 seconds)", code="source.bad-value", stage="source")
    max_s = float(options.get("max_audio_s", DEFAULT_MAX_AUDIO_S))
    min_s = float(options.get("min_audio_s", DEFAULT_MIN_AUDIO_S))
    if dur < min_s:
        raise RejectError(f"audio too short ({dur:.2f} s < sources[].options.min_audio_s={min_s})", code="source.audio-too-short", stage="source")
    if dur > max_s:
        if options.get("too_long", "skip") != "clip":
            raise RejectError(f"audio too long ({dur:.2f} s > sources[].options.max_audio_s={max_s}; raise it or set sources[].options.too_long=clip)", code="source.audio-too-long", stage="source")
        dur = max_s
    audio_path = resolve_audio_path(path, manifest_dir, options.get("audio_root"))
    probe_audio(audio_path)
    return Turn(USER, " ".join(text.split()), audio_path=audio_path, audio_offset=float(offset), audio_duration=float(dur))


def to_conversation(row: SourceRow, seed: int, **options) -> Conversation:
    item = f"{NAME}:{row.row_id}"
    if row.error:
        raise RejectError(row.error, code="source.unreadable", stage="source", item=item)
    chain = int(options.get("chain", 1))
    if not 1 <= chain <= MAX_CHAIN:
        raise ValueError(f"sources[].options.chain must be in [1, {MAX_CHAIN}], got {chain}")
    index = int(row.row_id)
    if index % chain:
        raise ChainedRow(f"chained into an earlier conversation (row {index - index % chain}, chain {chain})", stage="source", item=item)
    data = row.data or {}
    utterances = data.get("utterances", [])[:chain]
    turns: list[Turn] = []
    for k, utt in enumerate(utterances):
        try:
            user = _utterance_turn(utt, data["manifest_dir"], options)
        except RejectError as e:
            if k == 0:
                raise RejectError(e.reason, code=e.code, stage="source", item=item) from None
            break  # a chain ends early at a bad utterance; the good prefix is kept
        turns += [user, Turn(AGENT, "")]
    first = utterances[0] or {}
    utt_id = first.get("utt_id") or Path(str(first.get("audio_filepath", ""))).stem
    conv = Conversation(
        id=conversation_id(NAME, f"{row.row_id}-{utt_id}", seed),
        source=NAME,
        recipe=NAME,
        row_id=row.row_id,
        seed=seed,
        turns=turns,
        meta={
            "llm": {"task": "answer"},
            "max_audio_s": float(options.get("max_audio_s", DEFAULT_MAX_AUDIO_S)),
            "utterances": [str((u or {}).get("utt_id") or "") for u in utterances[: len(turns) // 2]],
        },
    )
    return conv


# --- audio ----------------------------------------------------------------------------------


def _parse_channel(path: str) -> tuple[str, Optional[int]]:
    """``file.wav#channel=1`` selects one channel of a multi-channel file (real two-channel dialogs)."""
    if "#channel=" in path and not os.path.exists(path):
        base, _, ch = path.rpartition("#channel=")
        if ch.isdigit():
            return base, int(ch)
    return path, None


def trim_silence(audio: np.ndarray, sr: int, *, threshold_db: float = -40.0, pad_s: float = 0.05) -> np.ndarray:
    """Cut leading/trailing stretches quieter than ``threshold_db`` below the peak (20 ms frames),
    keeping ``pad_s`` of margin, so that the supervision starts and ends with the speech."""
    if audio.size == 0:
        return audio
    frame = max(1, int(0.02 * sr))
    n = len(audio) // frame
    if n < 3:
        return audio
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms / (rms.max() + 1e-12)) > threshold_db)[0]
    if loud.size == 0:
        return audio
    pad = int(pad_s * sr)
    start = max(0, loud[0] * frame - pad)
    end = min(len(audio), (loud[-1] + 1) * frame + pad)
    return audio[start:end]


def level(audio: np.ndarray, *, target_rms_db: float = -23.0, peak_db: float = -1.0) -> np.ndarray:
    """RMS to ``target_rms_db`` dBFS, then scaled down if the peak would pass ``peak_db``."""
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if rms < 1e-6:
        return audio.astype(np.float32)
    out = audio * (10 ** (target_rms_db / 20) / rms)
    peak = float(np.max(np.abs(out)))
    limit = 10 ** (peak_db / 20)
    if peak > limit:
        out = out * (limit / peak)
    return out.astype(np.float32)


def load_user_audio(turn: Turn, *, max_audio_s: float, target_sr: Optional[int] = None) -> RenderedTurn:
    """A turn's real audio as a RenderedTurn: read, mono, resampled, trimmed, levelled.

    ``target_sr`` defaults to the stream's rate (16 kHz user, 22.05 kHz agent). RejectError for an
    unreadable, silent, zero-length or too long span."""
    import soundfile as sf
    import soxr

    if target_sr is None:
        target_sr = USER_SAMPLE_RATE if turn.role == USER else AGENT_SAMPLE_RATE
    if not turn.audio_path:
        raise RejectError("turn has no audio_path", code="audio.missing", stage="audio")
    path, channel = _parse_channel(turn.audio_path)
    if not os.path.isfile(path):
        raise RejectError(f"audio file not found ({path})", code="audio.missing", stage="audio")
    try:
        info = sf.info(path)
        start = int(round(turn.audio_offset * info.samplerate))
        frames = -1 if turn.audio_duration is None else int(round(turn.audio_duration * info.samplerate))
        if start >= info.frames:
            raise RejectError(f"offset past the end of the file ({turn.audio_offset:.2f} s >= {info.duration:.2f} s in {path})", code="audio.bad-offset", stage="audio")
        audio, sr = sf.read(path, start=start, frames=frames, dtype="float32", always_2d=True)
    except RejectError:
        raise
    except Exception as e:  # noqa: BLE001 - libsndfile raises several types for broken files
        raise RejectError(f"unreadable audio ({path}: {type(e).__name__}: {e})", code="audio.unreadable", stage="audio") from None
    if channel is not None:
        if channel >= audio.shape[1]:
            raise RejectError(f"channel {channel} not in a {audio.shape[1]}-channel file ({path})", code="audio.unreadable", stage="audio")
        mono = audio[:, channel]
    else:
        mono = audio.mean(axis=1)
    if mono.size == 0:
        raise RejectError(f"zero-length audio ({path} at {turn.audio_offset:.2f} s)", code="audio.empty", stage="audio")
    if len(mono) / sr > max_audio_s + 0.05:
        raise RejectError(f"audio too long ({len(mono) / sr:.2f} s > sources[].options.max_audio_s={max_audio_s})", code="audio.too-long", stage="audio")
    if sr != target_sr:
        mono = soxr.resample(mono, sr, target_sr, quality="HQ").astype(np.float32)
    if float(np.max(np.abs(mono))) < 1e-4:
        raise RejectError(f"silent audio ({path} at {turn.audio_offset:.2f} s)", code="audio.empty", stage="audio")
    mono = level(trim_silence(mono, target_sr))
    return RenderedTurn(
        role=turn.role,
        text=turn.text,
        audio=mono,
        sample_rate=target_sr,
        voice=f"real:{Path(path).stem}" + (f":ch{channel}" if channel is not None else ""),
        timing_source="none",
        kind=turn.kind,
        meta={"audio_path": path, "source_sample_rate": int(sr), "offset": turn.audio_offset},
    )


RECIPE = Recipe(
    name=NAME,
    read_rows=read_rows,
    to_conversation=to_conversation,
    sample_file="asr_qa_manifest.jsonl",
    description="real ASR speech (NeMo or Lhotse manifest) as the user turn, LLM answers as the agent turn",
    needs_llm=True,
    needs_audio=True,
    options=AsrQaOptions,
)
