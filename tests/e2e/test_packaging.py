"""The package builds without a setuptools warning and its wheel holds every module and data file (a non-editable
install must run the demo, the trainer and the report as a clone does)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_wheel_builds_quietly_and_holds_every_module_and_data_file(tmp_path: Path):
    # --no-build-isolation: build with this environment's setuptools (nothing downloaded)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    warnings = [ln for ln in (r.stdout + r.stderr).splitlines() if "warning" in ln.lower()]
    assert warnings == [], "\n".join(warnings)
    wheel = next(tmp_path.glob("duplexgen-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    # every tracked module and data file of the package folders (not the tests, docs, CI, benchmark scripts and their
    # results, or top-level project files)
    expected = {f"duplexgen/{f}" for f in tracked
                if "/" in f and f.split("/")[0] not in ("tests", ".ci", "docs", "benchmarks") and Path(f).suffix in (".py", ".yaml", ".txt", ".json", ".jsonl", ".flac")}
    expected.add("duplexgen/__init__.py")
    missing = sorted(expected - names)
    assert not missing, missing
    assert "duplexgen/training/configs/tiny_cpu.yaml" in names and "duplexgen/text/prompts/answer_v1.txt" in names
