"""Frame-synchronous inference with a trained SALM-Duplex checkpoint (used by evaluation).

User audio in (16 kHz), agent text and agent audio out (22,050 Hz): at every 80 ms user frame the
model emits one text token and 4 codec codes, fed back at the next frame (NeMo's offline_inference).
Decoding is NeMo's greedy one by default; ``DecodeConfig`` adds BOS/EOS thresholds and sampling
(see ``duplexgen.training.model.DecodeConfig``).

Example::

    model = load_model("out/train_tiny")            # a run folder (latest checkpoint), a step/best folder or an export
    out = generate(model, user_audio_16k, decoding={"bos_threshold": 0.2, "eos_threshold": 0.2})
    out["text"], out["agent_intervals"], out["agent_audio_22k"].shape
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch
from torch import Tensor

from duplexgen.training.model import DecodeConfig


def resolve_checkpoint(path: Union[str, Path]) -> Path:
    """A checkpoint folder: ``path`` itself when it holds ``model.pt`` (a step or ``best``) or ``model.safetensors``
    (an export), else the latest under ``path/checkpoints``."""
    from duplexgen.training.checkpoint import latest_checkpoint

    p = Path(path)
    if (p / "model.pt").exists() or (p / "model.safetensors").exists():
        return p
    ckpt = latest_checkpoint(str(p))
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint in {p} (expected model.pt or checkpoints/step_NNNNNNN/)")
    return ckpt


def load_model(checkpoint_dir: Union[str, Path], device: Union[str, torch.device] = "cpu"):
    """Rebuild the model from the checkpoint's ``train_config.yaml`` and load its weights (eval mode)."""
    from omegaconf import OmegaConf

    from duplexgen.training.config import train_config_from_dict
    from duplexgen.training.model import SALMDuplex
    from duplexgen.training.tokenizer import load_tokenizer

    ckpt = resolve_checkpoint(checkpoint_dir)
    if (ckpt / "model.safetensors").exists():
        from duplexgen.training.export import load_exported

        return load_exported(ckpt, device)
    cfg = train_config_from_dict(OmegaConf.to_container(OmegaConf.load(ckpt / "train_config.yaml"), resolve=True))
    # The tokenizer saved with the checkpoint (explicit pad) when there is one; the state dict carries every weight.
    tokenizer = load_tokenizer(str(ckpt / "tokenizer")) if (ckpt / "tokenizer").exists() else None
    model = SALMDuplex(cfg.model, tokenizer=tokenizer, pretrained_weights=False)
    model.load_state_dict(torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True))
    return model.to(device).eval()


@torch.no_grad()
def generate(model, user_audio_16k: Tensor, user_audio_lens: Optional[Tensor] = None, decode_audio: bool = True,
             decoding: Optional[Union[DecodeConfig, dict]] = None) -> dict:
    """Run the duplex model over whole user streams.

    ``decoding``: a ``DecodeConfig`` (or its fields as a dict); None = NeMo's greedy decoding.
    Returns ``text_tokens`` [B, T] (one per 80 ms frame), ``text`` (list of B strings without pad/BOS/EOS),
    ``codes`` [B, 4, T], ``lengths`` [B] (frames), ``agent_intervals`` (per stream, the agent's turns read from
    the text channel, seconds), and when ``decode_audio``: ``agent_audio_22k`` [B, S] and ``agent_audio_lens`` [B]."""
    if isinstance(decoding, dict):
        decoding = DecodeConfig(**decoding)
    if user_audio_16k.dim() == 1:
        user_audio_16k = user_audio_16k[None]
    device = model.device
    x = user_audio_16k.to(device=device, dtype=torch.float32)
    if user_audio_lens is None:
        user_audio_lens = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
    model.eval()
    return model.offline_inference(x, user_audio_lens.to(device), decode_audio=decode_audio, decoding=decoding)
