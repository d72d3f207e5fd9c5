"""Shared pytest fixtures.

- ``tiny_shards``: a few contract-conforming two-stream conversations (synthetic tones as speech, real
  Lhotse Shar, laid out by ``duplexgen.augment.assemble`` with the contract's 0.64 s gaps), once per session;
- ``shared_data``: real public sample rows and clips in ``../shared/data`` (beside the repository): a test
  that needs them skips where the folder is absent (a laptop) and fails under CI (``CI=true``), where it
  is always present;
- ``browser``: open an HTML file in a real headless Chromium (Debian's, driven by Playwright; ``make test``
  installs it): screenshot, console errors, every <audio> decoded. Skips where Chromium or Playwright is
  missing, fails under CI.

Tests mirror the rooms: tests/core, recipes, tts, augment, text, pipeline, training, e2e."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data_path(rel: str = "") -> Path:
    """``../shared/data/<rel>``; skip the test when it is absent, fail it when ``CI=true``."""
    p = SHARED_DATA / rel
    if not p.exists():
        msg = f"{p} not found: the real sample data lives in ../shared/data beside the repository"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: it must be present)")
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def shared_data():
    """The ``shared_data_path`` function: ``shared_data("alpaca/alpaca_200.json")``."""
    return shared_data_path

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
    """A speech-like test signal: 4 syllables per second under an amplitude envelope, each voiced (20 harmonics of
    a gliding pitch with one vowel-like resonance) or unvoiced (hiss or breath). Its frames differ in spectrum, not
    only in level, so a codec that codes each 80 ms frame alone still gives varied codes (the trainer's smoke test
    needs labels that are not degenerate)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    n_syl = int(seconds * 4) + 1
    syl = (t * 4).astype(int)
    env = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, np.pi)))
    f0 = pitch * (1 + 0.3 * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    formant = rng.uniform(300, 3000, size=n_syl)[syl]
    voiced = sum((1 / h + np.exp(-(((h * f0) - formant) / 600) ** 2)) * np.sin(h * phase) for h in range(1, 21))
    voiced = 1.8 * voiced / max(1e-9, float(np.abs(voiced).max()))
    kind = rng.integers(0, 4, size=n_syl)[syl]  # 0, 1: voiced; 2: hiss; 3: breath
    noise = rng.standard_normal(len(t))
    hiss, breath = 0.15 * np.diff(noise, n=2, prepend=[0.0, 0.0]), 0.3 * noise  # peaks about as loud as the voiced
    x = 0.25 * env * np.select([kind == 2, kind == 3], [hiss, breath], voiced) + 0.01 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def make_tiny_cuts(n: int = 8, seed: int = 0, turns: int = 2):
    """``n`` two-stream MonoCuts (in memory) laid out with the contract's 0.64 s gaps."""
    from duplexgen.augment import AugmentConfig, assemble
    from duplexgen.core.records import AGENT, USER, Conversation, RenderedTurn, Turn
    from duplexgen.core.timing import AGENT_SAMPLE_RATE, USER_SAMPLE_RATE
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
        conv = Conversation(f"tiny-{i:04d}", "test", "tiny", str(i), seed, [Turn(r.role, r.text) for r in rendered])
        assembled = assemble(conv, rendered, AugmentConfig(), seed=seed)
        cuts.append(assembled_to_cut(assembled, conv.id, {"source": "test", "recipe": "tiny"}))
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


# --------------------------------------------------------------------------- evaluation shards
EVAL_SR = {"user": 16000, "agent": 22050}


def tone_turn(turn, rng: np.random.Generator):
    """Tone bursts as words (0.2-0.35 s) with 80 ms of digital silence between them: known word timings."""
    from duplexgen.core.records import AGENT, RenderedTurn, Word

    sr = EVAL_SR[turn.role]
    freq = 220.0 if turn.role == AGENT else 330.0
    chunks, words, t = [], [], 0
    from duplexgen.core.words import word_symbols

    texts = word_symbols(turn.text)  # one timed word per word of the text, as every renderer gives
    for k, w in enumerate(texts):
        n = int(rng.uniform(0.2, 0.35) * sr)
        chunks.append((0.3 * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32))
        words.append(Word(w, t / sr, (t + n) / sr))
        t += n
        if k < len(texts) - 1:
            chunks.append(np.zeros(int(0.08 * sr), np.float32))
            t += int(0.08 * sr)
    return RenderedTurn(turn.role, turn.text, np.concatenate(chunks), sr, voice="tone", words=words,
                        timing_source="synthetic", kind=turn.kind)


def build_assembled(seed: int):
    """A 3-exchange conversation of tone words with barge-ins and backchannels, assembled (a TwoStreamCut)."""
    from duplexgen.augment import AugmentConfig, assemble, plan_conversation
    from duplexgen.core.records import AGENT, USER, Conversation, Turn

    cfg = AugmentConfig.from_dict({"barge_in": {"prob": 0.6, "max_per_conversation": 2}, "backchannel": {"prob": 0.9}})
    rng = np.random.default_rng(seed)
    turns = []
    for p in range(3):
        turns.append(Turn(USER, " ".join(f"q{p}w{k}" for k in range(4))))
        turns.append(Turn(AGENT, " ".join(f"a{p}w{k}" for k in range(14))))
    conv = plan_conversation(Conversation(f"eval-{seed}", "test", "test", str(seed), seed, turns), cfg, seed)
    return assemble(conv, [tone_turn(t, rng) for t in conv.turns], cfg, seed)


def write_eval_shard(cuts, root: Path) -> Path:
    from duplexgen.pipeline.shards import write_shard

    write_shard(cuts, root / "test", 0, root / ".staging")
    return root


@pytest.fixture(scope="session")
def eval_shards(tmp_path_factory) -> Path:
    """5 tone-word conversations with barge-ins and backchannels as one Shar shard folder."""
    from duplexgen.pipeline.shards import assembled_to_cut

    cuts = [assembled_to_cut(build_assembled(seed), f"eval-{seed}", {"source": "test"}) for seed in range(5)]
    return write_eval_shard(cuts, tmp_path_factory.mktemp("eval_shards"))


@pytest.fixture
def eval_tools():
    """The builders behind ``eval_shards``: ``build_assembled(seed)``, ``write_eval_shard(cuts, root)``, ``tone_turn``."""
    import types

    return types.SimpleNamespace(build_assembled=build_assembled, write_eval_shard=write_eval_shard, tone_turn=tone_turn)


@pytest.fixture(scope="session")
def tiny_tools():
    """The builders behind ``tiny_shards``: ``make_tiny_cuts(n, seed, turns)``, ``write_tiny_shards(out_dir, n, ...)``."""
    import types

    return types.SimpleNamespace(make_tiny_cuts=make_tiny_cuts, write_tiny_shards=write_tiny_shards)


# --------------------------------------------------------------------------- a real browser

#: Chromium's flags for a closed, headless machine: no sandbox (root in CI), no GPU, none of the background
#: connections to Google's services it makes at start (refused here, and noisy).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Decodes every <audio> of the page with the Web Audio API (fetching its data URL), and asks each element's own
#: decoder for its metadata: [{decoded, seconds, channels, error, element_seconds, element_error}].
DECODE_AUDIO = """async () => {
  const ctx = new OfflineAudioContext(1, 1, 16000);
  const out = [];
  for (const a of document.querySelectorAll('audio')) {
    const r = {decoded: false};
    try {
      const buf = await (await fetch(a.currentSrc || a.src)).arrayBuffer();
      const audio = await ctx.decodeAudioData(buf);
      Object.assign(r, {decoded: true, seconds: audio.duration, channels: audio.numberOfChannels});
    } catch (e) { r.error = String(e); }
    await new Promise(done => {
      if (a.readyState >= 1 || a.error) return done();
      a.addEventListener('loadedmetadata', done, {once: true});
      a.addEventListener('error', done, {once: true});
      a.load();
    });
    Object.assign(r, {element_seconds: a.duration, element_error: a.error ? a.error.code : null});
    out.push(r);
  }
  return out;
}"""


def _missing(msg: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI=true: make test installs it)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def browser():
    """``browser(html_path, screenshot_path) -> dict``: open the file in headless Chromium and return
    ``console_errors`` (console messages of type error, uncaught page errors, failed requests), ``audio``
    (DECODE_AUDIO per element), ``scroll_width`` and ``viewport_width`` (horizontal overflow), ``title``."""
    import shutil

    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        _missing("no chromium on PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)

        def check(html_path: Path, screenshot: Path) -> dict:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url[:80]}"))
            page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
            audio = page.evaluate(DECODE_AUDIO)
            page.screenshot(path=str(screenshot), full_page=True)
            widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            result = {"console_errors": errors, "audio": audio, "scroll_width": widths[0], "viewport_width": widths[1],
                      "title": page.title()}
            page.close()
            return result

        yield check
        browser.close()
