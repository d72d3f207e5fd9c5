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

from duplexgen.core.config import help_field, load_config, resolve_config_path

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
TRAINABLE_PARTS = ("encoder", "decoder")
DISCRIMINATOR_MODES = ("auto", "on", "off")


@dataclass
class CodecTrainConfig:
    """`duplexgen train-codec`: fine-tune a NeMo AudioCodecModel on the agent-voice set, with Ray Train."""

    data_dir: str = help_field("codec-personalization set (duplexgen generate-codec-set): holds train/ and heldout/ Shar shards", "out/codec_set")
    output_dir: str = help_field("checkpoints/step_NNNNNNN, metrics.jsonl, tb/, codec.nemo (the result) and eval/", "out/codec_train")
    pretrained_codec: Optional[str] = help_field("codec .nemo to fine-tune (NanoCodec 22,050 Hz 12.5 fps 0.6 kbps); null = build from codec", None)
    codec: dict = help_field("AudioCodecModel config used when pretrained_codec is null, merged over the NanoCodec-shaped PAPER_CODEC "
                             "({} = that one; a node with another _target_ replaces the paper's node)", {})
    loss_scales: dict = help_field("override the codec's own loss scales, e.g. {si_sdr_loss_scale: 1.0, stft_loss_scale: 0.5}", {})
    trainable: list = help_field("parts to fine-tune: encoder, decoder (the FSQ quantizer has no weights); both change the codes", ["encoder", "decoder"])
    discriminator: str = help_field("adversarial training: auto (when the codec has a discriminator), on (required), off (reconstruction losses only)", "auto")
    seed: int = help_field("seed for data order, segment offsets and initialisation", 1234)
    # data
    segment_seconds: float = help_field("random segment of each utterance per training example (shorter ones are zero-padded, masked)", 2.0)
    batch_size: int = help_field("segments per batch per worker", 8)
    # optimisation
    max_steps: int = help_field("optimizer steps", 10000)
    lr: float = help_field("peak learning rate (AdamW) for the codec and the discriminator", 1e-4)
    betas: list = help_field("AdamW betas (NeMo's codec recipes: [0.8, 0.99])", [0.8, 0.99])
    weight_decay: float = help_field("AdamW weight decay", 0.0)
    warmup_steps: int = help_field("linear warmup steps, then a constant lr", 100)
    grad_clip: float = help_field("clip the gradient norm of each optimizer's parameters to this (0 = off)", 1.0)
    # Ray Train
    num_workers: int = help_field("Ray Train workers (one per GPU)", 1)
    use_gpu: bool = help_field("one GPU per worker (false: CPU workers with gloo)", True)
    cpus_per_worker: float = help_field("CPUs reserved per worker", 1.0)
    ray_address: Optional[str] = help_field("Ray cluster address; null = $RAY_ADDRESS or a local Ray", None)
    ray_num_cpus: Optional[int] = help_field("CPUs of a local Ray (null = all)", None)
    max_failures: int = help_field("Ray Train restarts after a worker failure (each resumes from the latest checkpoint)", 0)
    # bookkeeping
    checkpoint_every: int = help_field("save codec, discriminator, optimizers and data position every N steps (and at the end)", 1000)
    keep_checkpoints: int = help_field("keep this many latest checkpoints (0 = all)", 2)
    log_every: int = help_field("TensorBoard scalars every N steps", 10)
    val_every: int = help_field("reconstruction losses on held-out utterances every N steps (0 = only at start and end)", 1000)
    val_utterances: int = help_field("held-out utterances used for the validation losses", 32)
    evaluate_after: bool = help_field("after training, run the before/after evaluation on the held-out set (output_dir/eval)", True)
    eval_utterances: int = help_field("held-out utterances for the before/after evaluation (0 = all)", 200)
    fail_at_step: Optional[int] = help_field("testing aid: raise an error after this step's checkpoint (exercises resume)", None)

    def __post_init__(self):
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
    return resolve_config_path(name_or_path, CONFIGS_DIR, kind="codec train config", pattern="codec_*.yaml")


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
