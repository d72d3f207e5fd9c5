"""The generate config: one YAML file + ``key=value`` overrides, typed by dataclasses.

Every field carries a one-line ``help`` that ``duplexgen generate --help`` prints, and each config
checks itself in ``__post_init__`` with an error that names the key to fix.

Example::

    cfg = load_generate_config("demo", ["output_dir=/tmp/out", "sources.0.max_rows=4"])
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from duplexgen.augment.config import AugmentConfig
from duplexgen.pipeline.llm import LLMConfig
from duplexgen.tts.config import TTSConfig

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "recipes" / "configs"


def _help(text: str, default: Any = dataclasses.MISSING, **kw) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": text}, **kw)
    return field(default=default, metadata={"help": text}, **kw)


@dataclass
class SourceConfig:
    """One source of the mixture."""

    recipe: str = _help("recipe name: alpaca, ms_marco, ultrachat, topic, asr_qa, real_conversations")
    path: Optional[str] = _help("source file in the source's original schema; null = the shipped sample", None)
    name: Optional[str] = _help("name of this source in ids, shards and reports (default: the recipe name)", None)
    max_rows: Optional[int] = _help("read at most this many rows (null = all)", None)
    hours: Optional[float] = _help("target hours of this source in the mixture (scaled by mixture_scale); null = use every row", None)
    seconds_per_row: float = _help("estimated audio seconds per conversation, to turn an hours target into rows", 30.0)
    options: dict = _help("recipe-specific options (e.g. max_exchanges: 4)", {})

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

    address: Optional[str] = _help("Ray cluster address ('auto' or host:port); null = $RAY_ADDRESS or a local Ray", None)
    num_cpus: Optional[int] = _help("CPUs for a local Ray (null = all)", None)
    render_workers: Optional[int] = _help("actors rendering + assembling + writing shards (TTS is the costly part); null = every CPU not used by the LLM stage", None)
    render_cpus: float = _help("CPUs per render actor", 1.0)
    render_gpus: float = _help("GPUs per render actor (for neural TTS backends)", 0.0)
    llm_workers: int = _help("actors running the LLM stage", 1)
    llm_gpus: float = _help("GPUs per LLM actor (local model)", 0.0)

    def __post_init__(self):
        if self.render_workers is not None and self.render_workers < 1:
            raise ValueError(f"ray.render_workers must be >= 1, got {self.render_workers}")
        if self.llm_workers < 1:
            raise ValueError(f"ray.llm_workers must be >= 1, got {self.llm_workers}")


@dataclass
class GenerateConfig:
    """`duplexgen generate`: sources -> conversations -> audio -> two-stream cuts -> Lhotse Shar shards."""

    output_dir: str = _help("where shards, manifest, summary, index and rejects go: a local folder or an object-store URL (s3://bucket/prefix, gs://...)", "out/demo")
    work_dir: Optional[str] = _help("local folder for shard staging and the TTS/LLM caches; null = output_dir when it is local, <tmp>/duplexgen-work/<hash> on each node when it is a URL", None)
    seed: int = _help("seed for every random choice (voices, barge-ins, augmentation)", 1234)
    shard_size: int = _help("source rows per shard (a shard holds at most this many conversations)", 20)
    mixture_scale: float = _help("multiplies every sources[].hours target (1.0 = full size)", 1.0)
    sources: list[SourceConfig] = _help("the sources of the mixture", [])
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


def resolve_config_path(name_or_path: str, configs_dir: Path = CONFIGS_DIR, kind: str = "config", pattern: str = "*.yaml") -> Path:
    """A config path, or the name of a shipped config in ``configs_dir`` (``demo`` -> demo.yaml).

    ``kind`` names the config in the error; ``pattern`` picks the shipped names offered there."""
    p = Path(name_or_path)
    if p.exists():
        return p
    shipped = configs_dir / (name_or_path if name_or_path.endswith(".yaml") else f"{name_or_path}.yaml")
    if shipped.exists():
        return shipped
    choices = sorted(q.stem for q in configs_dir.glob(pattern))
    raise FileNotFoundError(f"{kind} not found: {name_or_path} (give a YAML path or one of the shipped configs: {choices})")


def load_config(schema: type, name_or_path: Optional[str], overrides: list[str]) -> Any:
    """Merge schema defaults <- YAML file <- ``key=value`` overrides; return the checked dataclass.

    YAML is parsed, never evaluated (OmegaConf resolvers other than interpolation are not registered)."""
    import yaml

    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ValueError(f"overrides must look like key=value, got {bad}")
    try:
        cfg = OmegaConf.structured(schema)
        if name_or_path:
            path = resolve_config_path(name_or_path)
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise ValueError(f"{path}: a config is a YAML mapping of keys, got {type(data).__name__}")
            reject_interpolation(data, str(path))
            cfg = OmegaConf.merge(cfg, OmegaConf.create(data))
        for o in overrides:
            key, value = o.split("=", 1)
            # Values are YAML scalars/lists (parsed, never evaluated); list items by index: sources.0.path=...
            parsed = yaml.safe_load(value) if value.strip() else None
            reject_interpolation(parsed, key)
            OmegaConf.update(cfg, key.strip(), parsed, merge=True, force_add=False)
        return OmegaConf.to_object(cfg)
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as e:  # omegaconf errors name the key; keep their message, drop the stack
        msg = str(e).split("\n    full_key")[0]
        raise ValueError(f"bad config: {msg}") from None


def reject_interpolation(value: Any, where: str) -> None:
    """Configs are data: refuse OmegaConf interpolations such as ${oc.env:SECRET}, which would be evaluated
    (and could copy a secret from the environment into config.json)."""
    if isinstance(value, str) and "${" in value:
        raise ValueError(f"{where}: interpolation '${{...}}' is not allowed in duplexgen configs (got {value!r}); write the value itself")
    if isinstance(value, dict):
        for k, v in value.items():
            reject_interpolation(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            reject_interpolation(v, f"{where}.{i}")


def load_generate_config(name_or_path: Optional[str], overrides: list[str] = ()) -> GenerateConfig:
    cfg = load_config(GenerateConfig, name_or_path, list(overrides))
    # Relative output dirs are relative to where the user runs the command.
    if "://" not in cfg.output_dir:
        cfg.output_dir = os.path.abspath(cfg.output_dir)
    if cfg.work_dir and "://" in cfg.work_dir:
        raise ValueError(f"work_dir must be a local folder (staging and caches), got {cfg.work_dir}")
    if cfg.work_dir:
        cfg.work_dir = os.path.abspath(cfg.work_dir)
    return cfg


def config_to_dict(cfg: Any) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def describe_fields(schema: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every field, recursing into nested configs: the --help table."""
    rows = []
    for f in dataclasses.fields(schema):
        key = f"{prefix}{f.name}"
        sub = f.type if isinstance(f.type, type) else None
        if sub is None and isinstance(f.type, str):
            sub = _resolve_nested(schema, f)
        if sub is not None and dataclasses.is_dataclass(sub):
            rows.append((key, "", f.metadata.get("help", "")))
            rows.extend(describe_fields(sub, key + "."))
            continue
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = repr(f.default_factory())  # type: ignore[misc]
        else:
            default = "(required)"
        rows.append((key, default, f.metadata.get("help", "")))
        if f.name == "sources":
            rows.extend(describe_fields(SourceConfig, key + "[]."))
    return rows


def _resolve_nested(schema: type, f: dataclasses.Field) -> Optional[type]:
    import typing

    try:
        hints = typing.get_type_hints(schema)
    except Exception:
        return None
    t = hints.get(f.name)
    return t if isinstance(t, type) and dataclasses.is_dataclass(t) else None


def format_help_table(schema: type) -> str:
    rows = describe_fields(schema)
    width = min(38, max(len(k) for k, _, _ in rows))
    lines = []
    for key, default, text in rows:
        d = f" [default: {default}]" if default else ""
        lines.append(f"  {key:<{width}}  {text}{d}")
    return "\n".join(lines)
