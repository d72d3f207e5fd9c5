"""Export a trained SALM-Duplex model in the layout NeMo's speechlm2 writes and loads (Hugging Face Hub style).

NeMo 3.0.0's ``DuplexS2SModel`` is a ``PyTorchModelHubMixin``: ``save_pretrained`` writes ``config.json`` (the
model config plus ``model_type``/``architectures``) and ``model.safetensors``, and NeMo's
``examples/speechlm2/to_hf.py`` adds ``llm_backbone/config.json`` and the tokenizer at the root.
``DuplexS2SModel.from_pretrained(folder)`` reads that config (forcing ``pretrained_weights=False``), points
the tokenizer at the folder and the LLM at ``llm_backbone/``, rebuilds the perception module from
``config.json`` and restores the codec from ``pretrained_audio_codec``, then loads the weights. So an export
holds::

    config.json            NeMo's DuplexS2SModel config (+ "duplexgen": the train config, for our own loader)
    model.safetensors      every weight under NeMo's names
    tokenizer.json, tokenizer_config.json   the training tokenizer with its explicit pad (NeMo's get_pad_id agrees)
    llm_backbone/config.json                the Llama architecture
    audio_codec.nemo       the frozen codec (config.json names it by absolute path: NeMo restores .nemo files by path)

Example::

    export_pretrained(model, "run/export", train_cfg)
    from nemo.collections.speechlm2.models import DuplexS2SModel
    nemo_model = DuplexS2SModel.from_pretrained("run/export", local_files_only=True)
    ours = load_exported("run/export")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional


from duplexgen.core.config import config_to_dict

CODEC_FILE = "audio_codec.nemo"
LLM_DIR = "llm_backbone"


def nemo_model_config(model, export_dir: Path) -> dict[str, Any]:
    """The ``DuplexS2SModel`` config that rebuilds ``model``'s architecture from the files of ``export_dir``."""
    from omegaconf import OmegaConf

    cfg = model.cfg
    # The perception module's own config: with a pretrained ASR it carries that model's preprocessor and encoder.
    perception = OmegaConf.to_container(OmegaConf.create(model.perception.cfg), resolve=True)
    perception["output_dim"] = int(model.llm.config.hidden_size)
    return {
        "pretrained_llm": str(export_dir / LLM_DIR),
        "pretrained_audio_codec": str(export_dir / CODEC_FILE),
        "pretrained_asr": None,
        "pretrained_weights": False,
        "perception": perception,
        "text_loss_weight": float(cfg.text_loss_weight),
        "audio_loss_weight": float(cfg.audio_loss_weight),
        "duplex_user_channel_weight": float(cfg.duplex_user_channel_weight),
        "freeze_params": ["^audio_codec\\..+$"],
        "model_type": "nemo_speechlm",
        "architectures": ["NeMoSpeechLMForConditionalGeneration"],
        "dtype": "float32",
    }


def export_pretrained(model, out_dir, train_cfg=None, state_dict: Optional[dict] = None) -> Path:
    """Write ``model`` (weights from ``state_dict`` when given, e.g. a gathered FSDP state) as an export folder."""
    from safetensors.torch import save_file

    from duplexgen.training.checkpoint import write_folder_atomically

    final = Path(out_dir).resolve()
    state = state_dict if state_dict is not None else model.state_dict()
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}

    def fill(tmp: Path) -> None:
        model.tokenizer.save(str(tmp))
        (tmp / LLM_DIR).mkdir()
        model.llm.config.save_pretrained(str(tmp / LLM_DIR))
        was = model.audio_codec.training
        model.audio_codec.eval()
        model.audio_codec.save_to(str(tmp / CODEC_FILE))
        model.audio_codec.train(was)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config = nemo_model_config(model, final)
        if train_cfg is not None:
            config["duplexgen"] = config_to_dict(train_cfg)
        (tmp / "config.json").write_text(json.dumps(config, indent=1))

    return write_folder_atomically(final, fill)


def load_exported(export_dir, device: str = "cpu"):
    """Our own model from an export folder (its train config, tokenizer, codec and weights), in eval mode."""
    from safetensors.torch import load_file

    from duplexgen.training.config import train_config_from_dict
    from duplexgen.training.model import SALMDuplex
    from duplexgen.training.tokenizer import load_tokenizer

    d = Path(export_dir)
    config = json.loads((d / "config.json").read_text())
    if "duplexgen" not in config:
        raise ValueError(f"{d}/config.json has no 'duplexgen' train config: not a duplexgen export (load it with NeMo)")
    cfg = train_config_from_dict(config["duplexgen"])
    cfg.model.pretrained_audio_codec = str(d / CODEC_FILE)
    # The architecture comes from the export itself: no pretrained ASR file is needed, every weight is in the export.
    cfg.model.pretrained_asr = None
    cfg.model.pretrained_llm, cfg.model.tokenizer = str(d / LLM_DIR), str(d)
    cfg.model.perception = {k: v for k, v in config["perception"].items() if k != "output_dim"}
    model = SALMDuplex(cfg.model, tokenizer=load_tokenizer(str(d)), pretrained_weights=False)
    model.load_state_dict(load_file(str(d / "model.safetensors")), strict=True)
    return model.to(device).eval()


__all__ = ["export_pretrained", "load_exported", "nemo_model_config"]
