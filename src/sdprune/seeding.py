"""Seeds derived from (base seed, index), so any single item can be regenerated alone."""

from __future__ import annotations

import random

import numpy as np
import torch


def derive_seed(base_seed: int, index: int) -> int:
    """A 31-bit seed for item ``index``; independent of batch size and of the other items."""
    state = np.random.SeedSequence([int(base_seed), int(index)]).generate_state(1, dtype=np.uint32)
    return int(state[0] >> 1)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
