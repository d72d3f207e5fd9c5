"""One-off generator of the shipped ASR-QA and real-conversation samples (SYNTHETIC speech, not a corpus).

The demo must run with no download, so the "real speech" of the shipped ASR-QA sample is synthesized
here with varied espeak-ng voices (``duplexgen.tts.espeak``), resampled to 16 kHz and stored as small
FLAC files, with a NeMo manifest ``asr_qa_manifest.jsonl`` whose entries say ``"synthetic": true``.
The same run writes the two-channel example of ``real_conversations_sample.jsonl``. Replace them with
a real corpus (LibriSpeech, Common Voice...) through ``sources[].path`` for real training data.

Run (from the repo root): ``python -m duplexgen.recipes.samples.make_asr_samples``
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from duplexgen.tts.base import Voice
from duplexgen.tts.espeak import EspeakBackend

HERE = Path(__file__).resolve().parent
AUDIO = HERE / "asr_audio"
SR = 16000

QUESTIONS = [
    ("en-us+m3", 140, 45, "what is the tallest mountain in the world"),
    ("en+f2", 165, 60, "how long should I boil an egg"),
    ("en-us+f4", 175, 70, "why is the sky blue"),
    ("en-gb-scotland+m1", 150, 40, "can you recommend a good book"),
    ("en-gb-x-rp+f3", 185, 55, "what time zone is tokyo in"),
]

DIALOG = [  # (speaker, text) of the two-channel example
    ("user", "how do I get to the station"),
    ("agent", "Sure, walk two blocks and turn left."),
]


def speak(backend: EspeakBackend, text: str, name: str, rate: int, pitch: int) -> np.ndarray:
    syn = backend.synthesize(text, Voice.make(name, "espeak", rate=rate, pitch=pitch))
    audio = soxr.resample(syn.audio, syn.sample_rate, SR).astype(np.float32)
    return (audio / max(1e-6, float(np.abs(audio).max())) * 0.7).astype(np.float32)


def main() -> None:
    backend = EspeakBackend()
    AUDIO.mkdir(exist_ok=True)
    lines = []
    for i, (voice, rate, pitch, text) in enumerate(QUESTIONS):
        audio = speak(backend, text, voice, rate, pitch)
        pad = np.zeros(int(0.15 * SR), np.float32)
        audio = np.concatenate([pad, audio, pad])
        name = f"synthetic_q{i:02d}.flac"
        sf.write(AUDIO / name, audio, SR, subtype="PCM_16")
        lines.append({"audio_filepath": f"asr_audio/{name}", "duration": round(len(audio) / SR, 3), "text": text,
                      "offset": 0.0, "speaker": voice, "synthetic": True})
    (HERE / "asr_qa_manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))

    # Two-channel dialog: user on channel 0, agent on channel 1, silence on the other channel.
    gap = np.zeros(int(0.5 * SR), np.float32)
    chans = [[gap], [gap]]
    segments, t = [], len(gap) / SR
    for speaker, text in DIALOG:
        voice = ("en-us+f2", 170, 60) if speaker == "user" else ("en+m3", 160, 45)
        audio = speak(backend, text, *voice)
        me, other = (0, 1) if speaker == "user" else (1, 0)
        chans[me] += [audio, gap]
        chans[other] += [np.zeros_like(audio), gap]
        segments.append({"speaker": speaker, "start": round(t, 3), "end": round(t + len(audio) / SR, 3), "text": text})
        t += (len(audio) + len(gap)) / SR
    stereo = np.stack([np.concatenate(chans[0]), np.concatenate(chans[1])], axis=1)
    sf.write(AUDIO / "synthetic_dialog_2ch.flac", stereo, SR, subtype="PCM_16")
    print("two-channel segments for real_conversations_sample.jsonl:", json.dumps(segments))
    total = sum(p.stat().st_size for p in AUDIO.glob("*.flac"))
    print(f"wrote {len(lines)} clips + 1 two-channel dialog, {total / 1000:.0f} kB")


if __name__ == "__main__":
    main()
