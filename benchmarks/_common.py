"""Shared by the benchmarks: SD2-shaped components built in code, interleaved timing, verdict lines.

Not a benchmark itself. Timings on a shared machine are noisy, so every figure is
compared with a reference measured in the same process, repeat by repeat
(interleaved), and the ratio's median is the verdict.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

# This checkout's sdprune, or another's to compare before and after a change (SDPRUNE_SRC=/other/src).
sys.path.insert(0, os.environ.get("SDPRUNE_SRC", str(Path(__file__).resolve().parents[1] / "src")))


def build_component(component: str, seed: int = 0, text_layers: int | None = None):
    """One sd2-random component, seeded as `build_from_configs` seeds it (same weights as the saved model);
    ``text_layers``: a text encoder of SD2's width with fewer blocks, for a quick look."""
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sdprune.models.architectures import SD2_TEXT_ENCODER, SD2_UNET

    if component == "unet":
        torch.manual_seed(seed)
        return UNet2DConditionModel(**SD2_UNET).eval()
    torch.manual_seed(seed + 1)
    config = {**SD2_TEXT_ENCODER, **({"num_hidden_layers": text_layers} if text_layers else {})}
    return CLIPTextModel(CLIPTextConfig(**config)).eval()


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def interleaved(runs: dict[str, Callable[[], object]], repeats: int,
                between: Callable[[], object] = lambda: None) -> dict[str, list[float]]:
    """Wall seconds of each run, ``repeats`` rounds of all of them in turn; ``between`` (untimed) after each."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(seconds(run))
            between()
    return times


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median of the per-repeat ratios: each pair was measured back to back, under the same load."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def verdict(label: str, ratio: float, target: float) -> str:
    return f"{label}: {ratio:.2f}x (target <= {target:g}x) {'MET' if ratio <= target else 'MISSED'}"


def fmt(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})"
