"""Seeds derived from (base seed, index), so any single item can be regenerated alone.

Two streams never share a seed: evaluation images take ``derive_seed`` (31-bit,
top bit of 32 clear) and U-Net calibration prompts ``derive_calibration_seed``
(its own SeedSequence spawn key, top bit of 32 set), so calibration never
denoises from the starting noise of an image it is later judged on.
"""

from __future__ import annotations

import random

import numpy as np
import torch

_CALIBRATION_STREAM = 1  # SeedSequence spawn key of the calibration stream (evaluation has none)
_CALIBRATION_BIT = 1 << 31  # set in every calibration seed, clear in every evaluation seed


def derive_seed(base_seed: int, index: int) -> int:
    """A 31-bit seed for item ``index``; independent of batch size and of the other items."""
    state = np.random.SeedSequence([int(base_seed), int(index)]).generate_state(1, dtype=np.uint32)
    return int(state[0] >> 1)


def derive_calibration_seed(base_seed: int, index: int) -> int:
    """The seed of calibration prompt ``index``: a 32-bit seed no ``derive_seed`` ever returns.

    It stays within 32 bits because torch's CPU generator keeps only the low 32 bits of a seed.
    """
    sequence = np.random.SeedSequence([int(base_seed), int(index)], spawn_key=(_CALIBRATION_STREAM,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0] >> 1) | _CALIBRATION_BIT


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
