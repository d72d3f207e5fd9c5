"""The generate config: one YAML file + ``key=value`` overrides, typed by dataclasses.

Every field carries a one-line ``help`` that ``duplexgen generate --help`` prints, and each config
checks itself in ``__post_init__`` with an error that names the key to fix.

Example::

    cfg = load_generate_config("demo", ["output_dir=out/demo", "sources.0.max_rows=4"])
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from duplexgen.augment.config import AugmentConfig
from duplexgen.core.config import config_to_dict, format_help_table, help_field
from duplexgen.core.config import load_config as _load_config
from duplexgen.core.config import resolve_config_path as _resolve_config_path
from duplexgen.text.config import LLMConfig
from duplexgen.tts.config import TTSConfig

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "recipes" / "configs"


@dataclass
class SourceConfig:
    """One source of the mixture."""

    recipe: str = help_field("recipe name: alpaca, ms_marco, ultrachat, topic, asr_qa, real_conversations")
    path: Optional[str] = help_field("source file in the source's original schema; null = the shipped sample", None)
    name: Optional[str] = help_field("name of this source in ids, shards and reports (default: the recipe name)", None)
    max_rows: Optional[int] = help_field("read at most this many rows (null = all)", None)
    hours: Optional[float] = help_field("target hours of this source in the mixture (scaled by mixture_scale); null = use every row", None)
    seconds_per_row: float = help_field("estimated audio seconds per conversation, to turn an hours target into rows", 30.0)
    options: dict = help_field("options of this source's recipe: see \"sources[].options\" below", {})

    def __post_init__(self):
        if not self.recipe:
            raise ValueError("sources[].recipe is required")
        if self.max_rows is not None and self.max_rows < 0:
            raise ValueError(f"sources[].max_rows must be >= 0, got {self.max_rows}")
        if self.name is None:
            self.name = self.recipe


@dataclass
class RayConfig:
    """Where and how wide the stages run."""

    address: Optional[str] = help_field("Ray cluster address ('auto' or host:port); null = $RAY_ADDRESS or a local Ray", None)
    num_cpus: Optional[int] = help_field("CPUs for a local Ray (null = all)", None)
    render_workers: Optional[int] = help_field("actors rendering + assembling + writing shards (TTS is the costly part); null = every CPU not used by the LLM stage", None)
    render_cpus: float = help_field("CPUs per render actor", 1.0)
    render_gpus: float = help_field("GPUs per render actor (for neural TTS backends)", 0.0)
    llm_workers: int = help_field("actors running the LLM stage", 1)
    llm_gpus: float = help_field("GPUs per LLM actor (local model)", 0.0)
    start_timeout_s: float = help_field("wait this long for every actor of a stage to start before failing (the cluster lacks the resources, or an autoscaler is slow)", 600.0)

    def __post_init__(self):
        if self.render_workers is not None and self.render_workers < 1:
            raise ValueError(f"ray.render_workers must be >= 1, got {self.render_workers}")
        if self.llm_workers < 1:
            raise ValueError(f"ray.llm_workers must be >= 1, got {self.llm_workers}")
        if self.start_timeout_s <= 0:
            raise ValueError(f"ray.start_timeout_s must be > 0, got {self.start_timeout_s}")


@dataclass
class GenerateConfig:
    """`duplexgen generate`: sources -> conversations -> audio -> two-stream cuts -> Lhotse Shar shards."""

    output_dir: str = help_field("where shards, manifest, summary, index and rejects go: a local folder or an object-store URL (s3://bucket/prefix, gs://...)", "out/demo")
    work_dir: Optional[str] = help_field("local folder for shard staging and the TTS/LLM caches; null = output_dir when it is local, <tmp>/duplexgen-work/<hash> on each node when it is a URL", None)
    seed: int = help_field("seed for every random choice (voices, barge-ins, augmentation)", 1234)
    shard_size: int = help_field("source rows per shard (a shard holds at most this many conversations)", 20)
    mixture_scale: float = help_field("multiplies every sources[].hours target (1.0 = full size)", 1.0)
    sources: list[SourceConfig] = help_field("the sources of the mixture", [])
    tts: TTSConfig = field(default_factory=TTSConfig, metadata={"help": "text-to-speech: backend, voices, cache"})
    augment: AugmentConfig = field(default_factory=AugmentConfig, metadata={"help": "layout, barge-in, backchannels, user-stream augmentation"})
    llm: LLMConfig = field(default_factory=LLMConfig, metadata={"help": "LLM that writes answers and dialogs"})
    ray: RayConfig = field(default_factory=RayConfig, metadata={"help": "Ray execution"})

    def __post_init__(self):
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")
        if not self.sources:
            raise ValueError("sources is empty: list at least one source (see recipes/configs/demo.yaml)")
        if self.mixture_scale <= 0:
            raise ValueError(f"mixture_scale must be > 0, got {self.mixture_scale}")
        names = [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"sources[].name must be unique, repeated: {sorted(dup)} (set sources[].name)")


def load_config(schema: type, name_or_path: Optional[str], overrides: list[str]) -> Any:
    """``core.config.load_config`` with the shipped configs of ``recipes/configs/`` as named configs."""
    return _load_config(schema, name_or_path, overrides, configs_dir=CONFIGS_DIR)


def resolve_config_path(name_or_path: str, configs_dir: Path = CONFIGS_DIR, kind: str = "config", pattern: str = "*.yaml") -> Path:
    return _resolve_config_path(name_or_path, configs_dir, kind, pattern)


def load_generate_config(name_or_path: Optional[str], overrides: list[str] = ()) -> GenerateConfig:
    cfg = load_config(GenerateConfig, name_or_path, list(overrides))
    # Relative output dirs are relative to where the user runs the command.
    if "://" not in cfg.output_dir:
        cfg.output_dir = os.path.abspath(cfg.output_dir)
    if cfg.work_dir and "://" in cfg.work_dir:
        raise ValueError(f"work_dir must be a local folder (staging and caches), got {cfg.work_dir}")
    if cfg.work_dir:
        cfg.work_dir = os.path.abspath(cfg.work_dir)
    check_sources(cfg)
    return cfg


def source_options_help() -> str:
    """The ``--help`` text of ``sources[].options``: the keys every recipe takes, then each recipe's own keys and
    the fields its ``fields`` mapping can name (with the columns of the layouts it reads as they are)."""
    from duplexgen.recipes import RECIPES
    from duplexgen.recipes.base import SourceOptions

    common = [f.name for f in dataclasses.fields(SourceOptions)]
    lines = ["sources[].options (override as sources.N.options.KEY=value; N = the source's place in the list):",
             "  every recipe:", format_help_table(SourceOptions, "sources[].options.", indent="    ")]
    for name, recipe in RECIPES.items():
        lines.append(f"  {name}:")
        own = format_help_table(recipe.options, "sources[].options.", indent="    ", skip=common)
        if own:
            lines.append(own)
        if recipe.fields:
            known = "; ".join(f"{f} ({' | '.join(cols)})" for f, cols in recipe.fields.items())
            lines.append(f"    fields it reads (known columns): {known}")
        if not own and not recipe.fields:
            lines.append("    (no options of its own)")
    return "\n".join(lines)


def check_sources(cfg: GenerateConfig) -> None:
    """Check every source's recipe and ``options`` against the recipe's options class now, so a typo fails at
    once naming its key (not as one reject per row later), and refuse turn-length limits that contradict."""
    from duplexgen.recipes import get_recipe
    from duplexgen.recipes.base import check_options

    for i, src in enumerate(cfg.sources):
        try:
            recipe = get_recipe(src.recipe)
        except ValueError as e:
            raise ValueError(f"sources.{i}.recipe: {e}") from None
        opts = check_options(recipe, src.options, f"sources.{i}.options")
        limit = opts.normalize.max_turn_chars
        # Two limits on turn length: the per-source normalize limit (agent turns are cut at a sentence) and the
        # TTS's (rejects). One above the other would turn a raised normalize limit into silent TTS rejects.
        if limit > cfg.tts.max_chars:
            raise ValueError(
                f"sources.{i}.options.normalize.max_turn_chars={limit} is above tts.max_chars={cfg.tts.max_chars}: turns "
                f"between the two would be rejected by the TTS; raise tts.max_chars too (tts.max_chars={limit})")


__all__ = ["GenerateConfig", "SourceConfig", "RayConfig", "load_generate_config", "load_config", "resolve_config_path",
           "config_to_dict", "format_help_table", "help_field", "CONFIGS_DIR", "check_sources", "source_options_help"]
