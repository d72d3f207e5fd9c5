"""Fixtures of the trainer tests: the tiny config over the session's tiny shards and its model (seed 0)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tiny_cfg(tiny_shards):
    from duplexgen.training.config import load_train_config

    return load_train_config("tiny_cpu", [f"train_shards=[{tiny_shards}]", "batch_duration=10"])


@pytest.fixture(scope="module")
def tiny_model(tiny_cfg):
    """A fresh model per test module (modules may switch it to eval mode or swap its codec)."""
    import torch

    from duplexgen.training.model import SALMDuplex

    torch.manual_seed(0)
    return SALMDuplex(tiny_cfg.model)
