"""Every reject the code can raise has a registered cause code (so reports group it and can say what to change)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from duplexgen.core.records import Reject, RejectError
from duplexgen.core.rejects import REJECT_KINDS

REPO = Path(__file__).resolve().parents[2]
ROOMS = ("core", "recipes", "tts", "augment", "text", "pipeline", "training")


def reject_calls():
    """(file:line, the code= argument as source text or None) of every RejectError(...) in the package."""
    for room in ROOMS:
        for path in sorted((REPO / room).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "RejectError":
                    code = next((k.value for k in node.keywords if k.arg == "code"), None)
                    yield f"{path.relative_to(REPO)}:{node.lineno}", code


def test_every_reject_in_the_code_names_a_registered_cause():
    calls = list(reject_calls())
    assert len(calls) > 50
    missing = [where for where, code in calls if code is None]
    assert not missing, f"RejectError without code=: {missing}"
    literal = [(where, code.value) for where, code in calls if isinstance(code, ast.Constant)]
    unknown = [(where, c) for where, c in literal if c not in REJECT_KINDS]
    assert not unknown, unknown
    # the rest pass a caught reject's code on (code=e.code, or a cached one)
    passed_on = [(where, ast.unparse(code)) for where, code in calls if not isinstance(code, ast.Constant)]
    assert all("code" in src for _, src in passed_on), passed_on


def test_an_unknown_code_fails_loudly_and_the_code_travels_to_the_rejects_file():
    with pytest.raises(ValueError, match="unknown reject code"):
        RejectError("x", code="tts.typo")
    e = RejectError("turn too long for the TTS (1200 chars > tts.max_chars=1000)", code="tts.too-long", stage="tts")
    rec = Reject("s", "1", "s:1", e.stage, e.reason, e.code).to_dict()
    assert rec["code"] == "tts.too-long" and Reject.from_dict(rec).code == "tts.too-long"
    assert Reject.from_dict({k: v for k, v in rec.items() if k != "code"}).code == "unclassified"  # an older rejects file


def test_codes_are_short_and_stable_in_form():
    for code, kind in REJECT_KINDS.items():
        assert code == kind.code and code.replace(".", "").replace("-", "").replace("?", "").isalpha() and len(code) <= 30
        assert kind.summary and (not kind.key or kind.example)
