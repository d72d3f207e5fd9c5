"""Timing profiles on the pipeline side: fit ``augment.timing: custom`` to real conversations, once, on the driver.

``augment.timing_custom.estimate_from`` names a real-conversations JSONL (the recipe's two-channel form:
one recording, user and agent on their own channels, segments with start/end). Its floor-transfer
offsets are measured from the segments (``estimate_with: segments``) or from the audio by an energy VAD
per channel (``estimate_with: vad``; Heldner & Edlund's between-speaker intervals), and
``augment.timing.fit_offsets`` fits their ex-Gaussian (mu, sigma, tau). The fitted numbers replace
the offset fields of ``timing_custom`` before any worker starts, so every conversation of a run (and a
resumed run) draws from the same numbers, and ``config.json`` and every cut's ``custom.timing`` say what
they were and where they came from.

Example::

    cfg.augment = resolve_timing(cfg.augment)   # no-op unless timing=custom with estimate_from
    cfg.augment.timing_custom.offset_mu_s, cfg.augment.timing_custom.estimated["transitions"]
"""

from __future__ import annotations

import dataclasses

from duplexgen.augment.config import AugmentConfig
from duplexgen.augment.timing import fit_offsets
from duplexgen.core.events import between_speaker_intervals, floor_transfer_offsets
from duplexgen.core.records import AGENT, USER
from duplexgen.recipes.real_conversations import Timeline, read_timelines

#: Pauses shorter than this stay inside one talkspurt when measuring real audio (the audit's default too).
VAD_MIN_SILENCE_S = 0.2


def timeline_offsets(t: Timeline, estimate_with: str = "segments") -> list[float]:
    """Floor-transfer offsets of one real conversation, from its segments or from its two channels' audio."""
    if estimate_with == "segments":
        return floor_transfer_offsets(t.segments)
    import soundfile as sf

    from duplexgen.core.vad import speech_intervals

    audio, sr = sf.read(t.audio_path, dtype="float32", always_2d=True)
    need = max(t.channels.values())
    if audio.shape[1] <= need:
        raise ValueError(f"{t.audio_path} has {audio.shape[1]} channel(s), row {t.id} names channel {need}")
    user = speech_intervals(audio[:, t.channels[USER]], sr, min_silence_s=VAD_MIN_SILENCE_S)
    agent = speech_intervals(audio[:, t.channels[AGENT]], sr, min_silence_s=VAD_MIN_SILENCE_S)
    return between_speaker_intervals(user, agent)


def resolve_timing(cfg: AugmentConfig) -> AugmentConfig:
    """``cfg`` with ``timing_custom`` fitted to ``estimate_from`` (unchanged unless timing=custom with an unfitted
    estimate_from). ValueError naming the file and the fix when the set cannot be fitted."""
    tc = cfg.timing_custom
    if cfg.timing != "custom" or not tc.estimate_from or tc.estimated:
        return cfg
    where = f"augment.timing_custom.estimate_from={tc.estimate_from}"
    try:
        timelines, skipped = read_timelines(tc.estimate_from)
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file; give a real_conversations JSONL") from None
    if not timelines:
        raise ValueError(f"{where}: no two-channel rows ({skipped['per_turn']} per-turn rows have no shared clock, "
                         f"{skipped['invalid']} invalid); estimating needs rows with audio_filepath + segments")
    offsets = [o for t in timelines for o in timeline_offsets(t, tc.estimate_with)]
    try:
        fitted, info = fit_offsets(offsets, base=tc)
    except ValueError as e:
        raise ValueError(f"{where} (estimate_with={tc.estimate_with}): {e}") from None
    info.update(conversations=len(timelines), skipped_rows=skipped)
    return dataclasses.replace(cfg, timing_custom=dataclasses.replace(fitted, estimated=info))


__all__ = ["resolve_timing", "timeline_offsets", "VAD_MIN_SILENCE_S"]
