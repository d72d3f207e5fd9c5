"""`duplexgen eval-codec`: reconstruction quality of codecs on held-out agent utterances, side by side.

Each codec encodes and decodes every held-out utterance (fp32, the codec's own framing; the output
is trimmed to the input length) and is scored against the original:

- ``mel_distance``: mean absolute difference of natural-log mel spectrograms (80 mels, 1024-point
  FFT, hop 256 at 22,050 Hz; the same definition for every codec, independent of its training loss);
- ``si_sdr``: scale-invariant SDR in dB (``torchmetrics``);
- ``stoi`` (``pystoi``) and ``pesq`` wide-band at 16 kHz (``pesq``), when those packages are installed;
- ``encoder_lookahead``: how far past its own frame the encoder reads, and whether a duplex model could
  read the agent's onset from its own speech channel before its turn's BOS (see ``encoder_lookahead``);
- ``asr_wer`` when an ASR engine is given: word error rate of the decoded audio's transcript against
  the utterance text (``pocketsphinx`` offline, or a NeMo ASR ``.nemo``), next to the WER of the
  original audio (``asr_wer_original``: what the recogniser itself gets wrong).

Plus each codec's frame rate, codebooks and bitrate. Results go to ``eval.json`` and ``eval.md``.

Example::

    evaluate_codecs({"before": "nanocodec.nemo", "after": "out/codec_train/codec.nemo"},
                    EvalConfig(heldout_dir="out/codec_set/heldout", output_dir="out/codec_eval"))
    # or: duplexgen eval-codec out/codec_set/heldout before=nanocodec.nemo after=out/codec_train/codec.nemo
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from duplexgen.core.config import help_field

#: metric -> True when higher is better (for the table's arrows).
HIGHER_IS_BETTER = {"mel_distance": False, "si_sdr": True, "stoi": True, "pesq": True, "asr_wer": False}


@dataclass
class EvalConfig:
    """Which held-out utterances, which metrics, where to write."""

    heldout_dir: str = help_field("held-out split of a codec set (Shar shards)", "out/codec_set/heldout")
    output_dir: str = help_field("where eval.json and eval.md go", "out/codec_eval")
    max_utterances: int = help_field("evaluate the first N held-out utterances (0 = all)", 200)
    asr: str = help_field("ASR round trip: none, pocketsphinx (offline en-us), nemo (asr_model_path)", "none")
    asr_model_path: Optional[str] = help_field("NeMo ASR .nemo for asr=nemo", None)
    device: str = help_field("auto (cuda when present), cpu or cuda", "auto")

    def __post_init__(self):
        if self.asr not in ("none", "pocketsphinx", "nemo"):
            raise ValueError(f"asr must be none, pocketsphinx or nemo, got {self.asr!r}")
        if self.asr == "nemo" and not self.asr_model_path:
            raise ValueError("asr_model_path is required when asr=nemo")
        if self.max_utterances < 0:
            raise ValueError(f"max_utterances must be >= 0, got {self.max_utterances}")


# ---------------------------------------------------------------- metrics (pure functions)
_MEL = {}


def log_mel(audio: np.ndarray, sample_rate: int) -> torch.Tensor:
    import torchaudio

    if sample_rate not in _MEL:
        _MEL[sample_rate] = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=1024, win_length=1024,
                                                                 hop_length=256, n_mels=80, power=1.0)
    return torch.log(torch.clamp(_MEL[sample_rate](torch.from_numpy(audio).float()), min=1e-5))


def mel_distance(reference: np.ndarray, decoded: np.ndarray, sample_rate: int) -> float:
    """Mean |log-mel(ref) - log-mel(dec)| over frames and bins (0 = identical spectra)."""
    return float((log_mel(reference, sample_rate) - log_mel(decoded, sample_rate)).abs().mean())


def si_sdr(reference: np.ndarray, decoded: np.ndarray) -> float:
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

    return float(scale_invariant_signal_distortion_ratio(torch.from_numpy(decoded).double(), torch.from_numpy(reference).double()))


def optional_metrics() -> dict[str, str]:
    """Installed optional metric packages and their versions (pystoi, pesq)."""
    found = {}
    for name in ("pystoi", "pesq"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def stoi(reference: np.ndarray, decoded: np.ndarray, sample_rate: int) -> float:
    from pystoi import stoi as _stoi

    return float(_stoi(reference, decoded, sample_rate, extended=False))


def pesq_wb(reference: np.ndarray, decoded: np.ndarray, sample_rate: int) -> float:
    from pesq import pesq

    from duplexgen.core.audio import resample

    return float(pesq(16000, resample(reference, sample_rate, 16000), resample(decoded, sample_rate, 16000), "wb"))


def codec_info(codec) -> dict[str, Any]:
    """Frame rate, codebooks, codes per codebook and bitrate of an AudioCodecModel."""
    fps = float(codec.sample_rate) / float(codec.samples_per_frame)
    k, size = int(codec.num_codebooks), int(codec.codebook_size)
    return {"sample_rate": int(codec.sample_rate), "frames_per_s": round(fps, 3), "num_codebooks": k,
            "codebook_size": size, "bitrate_kbps": round(k * math.log2(size) * fps / 1000, 3)}


@torch.no_grad()
def encoder_lookahead(codec, frames: int = 48, seed: int = 0) -> dict[str, Any]:
    """How far past the end of its own frame the codec's encoder reads, measured, not derived from the config.

    The duplex model's speech channel is one frame behind its text channel, and NeMo's dataset puts a turn's
    BOS at the frame nearest the agent's onset (``compute_num_frames`` rounds), so the last code the model reads
    before it must emit BOS belongs to frame ``round(onset) - 2``. A code that reads more than half a frame past
    its own end can already carry the agent's onset then: teacher forcing lets the model key BOS on its own
    speech channel, and free-running (where it makes those codes itself) it never starts a turn. ``leaks_onset``
    says so. Measured on the pre-quantization encoder output of the middle frame of ``frames`` frames of noise:
    the last sample whose change still changes that frame (binary search)."""
    hop = int(codec.samples_per_frame)
    n, j = frames * hop, frames // 2
    g = torch.Generator().manual_seed(seed)
    dev = next(codec.parameters()).device
    x, y = (torch.randn(1, n, generator=g).to(dev) * 0.1 for _ in range(2))
    lens = torch.tensor([n], device=dev)
    encoder = codec.audio_encoder
    ref = encoder(audio=x, audio_len=lens)[0][0, :, j]

    def reads(q: int) -> bool:  # does frame j change when every sample from q on changes?
        z = x.clone()
        z[:, q:] = y[:, q:]
        return not torch.equal(encoder(audio=z, audio_len=lens)[0][0, :, j], ref)

    lo, hi = j * hop, n - 1
    if reads(hi):
        samples = None  # reads to the end of the probe: frames // 2 frames or more
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if reads(mid) else (lo, mid)
        samples = lo - (j + 1) * hop + 1
    leaks = samples is None or samples >= hop / 2
    return {"samples": samples, "frames": None if samples is None else round(samples / hop, 3),
            "ms": None if samples is None else round(1000 * samples / int(codec.sample_rate), 1), "leaks_onset": leaks}


def code_usage(codes: list[np.ndarray], codebook_size: int) -> dict[str, list]:
    """How a codec uses its codebooks over a set of utterances (each codes [K, T]): per codebook, the entropy of
    the code histogram in bits (log2(codebook_size) = every code equally often; 0 = one code for everything, a
    collapsed codebook) and the number and share of distinct codes seen."""
    allc = np.concatenate([np.asarray(c).reshape(np.asarray(c).shape[0], -1) for c in codes], axis=1)
    ent, distinct = [], []
    for row in allc:
        _, counts = np.unique(row, return_counts=True)
        p = counts / counts.sum()
        ent.append(round(float(-(p * np.log2(p)).sum()) + 0.0, 3))
        distinct.append(int(len(counts)))
    return {"entropy_bits": ent, "distinct_codes": distinct,
            "distinct_share": [round(d / codebook_size, 4) for d in distinct], "frames": int(allc.shape[1])}


@torch.no_grad()
def encode_codes(codec, audio: np.ndarray, device: torch.device) -> torch.Tensor:
    """Codes [1, K, T] of one utterance (fp32)."""
    x = torch.from_numpy(np.ascontiguousarray(audio))[None].float().to(device)
    codes, codes_len = codec.encode(audio=x, audio_len=torch.tensor([x.shape[1]], device=device))
    return codes[:, :, : int(codes_len[0])]


@torch.no_grad()
def reconstruct(codec, audio: np.ndarray, device: torch.device, codes: Optional[torch.Tensor] = None) -> np.ndarray:
    """Encode -> codes -> decode one utterance (fp32); the output trimmed or padded to the input length."""
    codes = encode_codes(codec, audio, device) if codes is None else codes
    y, _ = codec.decode(tokens=codes, tokens_len=torch.tensor([codes.shape[2]], device=codes.device))
    y = y[0].float().cpu().numpy()[: len(audio)]
    return np.pad(y, (0, len(audio) - len(y))) if len(y) < len(audio) else y


def load_codec(path_or_model, device: torch.device):
    if not isinstance(path_or_model, (str, Path)):
        return path_or_model.to(device).float().eval()
    from nemo.collections.tts.models import AudioCodecModel

    if not Path(path_or_model).exists():
        raise FileNotFoundError(f"codec not found: {path_or_model} (give a .nemo path)")
    return AudioCodecModel.restore_from(str(path_or_model), map_location="cpu").to(device).float().eval()


def _asr(cfg: EvalConfig):
    if cfg.asr == "none":
        return None
    from duplexgen.tts.quality import NemoASR, PocketsphinxASR

    return PocketsphinxASR() if cfg.asr == "pocketsphinx" else NemoASR(cfg.asr_model_path)


# ---------------------------------------------------------------- the comparison
def evaluate_codecs(codecs: dict[str, Any], cfg: EvalConfig) -> dict[str, Any]:
    """Score every codec (name -> .nemo path or AudioCodecModel) on the same held-out utterances; write JSON + markdown."""
    from duplexgen.training.codec.data import load_utterances
    from duplexgen.tts.quality import word_error_rate

    if not codecs:
        raise ValueError("give at least one codec to evaluate (name=path.nemo)")
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    extras = optional_metrics()
    asr = _asr(cfg)
    results: dict[str, Any] = {"heldout_dir": cfg.heldout_dir, "packages": extras, "asr": cfg.asr, "codecs": {}}
    t0 = time.perf_counter()
    by_rate: dict[int, list] = {}  # the same utterances, loaded at each codec's sample rate
    original_wer = []
    for name, src in codecs.items():
        codec = load_codec(src, device)
        sr = int(codec.sample_rate)
        if sr not in by_rate:
            by_rate[sr] = load_utterances(cfg.heldout_dir, sr, cfg.max_utterances)
            if not by_rate[sr]:
                raise ValueError(f"no held-out utterances in {cfg.heldout_dir}")
        utts = by_rate[sr]
        if asr is not None and not original_wer:
            original_wer = [word_error_rate(text, asr.transcribe(a, sr)) for _, text, a in utts]
        per: dict[str, list[float]] = {k: [] for k in ("mel_distance", "si_sdr")}
        all_codes = []
        for _, text, audio in utts:
            codes = encode_codes(codec, audio, device)
            all_codes.append(codes[0].cpu().numpy())
            dec = reconstruct(codec, audio, device, codes)
            per["mel_distance"].append(mel_distance(audio, dec, sr))
            per["si_sdr"].append(si_sdr(audio, dec))
            if "pystoi" in extras:
                per.setdefault("stoi", []).append(stoi(audio, dec, sr))
            if "pesq" in extras:
                try:
                    per.setdefault("pesq", []).append(pesq_wb(audio, dec, sr))
                except Exception:  # noqa: BLE001 - pesq refuses audio with no detectable speech; skip that one
                    pass
            if asr is not None:
                per.setdefault("asr_wer", []).append(word_error_rate(text, asr.transcribe(dec, sr)))
        results["codecs"][name] = {
            "path": str(src) if isinstance(src, (str, Path)) else type(src).__name__,
            **codec_info(codec),
            "metrics": {k: round(float(np.mean(v)), 4) for k, v in per.items() if v},
            "code_usage": code_usage(all_codes, int(codec.codebook_size)),
            "encoder_lookahead": encoder_lookahead(codec),
        }
        del codec
    results["utterances"] = len(utts)
    results["seconds_of_audio"] = round(sum(len(a) for _, _, a in utts) / sr, 2)
    if original_wer:
        results["asr_wer_original"] = round(float(np.mean(original_wer)), 4)
    results["elapsed_s"] = round(time.perf_counter() - t0, 2)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(results, indent=1))
    (out / "eval.md").write_text(markdown_table(results))
    return results


def markdown_table(results: dict[str, Any]) -> str:
    """Metrics as rows, codecs as columns (arrows say which direction is better)."""
    names = list(results["codecs"])
    metrics = [m for m in HIGHER_IS_BETTER if any(m in results["codecs"][n]["metrics"] for n in names)]
    lines = [f"# Codec reconstruction on {results['utterances']} held-out agent utterances "
             f"({results['seconds_of_audio']} s, {results['heldout_dir']})", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in ("frames_per_s", "num_codebooks", "bitrate_kbps"):
        lines.append(f"| {key} | " + " | ".join(str(results["codecs"][n][key]) for n in names) + " |")
    for m in metrics:
        arrow = "higher is better" if HIGHER_IS_BETTER[m] else "lower is better"
        cells = [str(results["codecs"][n]["metrics"].get(m, "-")) for n in names]
        lines.append(f"| {m} ({arrow}) | " + " | ".join(cells) + " |")
    for key, label in (("entropy_bits", "code entropy per codebook, bits"), ("distinct_share", "share of distinct codes per codebook")):
        cells = [", ".join(str(v) for v in results["codecs"][n].get("code_usage", {}).get(key, [])) or "-" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "asr_wer_original" in results:
        lines.append(f"\nASR ({results['asr']}) WER of the original audio: {results['asr_wer_original']}")
    if results.get("packages"):
        lines.append("\nmetric packages: " + ", ".join(f"{k} {v}" for k, v in results["packages"].items()))
    return "\n".join(lines) + "\n"
