"""Documentation a clone can follow: every file the Markdown pages link to or name lives in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LINK = re.compile(r"\]\(([^)\s]+)\)")
#: a Markdown file named in inline code or a code block ("see docs/ray-notes.md", `../shared/design/x.md`)
NAMED_MD = re.compile(r"(?<![\w/.-])((?:\.\./|\./)?(?:[\w.-]+/)*[\w.-]+\.md)\b")


def tracked_markdown() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return [REPO / f for f in out]


def resolves(page: Path, target: str) -> bool:
    """The target exists inside the repository, relative to the page or to the repository root."""
    for base in (page.parent, REPO):
        p = (base / target).resolve()
        if p.exists() and REPO.resolve() in (p, *p.parents):
            return True
    return False


def test_every_linked_or_named_file_is_in_the_repository():
    broken = []
    for page in tracked_markdown():
        text = page.read_text()
        targets = [t.split("#")[0] for t in LINK.findall(text) if not re.match(r"^(https?:|mailto:|#)", t)]
        # named paths that point into the repository or out of it (not output names such as OUT/bench.md)
        top = {q.name for q in REPO.iterdir() if q.is_dir()}
        targets += [t for t in NAMED_MD.findall(text) if "/" in t and (t.startswith("..") or t.lstrip("./").split("/")[0] in top)]
        for t in targets:
            if t and not resolves(page, t):
                broken.append(f"{page.relative_to(REPO)}: {t}")
    assert not broken, broken


def test_the_checker_catches_a_link_outside_the_clone(tmp_path):
    page = REPO / "README.md"
    assert not resolves(page, "../shared/design/shard-contract.md")
    assert resolves(page, "docs/shard-contract.md")
    assert NAMED_MD.findall("see ../shared/design/ray-notes.md); x") == ["../shared/design/ray-notes.md"]
