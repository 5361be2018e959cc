"""One hook mechanism for every method and component.

A feed runs the model and, before each forward, tells a shared `CalibrationState`
how much that forward counts (its timestep weight) and which token rows are real.
Forward pre-hooks on the target layers hand each layer's input to an accumulator
of the requested kind. Hooks are always removed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from sdprune.pruning.calibration.statistics import LayerStatistics, accumulator_class


@dataclass
class CalibrationState:
    """What the feed says about the forward that is about to run."""

    weight: float = 1.0  # timestep weight of this forward
    row_mask: torch.Tensor | None = None  # (B*T,) bool; False rows (padding) are skipped
    forwards: int = 0


class StopForward(Exception):
    """Raised by a hook to end a forward early once the layers of interest have run."""


def input_rows(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A layer's input as (N, in_features) rows: tokens for Linear, unfolded patches for Conv2d."""
    if isinstance(layer, nn.Conv2d):
        patches = F.unfold(
            x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding, stride=layer.stride
        )  # (B, C*kh*kw, L)
        return patches.transpose(1, 2).reshape(-1, patches.shape[1])
    return x.reshape(-1, x.shape[-1])


@contextlib.contextmanager
def capture_inputs(
    layers: Mapping[str, nn.Module],
    on_input: Callable[[str, nn.Module, torch.Tensor], None],
    *,
    stop_after: nn.Module | None = None,
) -> Iterator[None]:
    """Call ``on_input(name, layer, input)`` before every forward of every layer.

    With ``stop_after``, the forward is cut short (StopForward) once that module
    has run: later blocks are not needed to calibrate earlier ones.
    """
    handles = []

    def make_hook(name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            on_input(name, module, args[0].detach())

        return hook

    def stop_hook(module: nn.Module, args: tuple, output) -> None:
        raise StopForward

    try:
        for name, layer in layers.items():
            handles.append(layer.register_forward_pre_hook(make_hook(name)))
        if stop_after is not None:
            handles.append(stop_after.register_forward_hook(stop_hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


Feed = Callable[[CalibrationState, "nn.Module | None"], None]


def collect_statistics(
    layers: Mapping[str, nn.Module],
    feed: Feed,
    *,
    kind: str = "norms",
    stop_after: nn.Module | None = None,
    device: torch.device | str | None = None,
) -> dict[str, LayerStatistics]:
    """Run ``feed`` once with hooks on ``layers``; return their input statistics."""
    accumulator = accumulator_class(kind)  # an unknown kind fails before the feed runs
    state = CalibrationState()
    stats: dict[str, LayerStatistics] = {}

    def on_input(name: str, layer: nn.Module, x: torch.Tensor) -> None:
        rows = input_rows(layer, x)
        if state.row_mask is not None and not isinstance(layer, nn.Conv2d):
            rows = rows[state.row_mask.to(rows.device)]
        if name not in stats:
            stats[name] = accumulator(rows.shape[1], device=device or rows.device)
        stats[name].add_batch(rows, state.weight)

    with capture_inputs(layers, on_input, stop_after=stop_after):
        feed(state, stop_after)
    missing = sorted(set(layers) - set(stats))
    if missing:
        raise RuntimeError(f"calibration never reached {len(missing)} layer(s), e.g. {missing[0]}")
    return stats
