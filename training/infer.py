"""Greedy frame-synchronous inference with a trained SALM-Duplex checkpoint (used by evaluation).

User audio in (16 kHz), agent text and agent audio out (22,050 Hz): at every 80 ms user frame the
model emits one text token and 4 codec codes, fed back at the next frame (NeMo's offline_inference).

Example::

    model = load_model("out/train_tiny")            # a run folder (latest checkpoint) or a step_NNNNNNN folder
    out = generate(model, user_audio_16k)            # Tensor [B, T] at 16 kHz
    out["text"], out["agent_audio_22k"].shape
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch
from torch import Tensor


def resolve_checkpoint(path: Union[str, Path]) -> Path:
    """A checkpoint folder: ``path`` itself when it holds ``model.pt``, else the latest under ``path/checkpoints``."""
    from duplexgen.training.checkpoint import latest_checkpoint

    p = Path(path)
    if (p / "model.pt").exists():
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

    ckpt = resolve_checkpoint(checkpoint_dir)
    cfg = train_config_from_dict(OmegaConf.to_container(OmegaConf.load(ckpt / "train_config.yaml"), resolve=True))
    model = SALMDuplex(cfg.model, pretrained_weights=False)  # the state dict below carries every weight
    model.load_state_dict(torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True))
    return model.to(device).eval()


@torch.no_grad()
def generate(model, user_audio_16k: Tensor, user_audio_lens: Optional[Tensor] = None, decode_audio: bool = True) -> dict:
    """Run the duplex model over whole user streams.

    Returns ``text_tokens`` [B, T] (one per 80 ms frame), ``text`` (list of B strings without pad/BOS/EOS),
    ``codes`` [B, 4, T], ``lengths`` [B] (frames), and when ``decode_audio``: ``agent_audio_22k`` [B, S]
    and ``agent_audio_lens`` [B]."""
    if user_audio_16k.dim() == 1:
        user_audio_16k = user_audio_16k[None]
    device = model.device
    x = user_audio_16k.to(device=device, dtype=torch.float32)
    if user_audio_lens is None:
        user_audio_lens = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
    model.eval()
    return model.offline_inference(x, user_audio_lens.to(device), decode_audio=decode_audio)
