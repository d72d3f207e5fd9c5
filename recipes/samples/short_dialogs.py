"""Short text dialogs (and synthetic two-channel recordings) for checking turn-taking timing at scale.

Timing checks need many turn transitions, not much speech: these rows (the real-conversations recipe's
text-only form) combine 24 short user turns and 24 short agent answers, most with a comma or a second
sentence so agents have phrase ends and pauses for backchannels. A pool this small also keeps espeak
renders few (the TTS cache hits), so hundreds of conversations generate in well under a minute.

``write_two_channel_set`` writes recordings in the recipe's two-channel form with KNOWN floor-transfer
offsets (tone bursts, user on channel 0, agent on channel 1), to check that ``augment.timing: custom``
estimates what it was given, from the segments or from the audio.

Run: ``python -m duplexgen.recipes.samples.short_dialogs 1000 rows.jsonl`` (N rows, seed 0).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

USER_TURNS = [
    "What is the capital of France?", "How do I boil an egg?", "Can you recommend a good book?", "Why is the sky blue?",
    "What time is it in Tokyo?", "How far away is the moon?", "Tell me a fun fact.", "What should I cook tonight?",
    "Is it going to rain tomorrow?", "How do plants grow?", "What is a black hole?", "Okay, thanks.", "Really?",
    "And what about dogs?", "Could you explain that again?", "How many legs does a spider have?", "Hi there.",
    "What's a good name for a cat?", "Right, and then what?", "Do you like music?", "How tall is a giraffe?",
    "Where do penguins live?", "Can you help me plan a trip?", "Sorry, what was that?",
]
AGENT_TURNS = [
    "The capital of France is Paris, a city on the river Seine.", "Put the egg in boiling water, then wait about eight minutes.",
    "Sure, you might enjoy a mystery novel; they are quick to read.", "Sunlight scatters in the air, and blue light scatters the most.",
    "Tokyo is nine hours ahead of London, so it is evening there.", "The moon is about three hundred eighty thousand kilometers away.",
    "Octopuses have three hearts, and their blood is blue.", "How about a simple pasta, with tomatoes, garlic and basil?",
    "I cannot check the weather, but a forecast app can tell you.", "Plants use light, water and air to make their food.",
    "A black hole is a region where gravity is so strong, that even light cannot escape.", "You are welcome. Anything else?",
    "Yes, really. It surprised me too.", "Dogs are loyal, friendly animals, and they love to play.",
    "Of course. In short, the answer depends on the details.", "A spider has eight legs, while insects have six.",
    "Hello! How can I help you today?", "How about Luna, or maybe Pepper? Both are cute.",
    "Then you add the sauce, stir it well, and serve it hot.", "I enjoy talking about music, especially jazz and folk.",
    "A giraffe can be almost six meters tall, taller than a house.", "Most penguins live in the southern hemisphere, near Antarctica.",
    "Happy to help. Where would you like to go, and for how long?", "I said the museum opens at nine, and closes at five.",
]


def dialog_rows(n: int, seed: int = 0, exchanges: tuple[int, int] = (2, 3)) -> list[dict]:
    """``n`` text-only rows of the real-conversations recipe, each 2-3 exchanges drawn from the pools."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        turns = []
        for _ in range(rng.randint(*exchanges)):
            turns += [{"speaker": "user", "text": rng.choice(USER_TURNS)}, {"speaker": "agent", "text": rng.choice(AGENT_TURNS)}]
        rows.append({"id": f"short-{i:05d}", "turns": turns})
    return rows


def write_rows(path: str | Path, n: int, seed: int = 0) -> Path:
    path = Path(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in dialog_rows(n, seed)))
    return path


def write_two_channel_set(folder: str | Path, offsets: Sequence[Sequence[float]], sr: int = 16000, seed: int = 0) -> Path:
    """One two-channel FLAC + segments row per conversation; conversation k's floor-transfer offsets are ``offsets[k]``
    (user first, alternating; turns are 1.2-2.5 s tone bursts, 0.3 s of silence before the first, so overlaps up to
    0.5 s never put one speaker on top of itself). Returns the JSONL."""
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for k, offs in enumerate(offsets):
        spans, t = [], 0.3
        for j in range(len(offs) + 1):
            d = float(rng.uniform(1.2, 2.5))
            spans.append((t, t + d))
            if j < len(offs):
                t = t + d + float(offs[j])
        audio = np.zeros((int((spans[-1][1] + 0.5) * sr), 2), dtype=np.float32)
        segments = []
        for j, (a, b) in enumerate(spans):
            ch, freq = j % 2, (330.0 if j % 2 == 0 else 220.0)
            i0, i1 = int(round(a * sr)), int(round(b * sr))
            audio[i0:i1, ch] += 0.3 * np.sin(2 * np.pi * freq * np.arange(i1 - i0) / sr)
            segments.append({"speaker": "user" if ch == 0 else "agent", "start": round(i0 / sr, 6), "end": round(i1 / sr, 6),
                             "text": f"turn {j}"})
        name = f"dialog_{k:04d}.flac"
        sf.write(folder / name, audio, sr)
        lines.append(json.dumps({"id": f"two-channel-{k:04d}", "audio_filepath": name, "channels": {"user": 0, "agent": 1},
                                 "segments": segments, "synthetic": True}))
    path = folder / "two_channel.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    print(write_rows(sys.argv[2] if len(sys.argv) > 2 else "short_dialogs.jsonl", int(sys.argv[1]) if len(sys.argv) > 1 else 200))
