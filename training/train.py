"""Distributed SALM-Duplex training with Ray Train (``TorchTrainer``), one GPU per worker or CPU workers.

Every worker builds the model, wraps it in DDP (or FSDP2 for large backbones), reads its own shards
through :class:`~duplexgen.training.data.BatchStream` and runs the paper's recipe: AdamW (fused on
GPU), inverse square root schedule with warmup, gradient clipping, bf16 autocast on GPU. The codec
stays frozen in fp32.

Checkpoints go to ``output_dir/checkpoints/step_NNNNNNN/`` (``model.pt`` with NeMo-compatible
names, ``optimizer.pt``, ``scheduler.pt``, ``data_position.json``, ``train_config.yaml``) every
``checkpoint_every`` steps and at the end; a checkpoint is written to a temporary folder and renamed
when complete. A new run with the same ``output_dir`` (or a Ray Train restart after a failure)
resumes from the latest one. ``output_dir`` must be a shared filesystem for multi-node runs.
Rank 0 logs loss parts, lr and throughput (audio seconds/s, frames/s) to TensorBoard
(``output_dir/tb``) and one JSON line per step to ``output_dir/metrics.jsonl``.

Example::

    from duplexgen.training.config import load_train_config
    from duplexgen.training.train import run_training
    summary = run_training(load_train_config("tiny_cpu", ["train_shards=[out/demo/shards]"]))
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from duplexgen.core.config import config_to_dict
from duplexgen.training.checkpoint import (barrier, gather_data_positions, latest_checkpoint, publish_checkpoint, rank_and_world,
                                           write_folder_atomically)
from duplexgen.training.config import TrainConfig, check_random_init, train_config_from_dict

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- schedule and checkpoints (pure helpers)
def inverse_sqrt_factor(step: int, warmup_steps: int) -> float:
    """LR multiplier: linear warmup to 1 over ``warmup_steps``, then ``sqrt(warmup / step)``."""
    s = step + 1
    if warmup_steps <= 0:
        return 1.0 / math.sqrt(s)
    return s / warmup_steps if s < warmup_steps else math.sqrt(warmup_steps / s)


# ---------------------------------------------------------------- one process's training state
class TrainState:
    """Model, optimizer, scheduler and data stream of one rank (also used by gpu_check without Ray)."""

    def __init__(self, cfg: TrainConfig, device: torch.device):
        from duplexgen.training.data import BatchStream
        from duplexgen.training.model import SALMDuplex

        self.cfg, self.device = cfg, device
        self.rank, self.world = rank_and_world()
        torch.manual_seed(cfg.seed)  # identical initialisation on every rank
        self.model = SALMDuplex(cfg.model).to(device)
        self.bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
        self.step = 0
        position = 0
        ckpt = latest_checkpoint(cfg.output_dir)
        if ckpt is not None:
            self.model.load_state_dict(torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True))
            meta = json.loads((ckpt / "data_position.json").read_text())
            self.step = meta["step"]
            per_rank = meta["per_rank"]
            if len(per_rank) != self.world:
                log.warning("resuming with %d workers from a %d-worker checkpoint: data positions are approximate",
                            self.world, len(per_rank))
            position = per_rank[self.rank % len(per_rank)]
        self.wrapped = self._wrap()
        params = [p for p in self.wrapped.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
                                           fused=device.type == "cuda")
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: inverse_sqrt_factor(s, cfg.warmup_steps))
        if ckpt is not None:
            self._load_optimizer(ckpt)
            self.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
        self.resumed_from = str(ckpt) if ckpt else None
        codec_rate = int(self.model.audio_codec.sample_rate)
        self.stream = BatchStream(cfg, self.model.tokenizer, rank=self.rank, world_size=self.world,
                                  codec_id=self.model.codec_id, position=position,
                                  num_workers=2 if device.type == "cuda" else 0, target_sample_rate=codec_rate)
        self.val_batches: list[dict] = []
        self.val_weights: list[float] = []
        if cfg.val_shards:
            from duplexgen.training.data import validation_batches

            every = validation_batches(cfg.val_shards, self.model.tokenizer, batch_duration=cfg.batch_duration,
                                       max_cuts=cfg.val_max_cuts, codec_id=self.model.codec_id,
                                       use_precomputed_codes=cfg.use_precomputed_codes, target_sample_rate=codec_rate)
            # Every rank runs the same number of forward passes (FSDP needs them all); extra ones weigh 0.
            mine = every[self.rank :: self.world]
            per_rank = -(-len(every) // self.world)
            self.val_batches = mine + [every[0]] * (per_rank - len(mine))
            self.val_weights = [1.0] * len(mine) + [0.0] * (per_rank - len(mine))
        best = Path(cfg.output_dir) / "best" / "val.json"
        self.best_val = json.loads(best.read_text())["val_loss"] if best.exists() else float("inf")

    def _wrap(self):
        if self.world == 1 and self.cfg.strategy == "ddp":
            return _LossModule(self.model)
        if self.cfg.strategy == "fsdp2":
            from torch.distributed.fsdp import fully_shard

            m = self.model
            for i, layer in enumerate(m.llm.layers):
                m.llm.layers[i] = fully_shard(layer)
            for i, emb in enumerate(m.embed_audio_tokens):  # a ModuleList (no forward): shard each codebook's table
                m.embed_audio_tokens[i] = fully_shard(emb)
            # Every trainable parameter must end up a DTensor, or grad clipping mixes Tensor and DTensor.
            for name in ("embed_tokens", "lm_head", "audio_head", "perception"):
                setattr(m, name, fully_shard(getattr(m, name)))
            m.llm = fully_shard(m.llm)
            return _LossModule(m)  # the codec stays unsharded and frozen
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(_LossModule(self.model), device_ids=ids, find_unused_parameters=False)

    # ---- state dicts (full, rank-0 readable for both DDP and FSDP2)
    def model_state(self) -> dict:
        if self.cfg.strategy == "fsdp2" and self.world > 1:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            return get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}

    def optimizer_state(self) -> dict:
        if self.cfg.strategy == "fsdp2" and self.world > 1:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            return get_optimizer_state_dict(self.model, self.optimizer,
                                            options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return self.optimizer.state_dict()

    def _load_optimizer(self, ckpt: Path):
        state = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=False)
        if self.cfg.strategy == "fsdp2" and self.world > 1:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(self.model, self.optimizer, state, options=StateDictOptions(full_state_dict=True))
        else:
            self.optimizer.load_state_dict(state)

    # ---- one optimizer step
    def _to_device(self, batch: dict) -> dict:
        return {k: (v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}

    def train_step(self, batches) -> dict[str, float]:
        """One optimizer step over ``grad_accum_steps`` batches (a dict is one batch): gradients of the mean loss."""
        cfg = self.cfg
        batches = [batches] if isinstance(batches, dict) else list(batches)
        # Dropout etc. draw from a generator seeded by (seed, step, rank): a resumed run repeats the same step.
        torch.manual_seed(cfg.seed * 1_000_003 + self.step * 1009 + self.rank)
        self.wrapped.train()
        self.model.audio_codec.eval()
        self.optimizer.zero_grad(set_to_none=True)
        sums = {"loss": 0.0, "text_loss": 0.0, "audio_loss": 0.0, "frames": 0.0, "audio_seconds": 0.0}
        for i, batch in enumerate(batches):
            batch = self._to_device(batch)
            last = i == len(batches) - 1
            # DDP: all-reduce the gradients once, on the last micro-batch.
            sync = contextlib.nullcontext() if last or not hasattr(self.wrapped, "no_sync") else self.wrapped.no_sync()
            with sync:
                with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    out = self.wrapped(batch)
                (out["loss"] / len(batches)).backward()
            for k in ("loss", "text_loss", "audio_loss"):
                sums[k] += float(out[k].detach()) / len(batches)
            sums["frames"] += float(out["num_frames"])
            sums["audio_seconds"] += float(batch["duration"])
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for p in self.wrapped.parameters() if p.requires_grad], cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return {**sums, "grad_norm": float(grad_norm), "lr": lr}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Collective: loss parts on the held-out batches, weighted by real frames, summed over ranks."""
        self.wrapped.eval()
        fsdp = self.cfg.strategy == "fsdp2" and self.world > 1
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)  # text CE * frames, audio CE * frames, frames
        for batch, weight in zip(self.val_batches, self.val_weights):
            batch = self._to_device(batch)
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                # DDP forward may broadcast buffers (a collective): call the bare model; FSDP needs its wrapper.
                out = self.wrapped(batch) if fsdp else self.model.training_losses(batch)
            n = float(out["num_frames"]) * weight
            totals += torch.tensor([float(out["text_loss"]) * n, float(out["audio_loss"]) * n, n],
                                   dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(totals)
        self.wrapped.train()
        frames = max(float(totals[2]), 1.0)
        text, audio = float(totals[0]) / frames, float(totals[1]) / frames
        m = self.cfg.model
        return {"val_loss": m.text_loss_weight * text + m.audio_loss_weight * audio, "val_text_loss": text,
                "val_audio_loss": audio, "val_frames": float(totals[2])}

    def save_tokenizer(self, folder: Path) -> None:
        self.model.tokenizer.save(str(folder / "tokenizer"))

    def save_best(self, val: dict[str, float]) -> bool:
        """Collective: keep the weights as output_dir/best when ``val_loss`` is the lowest so far."""
        if not self.cfg.keep_best or val["val_loss"] >= self.best_val:
            return False
        self.best_val = val["val_loss"]
        state = self.model_state()  # collective under FSDP
        if self.rank == 0:
            from omegaconf import OmegaConf

            def fill(tmp: Path) -> None:
                torch.save(state, tmp / "model.pt")
                OmegaConf.save(OmegaConf.create(config_to_dict(self.cfg)), tmp / "train_config.yaml")
                (tmp / "val.json").write_text(json.dumps({"step": self.step, **val}))
                self.save_tokenizer(tmp)

            write_folder_atomically(Path(self.cfg.output_dir) / "best", fill)
        barrier()
        return True

    def save_checkpoint(self):
        """Collective: every rank contributes its data position; rank 0 writes and publishes atomically."""
        positions = gather_data_positions(self.stream.position, self.world)
        model_state, optim_state = self.model_state(), self.optimizer_state()  # collective under FSDP
        if self.rank == 0:
            publish_checkpoint(self.cfg.output_dir, self.step,
                               {"model.pt": model_state, "optimizer.pt": optim_state, "scheduler.pt": self.scheduler.state_dict()},
                               config_to_dict(self.cfg), positions, keep=self.cfg.keep_checkpoints, extra=self.save_tokenizer)
        barrier()


class _LossModule(torch.nn.Module):
    """What DDP/FSDP wrap: forward(batch) -> losses, so gradient hooks see the whole step."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.training_losses(batch)


def worker_device(cfg: Any) -> torch.device:
    """This Ray Train worker's device (its GPU, or the CPU with ``cpus_per_worker`` threads)."""
    import ray.train.torch

    if not torch.cuda.is_available() or not cfg.use_gpu:
        torch.set_num_threads(max(1, int(cfg.cpus_per_worker)))
    device = ray.train.torch.get_device() if cfg.use_gpu else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


# ---------------------------------------------------------------- the Ray Train worker loop
def _truncate_jsonl(path: Path, step: int) -> None:
    """Drop rows after ``step`` (the checkpoint a run resumes from: those steps are redone)."""
    kept = []
    if path.exists():
        kept = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(k + "\n" for k in kept))


def train_loop_per_worker(loop_config: dict) -> None:
    import ray.train

    cfg = train_config_from_dict(loop_config["cfg"])
    device = worker_device(cfg)
    state = TrainState(cfg, device)
    rank, world = state.rank, state.world
    out = Path(cfg.output_dir)
    writer, metrics_file = None, None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"), purge_step=state.step + 1 if state.step else None)
        _truncate_jsonl(out / "metrics.jsonl", state.step)
        _truncate_jsonl(out / "val.jsonl", state.step)
        metrics_file = open(out / "metrics.jsonl", "a")
        if state.resumed_from:
            print(f"resumed from {state.resumed_from} at step {state.step}", flush=True)

    def run_validation() -> None:
        if not state.val_batches:
            return
        val = state.validate()
        best = state.save_best(val)
        if rank == 0:
            row = {"step": state.step, **val, "best": best}
            with open(out / "val.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            for k in ("val_loss", "val_text_loss", "val_audio_loss"):
                writer.add_scalar(f"val/{k[4:]}", val[k], state.step)
            writer.flush()
            print(f"step {state.step}: val_loss {val['val_loss']:.4f} (text {val['val_text_loss']:.4f}, "
                  f"audio {val['val_audio_loss']:.4f}){' best' if best else ''}", flush=True)

    if state.step == 0:
        run_validation()
    last_ckpt_step = last_val_step = state.step
    window = {"t": time.time(), "audio": 0.0, "frames": 0.0}
    it = iter(state.stream)
    while state.step < cfg.max_steps:
        batches = [b for b in (next(it, None) for _ in range(cfg.grad_accum_steps)) if b is not None]
        # All ranks stop together when any rank runs out of data (epoch mode), so no collective hangs.
        alive = torch.tensor([1.0 if len(batches) == cfg.grad_accum_steps else 0.0], device=device)
        if world > 1:
            dist.all_reduce(alive, op=dist.ReduceOp.MIN)
        if alive.item() == 0:
            break
        m = state.train_step(batches)
        totals = torch.tensor([m["loss"], m["text_loss"], m["audio_loss"], m["audio_seconds"], m["frames"]], dtype=torch.float64, device=device)
        if world > 1:
            dist.all_reduce(totals)
        loss, text_loss, audio_loss = (totals[:3] / world).tolist()
        window["audio"] += totals[3].item()
        window["frames"] += totals[4].item()
        row = {"step": state.step, "loss": loss, "text_loss": text_loss, "audio_loss": audio_loss, "lr": m["lr"],
               "grad_norm": m["grad_norm"], "rank0_loss": m["loss"]}
        if state.step % cfg.log_every == 0 or state.step == cfg.max_steps:
            dt = max(time.time() - window["t"], 1e-9)
            row["audio_seconds_per_s"] = window["audio"] / dt
            row["frames_per_s"] = window["frames"] / dt
            window = {"t": time.time(), "audio": 0.0, "frames": 0.0}
            if writer is not None:
                for k in ("loss", "text_loss", "audio_loss", "lr", "grad_norm", "audio_seconds_per_s", "frames_per_s"):
                    writer.add_scalar(f"train/{k}", row[k], state.step)
                writer.flush()
                print(f"step {state.step}: loss {loss:.4f} (text {text_loss:.4f}, audio {audio_loss:.4f}), "
                      f"{row['audio_seconds_per_s']:.1f} audio s/s", flush=True)
        if metrics_file is not None:
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()
        if state.step % cfg.val_every == 0:
            run_validation()
            last_val_step = state.step
        if state.step % cfg.checkpoint_every == 0:
            state.save_checkpoint()
            last_ckpt_step = state.step
        if cfg.fail_at_step is not None and state.step == cfg.fail_at_step:
            raise RuntimeError(f"fail_at_step={cfg.fail_at_step}: simulated crash (resume test)")
    if state.step != last_val_step:
        run_validation()
    if state.step != last_ckpt_step:
        state.save_checkpoint()
    if cfg.export:
        from duplexgen.training.export import export_pretrained

        full_state = state.model_state()  # collective under FSDP
        if rank == 0:
            export_pretrained(state.model, out / "export", cfg, state_dict=full_state)
    barrier()
    if writer is not None:
        writer.close()
        metrics_file.close()
    ray.train.report({"step": state.step, "data_position": state.stream.position})


# ---------------------------------------------------------------- driver
def build_torch_trainer(train_loop, cfg: Any, name: str):
    """A Ray Train TorchTrainer for ``cfg`` (num_workers, use_gpu, cpus_per_worker, ray_address, ray_num_cpus,
    max_failures, output_dir), starting Ray first when needed. Shared by the SALM-Duplex and codec trainers."""
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if not ray.is_initialized():
        env = {k: os.environ.get(k, "1") for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env["TOKENIZERS_PARALLELISM"] = "false"
        # "local": start a fresh Ray instead of attaching to whatever `ray start` left on this machine.
        ray.init(address=cfg.ray_address or os.environ.get("RAY_ADDRESS") or "local", num_cpus=cfg.ray_num_cpus,
                 runtime_env={"env_vars": env}, log_to_driver=True, include_dashboard=False)
    return TorchTrainer(
        train_loop,
        train_loop_config={"cfg": config_to_dict(cfg)},
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                     resources_per_worker={"CPU": cfg.cpus_per_worker, **({"GPU": 1} if cfg.use_gpu else {})}),
        torch_config=TorchConfig(backend="nccl" if cfg.use_gpu else "gloo"),
        run_config=RunConfig(name=name, storage_path=str(Path(cfg.output_dir) / "ray"),
                             failure_config=FailureConfig(max_failures=cfg.max_failures)),
    )


def run_training(cfg: TrainConfig) -> dict[str, Any]:
    """Train with Ray Train; resumes from ``output_dir``'s latest checkpoint. Returns a summary dict:
    ``steps``, ``losses`` (per step, mean over workers), ``checkpoint`` (latest), ``resumed_from``, ``output_dir``."""
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    from duplexgen.training.data import list_shards
    from duplexgen.training.model import check_tokenizer_config

    # Fail early, in the driver, before any worker starts or any step runs, with errors that name the key.
    check_random_init(cfg.model)
    check_tokenizer_config(cfg.model)
    list_shards(cfg.train_shards)
    if cfg.val_shards:
        list_shards(cfg.val_shards)
    resumed_from = latest_checkpoint(cfg.output_dir)
    build_torch_trainer(train_loop_per_worker, cfg, "ray_train").fit()
    rows = read_metrics(cfg.output_dir)
    ckpt = latest_checkpoint(cfg.output_dir)
    return {
        "output_dir": cfg.output_dir,
        "steps": rows[-1]["step"] if rows else 0,
        "losses": [r["loss"] for r in rows],
        "metrics": rows,
        "checkpoint": str(ckpt) if ckpt else None,
        "resumed_from": str(resumed_from) if resumed_from else None,
        "val": read_metrics(cfg.output_dir, "val.jsonl"),
        "best": str(out / "best") if (out / "best" / "COMPLETE").exists() else None,
        "export": str(out / "export") if (out / "export" / "model.safetensors").exists() else None,
    }


def read_metrics(output_dir: str, name: str = "metrics.jsonl") -> list[dict]:
    p = Path(output_dir) / name
    if not p.exists():
        return []
    return [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]
