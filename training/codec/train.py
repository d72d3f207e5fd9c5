"""`duplexgen train-codec`: fine-tune a NeMo AudioCodecModel (NanoCodec) on the agent voice, with Ray Train.

What is trained, exactly (the paper personalises NanoCodec to its one agent voice):

- the codec's ``audio_encoder`` and ``audio_decoder`` (``trainable``; the FSQ quantizer has no
  weights, its levels stay fixed so the codes keep NanoCodec's 4 x 4032 layout and 12.5 fps);
- with NeMo's own generator losses at the codec's own scales (``AudioCodecModel._process_batch``
  then ``mel_loss_fn`` L1/L2, ``stft_loss_fn``, ``time_domain_loss_fn``, ``si_sdr_loss_fn``,
  ``commit_loss`` when the quantizer has one, exactly as ``AudioCodecModel.training_step``),
  scales overridable with ``loss_scales``;
- adversarially when the codec has a ``discriminator`` (``discriminator=auto``, as NeMo's recipe:
  one discriminator step with ``disc_loss_fn`` then the generator step with ``gen_loss_fn`` and
  ``feature_loss_fn`` added); ``discriminator=off`` trains on reconstruction losses only.
- Not used: NeMo's SLM / speaker-consistency / MMD losses (they need extra pretrained models or
  a Lightning trainer), Lightning itself, and its LR schedulers (linear warmup then constant here).

Distributed like the main trainer: Ray Train ``TorchTrainer``, one worker per GPU (or CPU workers
with gloo); every worker holds the whole codec and its own data; gradients are averaged with one
all-reduce per optimizer step. Checkpoints go to ``output_dir/checkpoints/step_NNNNNNN/``
(``codec.pt``, ``optimizer.pt``, ``data_position.json``, ``train_config.yaml``, ``COMPLETE``) via
the main trainer's helpers; a rerun with the same ``output_dir`` resumes from the latest.
``metrics.jsonl`` / ``tb/`` log every loss part; ``val.jsonl`` the held-out reconstruction losses.
The result is ``output_dir/codec.nemo`` (``save_to``), which ``duplexgen train`` takes as
``model.pretrained_audio_codec``; ``output_dir/eval/`` compares it with the codec it started from.

Example::

    from duplexgen.training.codec.config import load_codec_train_config
    summary = run_codec_training(load_codec_train_config("codec_tiny_cpu", ["data_dir=out/codec_set_demo"]))
    summary["codec"]     # .../codec.nemo
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Optional

import torch
import torch.distributed as dist

from duplexgen.core.config import config_to_dict
from duplexgen.training.codec.config import CodecTrainConfig, codec_config_from_dict
from duplexgen.training.checkpoint import barrier, gather_data_positions, latest_checkpoint, publish_checkpoint, rank_and_world
from duplexgen.training.train import build_torch_trainer, read_metrics, worker_device

log = logging.getLogger(__name__)

CODEC_FILE = "codec.nemo"
INITIAL_CODEC_FILE = "codec_init.nemo"
PART_MODULES = {"encoder": "audio_encoder", "decoder": "audio_decoder"}


# ---------------------------------------------------------------- the codec and its losses
def build_trainable_codec(cfg: CodecTrainConfig):
    """The AudioCodecModel to fine-tune: restored from ``pretrained_codec`` or built from ``codec``; fp32, train mode."""
    from nemo.collections.tts.models import AudioCodecModel

    from duplexgen.training.config import codec_model_config

    if cfg.pretrained_codec:
        if not Path(cfg.pretrained_codec).exists():
            raise FileNotFoundError(f"pretrained_codec not found: {cfg.pretrained_codec} (give a local .nemo; nothing is downloaded)")
        codec = AudioCodecModel.restore_from(cfg.pretrained_codec, map_location="cpu")
    else:
        codec = AudioCodecModel(codec_model_config(cfg.codec))
    for key, value in cfg.loss_scales.items():
        if not key.endswith("_scale") or not hasattr(codec, key):
            raise ValueError(f"loss_scales.{key}: not a loss scale of AudioCodecModel (e.g. mel_loss_l1_scale, si_sdr_loss_scale)")
        setattr(codec, key, float(value))
    if cfg.discriminator == "on" and codec.discriminator is None:
        raise ValueError("discriminator=on but the codec has none: add codec.discriminator or use discriminator=auto/off")
    codec = codec.float()
    for p in codec.parameters():
        p.requires_grad = False
    for part in cfg.trainable:
        for p in getattr(codec, PART_MODULES[part]).parameters():
            p.requires_grad = True
    if uses_discriminator(codec, cfg):
        for p in codec.discriminator.parameters():
            p.requires_grad = True
    return codec


def uses_discriminator(codec, cfg: CodecTrainConfig) -> bool:
    return cfg.discriminator != "off" and getattr(codec, "discriminator", None) is not None


def generator_params(codec, cfg: CodecTrainConfig) -> list:
    return [p for part in cfg.trainable for p in getattr(codec, PART_MODULES[part]).parameters()]


def generator_losses(codec, audio, audio_len, audio_gen, commit_loss, adversarial: bool) -> dict[str, torch.Tensor]:
    """NeMo's ``AudioCodecModel.training_step`` generator losses at the codec's scales; ``loss`` = their weighted sum."""
    parts: dict[str, torch.Tensor] = {}
    total = []
    mel_l1, mel_l2 = codec.mel_loss_fn(audio_real=audio.float(), audio_gen=audio_gen.float(), audio_len=audio_len)
    parts["g_loss_mel_l1"], parts["g_loss_mel_l2"] = mel_l1, mel_l2
    total += [codec.mel_loss_l1_scale * mel_l1, codec.mel_loss_l2_scale * mel_l2]
    if codec.stft_loss_scale:
        parts["g_loss_stft"] = codec.stft_loss_fn(audio_real=audio.float(), audio_gen=audio_gen.float(), audio_len=audio_len)
        total.append(codec.stft_loss_scale * parts["g_loss_stft"])
    if codec.time_domain_loss_scale:
        parts["g_loss_time_domain"] = codec.time_domain_loss_fn(audio_real=audio, audio_gen=audio_gen, audio_len=audio_len)
        total.append(codec.time_domain_loss_scale * parts["g_loss_time_domain"])
    if codec.si_sdr_loss_scale:
        parts["g_loss_si_sdr"] = codec.si_sdr_loss_fn(audio_real=audio, audio_gen=audio_gen, audio_len=audio_len)
        total.append(codec.si_sdr_loss_scale * parts["g_loss_si_sdr"])
    if adversarial:
        _, scores_gen, fmaps_real, fmaps_gen = codec.discriminator(audio_real=audio, audio_gen=audio_gen)
        if codec.gen_loss_scale:
            parts["g_loss_gen"] = codec.gen_loss_fn(disc_scores_gen=scores_gen)
            total.append(codec.gen_loss_scale * parts["g_loss_gen"])
        if codec.feature_loss_scale:
            parts["g_loss_feature"] = codec.feature_loss_fn(fmaps_real=fmaps_real, fmaps_gen=fmaps_gen)
            total.append(codec.feature_loss_scale * parts["g_loss_feature"])
    if codec.commit_loss_scale and torch.is_tensor(commit_loss):
        parts["g_loss_commit"] = commit_loss
        total.append(codec.commit_loss_scale * commit_loss)
    parts["loss"] = sum(total)
    return parts


@torch.no_grad()
def reconstruction_losses(codec, audio: torch.Tensor, audio_len: torch.Tensor) -> dict[str, float]:
    """NeMo's ``validation_step`` losses (val_loss = mel L1 + STFT + time domain) for one batch, no gradients."""
    was_training = codec.training
    codec.eval()
    a, a_len, gen, *_ = codec._process_batch({"audio": audio, "audio_lens": audio_len})
    mel_l1, mel_l2 = codec.mel_loss_fn(audio_real=a.float(), audio_gen=gen.float(), audio_len=a_len)
    stft = codec.stft_loss_fn(audio_real=a.float(), audio_gen=gen.float(), audio_len=a_len)
    td = codec.time_domain_loss_fn(audio_real=a, audio_gen=gen, audio_len=a_len)
    si_sdr = codec.si_sdr_loss_fn(audio_real=a, audio_gen=gen, audio_len=a_len)
    codec.train(was_training)
    return {"val_loss": float(mel_l1 + stft + td), "val_loss_mel_l1": float(mel_l1), "val_loss_mel_l2": float(mel_l2),
            "val_loss_stft": float(stft), "val_loss_time_domain": float(td), "val_loss_si_sdr": float(si_sdr)}


def _allreduce_mean_grads(params: list, world: int) -> None:
    """Average gradients over workers in one flat all-reduce (the codec and the discriminator step separately)."""
    if world <= 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def _clip(params: list, max_norm: float) -> float:
    params = [p for p in params if p.grad is not None]
    if not params:
        return 0.0
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf")))


# ---------------------------------------------------------------- one worker's state
class CodecTrainState:
    """Codec, optimizers and data stream of one rank; resumes from ``output_dir``'s latest checkpoint."""

    def __init__(self, cfg: CodecTrainConfig, device: torch.device):
        from duplexgen.training.codec.data import SegmentStream, list_codec_shards

        self.cfg, self.device = cfg, device
        self.rank, self.world = rank_and_world()
        torch.manual_seed(cfg.seed)  # identical initialisation of config-built parts on every rank
        self.codec = build_trainable_codec(cfg).to(device)
        self.adversarial = uses_discriminator(self.codec, cfg)
        self.gen_params = generator_params(self.codec, cfg)
        self.disc_params = list(self.codec.discriminator.parameters()) if self.adversarial else []
        kw = {"lr": cfg.lr, "betas": tuple(cfg.betas), "weight_decay": cfg.weight_decay}
        self.opt_gen = torch.optim.AdamW(self.gen_params, **kw)
        self.opt_disc = torch.optim.AdamW(self.disc_params, **kw) if self.adversarial else None
        self.step, position = 0, 0
        ckpt = latest_checkpoint(cfg.output_dir)
        if ckpt is not None:
            self.codec.load_state_dict(torch.load(ckpt / "codec.pt", map_location="cpu", weights_only=True))
            optim = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=False)
            self.opt_gen.load_state_dict(optim["generator"])
            if self.opt_disc is not None and optim.get("discriminator") is not None:
                self.opt_disc.load_state_dict(optim["discriminator"])
            meta = json.loads((ckpt / "data_position.json").read_text())
            self.step = meta["step"]
            per_rank = meta["per_rank"]
            if len(per_rank) != self.world:
                log.warning("resuming with %d workers from a %d-worker checkpoint: data positions are approximate",
                            self.world, len(per_rank))
            position = per_rank[self.rank % len(per_rank)]
        self.resumed_from = str(ckpt) if ckpt else None
        self.stream = SegmentStream(list_codec_shards(str(Path(cfg.data_dir) / "train")), int(self.codec.sample_rate),
                                    cfg.segment_seconds, cfg.batch_size, cfg.seed, self.rank, self.world, position)

    def lr_factor(self, step: int) -> float:
        w = self.cfg.warmup_steps
        return min(1.0, (step + 1) / w) if w > 0 else 1.0

    def train_step(self, batch: dict) -> dict[str, float]:
        """One discriminator step (when adversarial) then one codec step, as NeMo's training_step."""
        cfg, codec = self.cfg, self.codec
        torch.manual_seed(cfg.seed * 1_000_003 + self.step * 1009 + self.rank)  # a resumed step repeats exactly
        for opt in (self.opt_gen, self.opt_disc):
            if opt is not None:
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * self.lr_factor(self.step)
        codec.train()
        audio, lens = batch["audio"].to(self.device), batch["audio_lens"].to(self.device)
        audio, audio_len, audio_gen, commit_loss, *_ = codec._process_batch({"audio": audio, "audio_lens": lens})
        out: dict[str, float] = {}
        if self.adversarial:
            scores_real, scores_gen, _, _ = codec.discriminator(audio_real=audio, audio_gen=audio_gen.detach())
            d_loss = codec.disc_loss_fn(disc_scores_real=scores_real, disc_scores_gen=scores_gen)
            self.opt_disc.zero_grad(set_to_none=True)
            d_loss.backward()
            _allreduce_mean_grads(self.disc_params, self.world)
            out["d_grad_norm"] = _clip(self.disc_params, cfg.grad_clip)
            self.opt_disc.step()
            out["d_loss"] = float(d_loss.detach())
        parts = generator_losses(codec, audio, audio_len, audio_gen, commit_loss, self.adversarial)
        self.opt_gen.zero_grad(set_to_none=True)
        if self.opt_disc is not None:
            self.opt_disc.zero_grad(set_to_none=True)
        parts["loss"].backward()
        _allreduce_mean_grads(self.gen_params, self.world)
        out["grad_norm"] = _clip(self.gen_params, cfg.grad_clip)
        out["lr"] = self.opt_gen.param_groups[0]["lr"]
        self.opt_gen.step()
        self.step += 1
        out.update({k: float(v.detach()) for k, v in parts.items()})
        out["audio_seconds"] = float(batch["seconds"])
        return out

    def validate(self, utterances: list) -> dict[str, Any]:
        """Mean reconstruction losses over held-out utterances (one at a time: lengths differ), and how the codec
        uses its codebooks on them (entropy per codebook; a codebook stuck on one code is reported)."""
        from duplexgen.training.codec.evaluate import code_usage, encode_codes

        rows, codes = [], []
        was_training = self.codec.training
        for _, _, audio in utterances:
            a = torch.from_numpy(audio)[None].to(self.device)
            rows.append(reconstruction_losses(self.codec, a, torch.tensor([a.shape[1]], device=self.device)))
            self.codec.eval()
            codes.append(encode_codes(self.codec, audio, self.device)[0].cpu().numpy())
        self.codec.train(was_training)
        if not rows:
            return {}
        out: dict[str, Any] = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        usage = code_usage(codes, int(self.codec.codebook_size))
        out["code_entropy_bits"], out["distinct_share"] = usage["entropy_bits"], usage["distinct_share"]
        dead = [k for k, d in enumerate(usage["distinct_codes"]) if d <= 1]
        if dead:
            log.warning("step %d: codebook(s) %s use a single code on %d held-out utterances (collapsed): lower lr or "
                        "check the encoder's output scale", self.step, dead, len(utterances))
        return out

    def save_checkpoint(self):
        """Collective: every rank contributes its data position; rank 0 writes and publishes atomically."""
        positions = gather_data_positions(self.stream.position, self.world)
        if self.rank == 0:
            states = {"codec.pt": {k: v.detach().cpu() for k, v in self.codec.state_dict().items()},
                      "optimizer.pt": {"generator": self.opt_gen.state_dict(),
                                       "discriminator": self.opt_disc.state_dict() if self.opt_disc else None}}
            publish_checkpoint(self.cfg.output_dir, self.step, states, config_to_dict(self.cfg), positions,
                               keep=self.cfg.keep_checkpoints)
        barrier()

    def export(self, path: Path) -> Path:
        """The codec as a .nemo (``save_to``), written under a temporary name and renamed."""
        tmp = path.with_name(f".tmp_{path.name}")
        was = self.codec.training
        self.codec.eval()
        self.codec.cpu().save_to(str(tmp))
        self.codec.to(self.device).train(was)
        os.replace(tmp, path)
        return path


# ---------------------------------------------------------------- the Ray Train worker loop
def _truncate_jsonl(path: Path, step: int) -> None:
    kept = []
    if path.exists():  # drop rows after the checkpoint we resume from (those steps are redone)
        kept = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(k + "\n" for k in kept))


def train_loop_per_worker(loop_config: dict) -> None:
    import ray.train

    from duplexgen.training.codec.data import load_utterances

    cfg = codec_config_from_dict(loop_config["cfg"])
    device = worker_device(cfg)
    state = CodecTrainState(cfg, device)
    out = Path(cfg.output_dir)
    writer = metrics_file = None
    val_set: list = []
    if state.rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        if state.step == 0 and not cfg.pretrained_codec and not (out / INITIAL_CODEC_FILE).exists():
            state.export(out / INITIAL_CODEC_FILE)  # the "before" of the evaluation
        writer = SummaryWriter(str(out / "tb"), purge_step=state.step + 1 if state.step else None)
        _truncate_jsonl(out / "metrics.jsonl", state.step)
        _truncate_jsonl(out / "val.jsonl", state.step)
        metrics_file = open(out / "metrics.jsonl", "a")
        heldout = Path(cfg.data_dir) / "heldout"
        val_set = load_utterances(str(heldout), int(state.codec.sample_rate), cfg.val_utterances) if heldout.exists() else []
        if state.resumed_from:
            print(f"resumed from {state.resumed_from} at step {state.step}", flush=True)

    def log_val():
        if state.rank == 0 and val_set:
            row = {"step": state.step, **state.validate(val_set)}
            with open(out / "val.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            for k, v in row.items():
                if isinstance(v, list):  # per codebook
                    for i, x in enumerate(v):
                        writer.add_scalar(f"val/{k}_{i}", x, state.step)
                elif k != "step":
                    writer.add_scalar(f"val/{k}", v, state.step)

    if state.step == 0:
        log_val()
    last_ckpt, last_val = state.step, state.step
    t_window, audio_window = time.time(), 0.0
    it = iter(state.stream)
    keys: Optional[list[str]] = None
    while state.step < cfg.max_steps:
        m = state.train_step(next(it))
        keys = keys or sorted(k for k in m if k != "lr")
        totals = torch.tensor([m[k] for k in keys], dtype=torch.float64)
        if state.world > 1:
            dist.all_reduce(totals)
        row = {"step": state.step, **{k: v / (state.world if k != "audio_seconds" else 1) for k, v in zip(keys, totals.tolist())},
               "lr": m["lr"], "rank0_loss": m["loss"]}
        audio_window += row["audio_seconds"]
        if state.step % cfg.log_every == 0 or state.step == cfg.max_steps:
            row["audio_seconds_per_s"] = audio_window / max(time.time() - t_window, 1e-9)
            t_window, audio_window = time.time(), 0.0
            if writer is not None:
                for k, v in row.items():
                    if k not in ("step", "audio_seconds", "rank0_loss"):
                        writer.add_scalar(f"train/{k}", v, state.step)
                writer.flush()
        if metrics_file is not None:
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()
        if cfg.val_every and state.step % cfg.val_every == 0:
            log_val()
            last_val = state.step
        if state.step % cfg.checkpoint_every == 0:
            state.save_checkpoint()
            last_ckpt = state.step
        if cfg.fail_at_step is not None and state.step == cfg.fail_at_step:
            raise RuntimeError(f"fail_at_step={cfg.fail_at_step}: simulated crash (resume test)")
    if state.step != last_ckpt:
        state.save_checkpoint()
    if state.step != last_val:
        log_val()
    if state.rank == 0:
        state.export(out / CODEC_FILE)
        writer.close()
        metrics_file.close()
    barrier()
    ray.train.report({"step": state.step})


# ---------------------------------------------------------------- driver
def run_codec_training(cfg: CodecTrainConfig) -> dict[str, Any]:
    """Fine-tune with Ray Train (resuming from ``output_dir``), export ``codec.nemo``, then evaluate before/after.

    Returns ``output_dir``, ``steps``, ``losses`` (per step, mean over workers), ``val`` (held-out losses by
    step), ``codec`` (the .nemo), ``checkpoint``, ``resumed_from`` and ``eval`` (the comparison, when run)."""
    from duplexgen.training.codec.data import list_codec_shards

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    list_codec_shards(str(Path(cfg.data_dir) / "train"))  # fail early, in the driver, with a clear message
    resumed_from = latest_checkpoint(cfg.output_dir)
    build_torch_trainer(train_loop_per_worker, cfg, "ray_train_codec").fit()
    rows = read_metrics(cfg.output_dir)
    ckpt = latest_checkpoint(cfg.output_dir)
    summary: dict[str, Any] = {
        "output_dir": cfg.output_dir,
        "steps": rows[-1]["step"] if rows else 0,
        "losses": [r["loss"] for r in rows],
        "val": read_jsonl(out / "val.jsonl"),
        "codec": str(out / CODEC_FILE),
        "checkpoint": str(ckpt) if ckpt else None,
        "resumed_from": str(resumed_from) if resumed_from else None,
    }
    heldout = Path(cfg.data_dir) / "heldout"
    if cfg.evaluate_after and heldout.exists():
        from duplexgen.training.codec.evaluate import EvalConfig, evaluate_codecs

        before = cfg.pretrained_codec or str(out / INITIAL_CODEC_FILE)
        summary["eval"] = evaluate_codecs({"before": before, "after": str(out / CODEC_FILE)},
                                          EvalConfig(heldout_dir=str(heldout), output_dir=str(out / "eval"),
                                                     max_utterances=cfg.eval_utterances))
    return summary


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []
