"""The report as a person opens it: a real corpus (four sources, with barge-ins, backchannels and noise), its
report.html opened in headless Chromium: a screenshot, no console error, every audio element decodes, nothing
wider than the window, one example with a timeline per source, counts as in summary.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from duplexgen.pipeline.cli import main
from duplexgen.pipeline.report import write_report

pytestmark = pytest.mark.slow

CONFIG = """\
shard_size: 2
sources:
  - recipe: alpaca
    max_rows: 2
  - recipe: ms_marco
    max_rows: 3
  - recipe: ultrachat
    max_rows: 2
    options: {max_exchanges: 2}
  - recipe: real_conversations
    max_rows: 2
augment:
  barge_in: {prob: 1.0}
  backchannel: {prob: 1.0}
  user_stream: {enabled: true, noise_prob: 1.0, noise_silent_stretch_prob: 1.0}
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "cfg.yaml").write_text(CONFIG)
    out = root / "out"
    assert main(["generate", str(root / "cfg.yaml"), f"output_dir={out}", "--no-ray"]) == 0
    return out


def test_the_report_opens_cleanly_in_a_real_browser(corpus: Path, browser, tmp_path: Path):
    page = Path(write_report(corpus))
    html = page.read_text()
    summary = json.loads((corpus / "summary.json").read_text())
    sources = [name for name, v in summary["per_source"].items() if v["conversations"]]
    assert len(sources) == 4

    shot = tmp_path / "report.png"
    seen = browser(page, shot)
    assert shot.stat().st_size > 50_000  # a real rendering, not a blank page
    assert seen["console_errors"] == []
    assert seen["title"].startswith("duplexgen report")
    assert seen["scroll_width"] <= seen["viewport_width"], "something is wider than the window (long transcript lines?)"
    # one example per source, each with a timeline image and a stereo audio element that decodes
    assert len(seen["audio"]) == len(sources)
    durations = sorted(float(s) for s in re.findall(r"<p>([0-9.]+) s; ", html))
    for a in seen["audio"]:
        assert a["decoded"] and a["channels"] == 2 and a["element_error"] is None, a
        assert a["element_seconds"] > 1.0
    assert sorted(round(a["seconds"], 1) for a in seen["audio"]) == pytest.approx([round(d, 1) for d in durations], abs=0.15)
    for name in sources:
        assert f"<h3>{name} " in html
    assert html.count("class='timeline'") == len(sources)
    assert "barge-in(s)" in html and "user stream: noise" in html
    # counts as the run wrote them; one rejects section; no raw JSON dump
    assert f"{summary['finished_shards']:,} finished of {summary['planned_shards']:,} planned" in html
    assert html.count("<h2>Rejects</h2>") == 1 and "planned_shards" not in html and "<pre>" not in html
    # voices by name, with the exact parameters in a tooltip
    assert re.search(r"<abbr title='espeak:[^']+'>[A-Z][a-z]+ English", html)
