"""`duplexgen train-codec` configuration: one YAML file + ``key=value`` overrides, typed by a dataclass.

Shipped configs in ``training/codec/configs/``: ``codec_tiny_cpu`` (a tiny NanoCodec-shaped codec,
2 Ray Train CPU workers, for tests and the demo) and ``codec_nanocodec`` (fine-tune the released
NanoCodec 0.6 kbps ``.nemo`` on GPUs). Every field has a one-line help that ``--help`` prints.

Example::

    cfg = load_codec_train_config("codec_tiny_cpu", ["data_dir=out/codec_set_demo", "max_steps=20"])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from duplexgen.pipeline.config import _help, format_help_table, load_config, resolve_config_path
from duplexgen.training.config import PAPER_CODEC

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
TRAINABLE_PARTS = ("encoder", "decoder")
DISCRIMINATOR_MODES = ("auto", "on", "off")


@dataclass
class CodecTrainConfig:
    """`duplexgen train-codec`: fine-tune a NeMo AudioCodecModel on the agent-voice set, with Ray Train."""

    data_dir: str = _help("codec-personalization set (duplexgen generate-codec-set): holds train/ and heldout/ Shar shards", "out/codec_set")
    output_dir: str = _help("checkpoints/step_NNNNNNN, metrics.jsonl, tb/, codec.nemo (the result) and eval/", "out/codec_train")
    pretrained_codec: Optional[str] = _help("codec .nemo to fine-tune (NanoCodec 22,050 Hz 12.5 fps 0.6 kbps); null = build from codec", None)
    codec: dict = _help("AudioCodecModel config used when pretrained_codec is null (merged over the NanoCodec-shaped one)", PAPER_CODEC)
    loss_scales: dict = _help("override the codec's own loss scales, e.g. {si_sdr_loss_scale: 1.0, stft_loss_scale: 0.5}", {})
    trainable: list = _help("parts to fine-tune: encoder, decoder (the FSQ quantizer has no weights); both change the codes", ["encoder", "decoder"])
    discriminator: str = _help("adversarial training: auto (when the codec has a discriminator), on (required), off (reconstruction losses only)", "auto")
    seed: int = _help("seed for data order, segment offsets and initialisation", 1234)
    # data
    segment_seconds: float = _help("random segment of each utterance per training example (shorter ones are zero-padded, masked)", 2.0)
    batch_size: int = _help("segments per batch per worker", 8)
    # optimisation
    max_steps: int = _help("optimizer steps", 10000)
    lr: float = _help("peak learning rate (AdamW) for the codec and the discriminator", 1e-4)
    betas: list = _help("AdamW betas (NeMo's codec recipes: [0.8, 0.99])", [0.8, 0.99])
    weight_decay: float = _help("AdamW weight decay", 0.0)
    warmup_steps: int = _help("linear warmup steps, then a constant lr", 100)
    grad_clip: float = _help("clip the gradient norm of each optimizer's parameters to this (0 = off)", 1.0)
    # Ray Train
    num_workers: int = _help("Ray Train workers (one per GPU)", 1)
    use_gpu: bool = _help("one GPU per worker (false: CPU workers with gloo)", True)
    cpus_per_worker: float = _help("CPUs reserved per worker", 1.0)
    ray_address: Optional[str] = _help("Ray cluster address; null = $RAY_ADDRESS or a local Ray", None)
    ray_num_cpus: Optional[int] = _help("CPUs of a local Ray (null = all)", None)
    max_failures: int = _help("Ray Train restarts after a worker failure (each resumes from the latest checkpoint)", 0)
    # bookkeeping
    checkpoint_every: int = _help("save codec, discriminator, optimizers and data position every N steps (and at the end)", 1000)
    keep_checkpoints: int = _help("keep this many latest checkpoints (0 = all)", 2)
    log_every: int = _help("TensorBoard scalars every N steps", 10)
    val_every: int = _help("reconstruction losses on held-out utterances every N steps (0 = only at start and end)", 1000)
    val_utterances: int = _help("held-out utterances used for the validation losses", 32)
    evaluate_after: bool = _help("after training, run the before/after evaluation on the held-out set (output_dir/eval)", True)
    eval_utterances: int = _help("held-out utterances for the before/after evaluation (0 = all)", 200)
    fail_at_step: Optional[int] = _help("testing aid: raise an error after this step's checkpoint (exercises resume)", None)

    def __post_init__(self):
        if self.pretrained_codec is None and not self.codec:
            raise ValueError("pretrained_codec or codec must be set (the codec to fine-tune has to come from somewhere)")
        bad = [p for p in self.trainable if p not in TRAINABLE_PARTS]
        if bad or not self.trainable:
            raise ValueError(f"trainable must be a non-empty subset of {list(TRAINABLE_PARTS)}, got {self.trainable}")
        if self.discriminator not in DISCRIMINATOR_MODES:
            raise ValueError(f"discriminator must be one of {DISCRIMINATOR_MODES}, got {self.discriminator!r}")
        if self.segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be > 0, got {self.segment_seconds}")
        for k in ("batch_size", "max_steps", "num_workers", "checkpoint_every", "log_every", "val_utterances"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1, got {getattr(self, k)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.warmup_steps < 0 or self.val_every < 0 or self.eval_utterances < 0:
            raise ValueError("warmup_steps, val_every and eval_utterances must be >= 0")


def resolve_codec_config_path(name_or_path: str) -> Path:
    return resolve_config_path(name_or_path, CONFIGS_DIR, kind="codec train config", pattern="codec_[!s]*.yaml")


def load_codec_train_config(name_or_path: Optional[str], overrides: list[str] = ()) -> CodecTrainConfig:
    """Schema defaults <- YAML <- ``key=value`` overrides; relative paths become absolute (workers may run elsewhere)."""
    path = str(resolve_codec_config_path(name_or_path)) if name_or_path else None
    cfg = load_config(CodecTrainConfig, path, list(overrides))
    cfg.data_dir = _abs(cfg.data_dir)
    cfg.output_dir = _abs(cfg.output_dir)
    if cfg.pretrained_codec:
        cfg.pretrained_codec = _abs(cfg.pretrained_codec)
    return cfg


def codec_config_from_dict(d: dict) -> CodecTrainConfig:
    from omegaconf import OmegaConf

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(CodecTrainConfig), OmegaConf.create(d)))


def _abs(p: str) -> str:
    return p if "://" in p else os.path.abspath(os.path.expanduser(p))


def codec_train_help_table() -> str:
    return format_help_table(CodecTrainConfig)
