"""Versioned prompt files: ``text/prompts/<name>.txt`` with ``[system]`` and ``[user]`` sections.

A new prompt version is a new file (``answer_v2.txt``), hence new cache keys: a cached answer is never
served for a different prompt.

Example::

    load_prompt("answer_v1").messages(question="What is the capital of France?")
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"

Messages = list[dict[str, str]]


@dataclass
class Prompt:
    """A versioned prompt file: ``[system]`` and ``[user]`` sections with ``$name`` placeholders."""

    name: str
    system: str
    user: str

    def messages(self, **values: Any) -> Messages:
        sub = {k: str(v) for k, v in values.items()}
        return [
            {"role": "system", "content": string.Template(self.system).substitute(sub).strip()},
            {"role": "user", "content": string.Template(self.user).substitute(sub).strip()},
        ]


def load_prompt(name: str) -> Prompt:
    """Read ``text/prompts/<name>.txt``; lines starting with ``#`` before the first section are comments."""
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.exists():
        choices = sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))
        raise ValueError(f"prompt {name!r} not found in {PROMPTS_DIR}; choose one of {choices}")
    sections: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\[(system|user)\]\s*", line)
        if m:
            current = m.group(1)
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"{path}: text before the first [system]/[user] section: {line!r}")
    if set(sections) != {"system", "user"}:
        raise ValueError(f"{path}: needs a [system] and a [user] section")
    return Prompt(name, "\n".join(sections["system"]), "\n".join(sections["user"]))


__all__ = ["Prompt", "load_prompt", "PROMPTS_DIR", "Messages"]
