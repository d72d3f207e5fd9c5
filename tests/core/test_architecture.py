"""The floors and rooms of the package (README "Architecture"), checked on the source itself.

Imports run one way: core/ imports nothing else of duplexgen; the domain rooms (recipes, tts, augment,
text) import core (recipes also text, for normalization) and never the floor above; pipeline/ and
training/ sit on top side by side and never import each other. The timing constants are assigned
once, in core/timing.py. These tests parse every module's imports (top-level and inside functions),
so a shortcut taken anywhere fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOMS = ("core", "recipes", "tts", "augment", "text", "pipeline", "training")

#: Which rooms each room may import (besides itself).
ALLOWED = {
    "core": set(),
    "text": {"core"},
    "tts": {"core"},
    "augment": {"core"},
    "recipes": {"core", "text"},
    "pipeline": {"core", "text", "tts", "augment", "recipes"},
    "training": {"core", "text", "tts"},
}


def room_modules(room: str) -> list[Path]:
    return sorted(p for p in (REPO / room).rglob("*.py") if "samples" not in p.parts)


def duplexgen_imports(path: Path) -> set[str]:
    """The rooms a module imports (``duplexgen.<room>...``), wherever the import statement is."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for n in names:
            parts = n.split(".")
            if parts[0] == "duplexgen" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


def test_every_room_is_listed():
    folders = {p.name for p in REPO.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(ROOMS), "a new top-level package needs a place in ALLOWED and in the README's floor picture"


@pytest.mark.parametrize("room", ROOMS)
def test_imports_run_one_way(room):
    wrong = {}
    for path in room_modules(room):
        bad = duplexgen_imports(path) - ALLOWED[room] - {room}
        if bad:
            wrong[str(path.relative_to(REPO))] = sorted(bad)
    assert not wrong, f"{room}/ may import only {sorted(ALLOWED[room])}: {wrong}"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from duplexgen.pipeline.stages import AudioStage\n    import duplexgen.training.model\n")
    assert duplexgen_imports(p) == {"pipeline", "training"}


def _assigned_constants(path: Path, value: float) -> list[str]:
    hits = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant) and node.value.value == value:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            hits += [f"{path.relative_to(REPO)}:{node.lineno} {ast.unparse(t)}" for t in targets]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defaults = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            hits += [f"{path.relative_to(REPO)}:{node.lineno} default of {node.name}" for d in defaults
                     if isinstance(d, ast.Constant) and d.value == value]
        if isinstance(node, ast.keyword) and node.arg == "default" and isinstance(node.value, ast.Constant) and node.value.value == value:
            hits.append(f"{path.relative_to(REPO)}:{node.value.lineno} field default")
    return hits


def test_paper_timing_is_assigned_once():
    hits = [h for room in ROOMS for p in room_modules(room) for h in _assigned_constants(p, 0.64)]
    where = sorted((h.split(":")[0], h.split(" ", 1)[1]) for h in hits)
    assert where == [("core/timing.py", "BARGE_IN_KEEP_S"), ("core/timing.py", "GAP_S")], hits


def test_the_frame_is_assigned_once():
    hits = [h for room in ROOMS for p in room_modules(room) for h in _assigned_constants(p, 0.08)]
    assert [h.split(":")[0] for h in hits] == ["core/timing.py"], hits
