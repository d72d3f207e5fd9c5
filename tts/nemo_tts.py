"""NeMo TTS as a backend: FastPitch + HiFi-GAN (``.nemo`` files by path), batched, GPU when present.

FastPitch predicts a duration (in spectrogram frames) for every input token; tokens between space
tokens form a word, so word timings come from the model's own durations
(``timing_source="durations"``). When the token stream has no spaces to split on (e.g. a tokenizer
without a space token), the renderer falls back to the documented estimate. Multi-speaker
checkpoints take the voice name as the speaker id ("0", "1", ...). Magpie-TTS checkpoints are not
wired yet (they need their own codec and inference call).

Tested offline (``tests/test_tts_nemo.py``) with a tiny untrained FastPitch (``EnglishCharsTokenizer``,
``learn_alignment``) and HiFi-GAN built from config and saved as ``.nemo``; real checkpoints load the same way.

Example::

    backend = NemoTTSBackend("/ckpt/tts_en_fastpitch.nemo", "/ckpt/tts_en_hifigan.nemo")
    syn = backend.synthesize("Hello there.", Voice.make("0", "nemo"))
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import numpy as np

from duplexgen.core.records import RejectError, Word
from duplexgen.core.words import word_symbols
from duplexgen.tts.base import Synthesis, TTSBackend, Voice


class NemoTTSBackend(TTSBackend):
    name = "nemo"

    def __init__(self, model_path: str, vocoder_path: Optional[str], device: str = "auto", batch_size: int = 16):
        for p in (model_path, vocoder_path):
            if p and not Path(p).is_file():
                raise ValueError(f"tts: NeMo checkpoint {p} does not exist")
        if not vocoder_path:
            raise ValueError("tts.nemo_vocoder_path (HiFi-GAN .nemo) is required for a FastPitch model")
        self.model_path, self.vocoder_path = model_path, vocoder_path
        self.device = device
        self.batch_size = batch_size
        self._models = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._models is None:
                import torch
                from nemo.collections.tts.models import FastPitchModel, HifiGanModel

                device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
                spec = FastPitchModel.restore_from(self.model_path, map_location=device).eval()
                voc = HifiGanModel.restore_from(self.vocoder_path, map_location=device).eval()
                self._models = (spec, voc, device)
            return self._models

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        spec, _, _ = self._load()
        return int(spec.cfg.sample_rate)

    def list_voices(self) -> list[Voice]:
        spec, _, _ = self._load()
        n = int(getattr(spec.cfg, "n_speakers", 1) or 1)
        return [Voice.make(str(i), self.name) for i in range(n)]

    def params_key(self) -> str:
        return f"nemo:{Path(self.model_path).name}:{Path(self.model_path).stat().st_size}:{Path(self.vocoder_path).name}"

    def synthesize(self, text: str, voice: Voice) -> Synthesis:
        out = self.synthesize_batch([text], [voice])[0]
        if isinstance(out, Exception):
            raise out
        return out

    def synthesize_batch(self, texts: list[str], voices: list[Voice]) -> list:
        import torch

        spec_model, vocoder, device = self._load()
        results: list = []
        for i in range(0, len(texts), self.batch_size):
            chunk_t, chunk_v = texts[i : i + self.batch_size], voices[i : i + self.batch_size]
            try:
                results.extend(self._batch(spec_model, vocoder, device, chunk_t, chunk_v, torch))
            except Exception as e:  # noqa: BLE001 - fall back to one by one so one bad text fails alone
                if len(chunk_t) == 1:
                    results.append(e)
                else:
                    for t, v in zip(chunk_t, chunk_v):
                        results.extend(self.synthesize_batch([t], [v]))
        return results

    def _batch(self, spec_model, vocoder, device, texts, voices, torch):
        if any(not t.strip() for t in texts):
            raise RejectError("empty text: nothing to speak", code="tts.empty-text", stage="tts")
        tokens = [spec_model.parse(t, normalize=True).squeeze(0) for t in texts]
        lengths = torch.tensor([len(t) for t in tokens], device=device)
        # Pad with the tokenizer's pad id: the encoder masks positions equal to it (id 0 is often the space).
        pad_id = getattr(getattr(spec_model, "vocab", None), "pad", 0)
        batch = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=pad_id).to(device)
        speaker = None
        if int(getattr(spec_model.cfg, "n_speakers", 1) or 1) > 1:
            speaker = torch.tensor([int(v.name) for v in voices], device=device)
        with torch.inference_mode():
            outputs = spec_model.fastpitch(text=batch, durs=None, pitch=None, speaker=speaker, pace=1.0, input_lens=lengths)
            spect, durs = outputs[0], outputs[2]
            audio = vocoder.convert_spectrogram_to_audio(spec=spect)
        sr = int(spec_model.cfg.sample_rate)
        hop = _hop_length(spec_model)
        space_id = getattr(spec_model.vocab, "space", None) if hasattr(spec_model, "vocab") else None
        out = []
        for b, text in enumerate(texts):
            # The same rounding as FastPitch's length regulator (floor(d + 0.5)), so frames add up to the spectrogram.
            d = (durs[b, : lengths[b]].float() + 0.5).floor().long().cpu().numpy()
            n = int(d.sum()) * hop
            words = _words_from_durations(text, tokens[b].cpu().numpy(), d, hop, sr, space_id)
            wav = audio[b, :n].float().cpu().numpy().astype(np.float32)
            out.append(Synthesis(wav, sr, words, "durations" if words else "none"))
        return out


def _hop_length(spec_model) -> int:
    """Audio samples per spectrogram frame: the config's ``n_window_stride``, else the preprocessor's hop."""
    hop = spec_model.cfg.get("n_window_stride")
    if hop is None:
        hop = getattr(getattr(getattr(spec_model, "preprocessor", None), "featurizer", None), "hop_length", 256)
    return int(hop)


def _words_from_durations(text, token_ids, durs, hop, sr, space_id) -> list[Word]:
    """Group token durations into words at space tokens; [] when they cannot be matched to the text's words."""
    if space_id is None:
        return []
    words_text = word_symbols(text)
    spans, start, t = [], None, 0
    for tok, d in zip(token_ids, durs):
        if tok == space_id:
            if start is not None:
                spans.append((start, t))
                start = None
        elif start is None and d > 0:
            start = t
        t += int(d)
    if start is not None:
        spans.append((start, t))
    if len(spans) != len(words_text):
        return []
    return [Word(w, s * hop / sr, e * hop / sr) for w, (s, e) in zip(words_text, spans)]


__all__ = ["NemoTTSBackend"]
