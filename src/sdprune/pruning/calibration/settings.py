"""How calibration data is fed: plain settings, no logic."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CalibrationSettings:
    """How calibration data is fed. Defaults follow the paper's code."""

    max_length: int = 77  # pad every prompt to this many tokens
    count_padding: bool = True  # padding positions count in the statistics
    batch_size: int = 1  # one prompt per forward
    sequential: bool = True  # calibrate each group on the already-pruned model
    groups: int = 0  # 0: one group per block
    # U-Net only: the denoising loop the statistics are collected over
    num_steps: int = 25
    guidance_scale: float = 7.5
    timestep_weighting: str = "uniform"  # or "log_decrease" (OBS-Diff's), between these two weights:
    timestep_wmin: float = 0.8  # the last step's weight
    timestep_wmax: float = 1.2  # the first (noisiest) step's weight
    height: int | None = None
    width: int | None = None
    seed: int = 0
