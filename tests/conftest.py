"""Shared pytest fixtures: small contract-conforming duplex shards built with the project's own layout code.

``tiny_shards`` writes a few two-stream conversations (synthetic tones as speech, real Lhotse Shar, the layout
of shard-contract.md via ``duplexgen.augment.layout.layout_turns``) once per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

AGENT_LINES = [
    "Red, yellow and blue.",
    "The capital of France is Paris.",
    "Water boils at one hundred degrees.",
    "Sure, here is a short answer.",
    "Cats sleep a lot during the day.",
    "Two plus two is four.",
]
USER_LINES = ["Name three primary colors.", "What is the capital of France?", "When does water boil?", "Tell me something."]


def synthetic_speech(rng: np.random.Generator, seconds: float, sample_rate: int, pitch: float) -> np.ndarray:
    """A speech-like test signal: a syllable-rate amplitude-modulated harmonic tone with a little noise."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    env = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, np.pi)))
    tone = sum(np.sin(2 * np.pi * pitch * h * t) / h for h in (1, 2, 3))
    x = 0.25 * env * tone + 0.01 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def make_tiny_cuts(n: int = 8, seed: int = 0, turns: int = 2):
    """``n`` two-stream MonoCuts (in memory) laid out with the contract's 0.64 s gaps."""
    from duplexgen.augment.layout import layout_turns
    from duplexgen.pipeline.records import AGENT, AGENT_SAMPLE_RATE, USER, USER_SAMPLE_RATE, RenderedTurn
    from duplexgen.pipeline.shards import assembled_to_cut

    rng = np.random.default_rng(seed)
    cuts = []
    for i in range(n):
        rendered = []
        for j in range(turns):
            role = USER if j % 2 == 0 else AGENT
            sr = USER_SAMPLE_RATE if role == USER else AGENT_SAMPLE_RATE
            text = USER_LINES[(i + j) % len(USER_LINES)] if role == USER else AGENT_LINES[(i + j) % len(AGENT_LINES)]
            seconds = float(rng.uniform(0.8, 1.4)) if role == USER else float(rng.uniform(1.4, 2.0))
            pitch = float(rng.uniform(110, 220)) if role == USER else 180.0
            rendered.append(RenderedTurn(role=role, text=text, audio=synthetic_speech(rng, seconds, sr, pitch),
                                         sample_rate=sr, voice="test-user" if role == USER else "test-agent"))
        assembled = layout_turns(rendered)
        cuts.append(assembled_to_cut(assembled, f"tiny-{i:04d}", {"source": "test", "recipe": "tiny"}))
    return cuts


def write_tiny_shards(out_dir: Path, n: int = 8, shard_size: int = 4, seed: int = 0, turns: int = 2) -> Path:
    from lhotse import CutSet

    out_dir.mkdir(parents=True, exist_ok=True)
    CutSet.from_cuts(make_tiny_cuts(n, seed, turns)).to_shar(
        out_dir, fields={"recording": "flac", "target_audio": "flac"}, shard_size=shard_size
    )
    return out_dir


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory) -> Path:
    """A folder of 2 Lhotse Shar shards holding 8 user-then-agent conversations (~4-5 s each)."""
    return write_tiny_shards(tmp_path_factory.mktemp("tiny_shards") / "shards")
