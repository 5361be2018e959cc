"""Activation statistics through one hook mechanism, for every method and component.

A *feed* runs the model (text-encoder forwards over calibration prompts, or
denoising loops of the pipeline with classifier-free guidance) and, before each
forward, tells a shared `CalibrationState` how much that forward counts (its
timestep weight) and which token rows are real. Forward pre-hooks on the target
layers hand each layer's input to an accumulator. Hooks are always removed.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger(__name__)

STATISTIC_KINDS = ("norms", "hessian")


@dataclass
class CalibrationState:
    """What the feed says about the forward that is about to run."""

    weight: float = 1.0  # timestep weight of this forward
    row_mask: torch.Tensor | None = None  # (B*T,) bool; False rows (padding) are skipped
    forwards: int = 0


class StopForward(Exception):
    """Raised by a hook to end a forward early once the layers of interest have run."""


class LayerStatistics:
    """Weighted input statistics of one layer.

    - norms: ``sum_sq[j] = sum_t w_t * sum_rows x_j^2`` (Wanda's ||X_j||_2^2, weighted)
    - hessian: ``xtx = sum_t w_t * X_t^T X_t`` (SparseGPT/OBS, H = 2 xtx / weight_sum)
    ``weight_sum = sum_t w_t * rows_t`` normalises either.
    """

    def __init__(self, in_features: int, kind: str, device: torch.device | str = "cpu"):
        if kind not in STATISTIC_KINDS:
            raise ValueError(f"unknown statistics kind {kind!r}")
        self.kind = kind
        self.in_features = in_features
        self.weight_sum = 0.0
        self.rows = 0
        if kind == "norms":
            self.sum_sq = torch.zeros(in_features, dtype=torch.float64, device=device)
        else:
            self.xtx = torch.zeros(in_features, in_features, dtype=torch.float32, device=device)

    def add_batch(self, rows: torch.Tensor, weight: float = 1.0) -> None:
        """rows: (N, in_features) inputs, one row per token/pixel."""
        rows = rows.to(torch.float32)
        if self.kind == "norms":
            self.sum_sq += weight * rows.pow(2).sum(dim=0, dtype=torch.float64).to(self.sum_sq.device)
        else:
            rows = rows.to(self.xtx.device)
            self.xtx.addmm_(rows.T, rows, alpha=weight)
        self.weight_sum += weight * rows.shape[0]
        self.rows += rows.shape[0]

    def column_norms(self) -> torch.Tensor:
        """||X_j||_2 per input column, (in_features,) float32."""
        if self.kind == "norms":
            return self.sum_sq.sqrt().to(torch.float32)
        return torch.diagonal(self.xtx).clamp_min(0).sqrt()

    def column_rms(self) -> torch.Tensor:
        """Root mean square of each input column over the (weighted) rows, (in_features,) float32.

        A per-row statistic: it does not grow with how many rows a layer saw, so
        layers that see different numbers of tokens (image tokens, 77 text tokens,
        one time embedding) can be compared, as OWL does across a U-Net block.
        """
        if self.kind == "norms":
            mean_square = self.sum_sq / max(self.weight_sum, 1e-12)
        else:
            mean_square = torch.diagonal(self.xtx).clamp_min(0).double() / max(self.weight_sum, 1e-12)
        return mean_square.sqrt().to(torch.float32)

    def hessian(self) -> torch.Tensor:
        """H = 2 X^T X / sum(w * rows), (in_features, in_features) float32."""
        if self.kind != "hessian":
            raise ValueError("this accumulator collected norms, not a Hessian")
        return self.xtx * (2.0 / max(self.weight_sum, 1e-12))

    def to_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        data = self.sum_sq if self.kind == "norms" else self.xtx
        return {
            f"{prefix}.{self.kind}": data,
            f"{prefix}.weight_sum": torch.tensor([self.weight_sum], dtype=torch.float64),
            f"{prefix}.rows": torch.tensor([self.rows], dtype=torch.int64),
        }

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, torch.Tensor], prefix: str) -> "LayerStatistics":
        kind = "norms" if f"{prefix}.norms" in tensors else "hessian"
        data = tensors[f"{prefix}.{kind}"]
        stats = cls(data.shape[0], kind, device=data.device)
        if kind == "norms":
            stats.sum_sq = data.to(torch.float64)
        else:
            stats.xtx = data.to(torch.float32)
        stats.weight_sum = float(tensors[f"{prefix}.weight_sum"].item())
        stats.rows = int(tensors[f"{prefix}.rows"].item())
        return stats


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
    state = CalibrationState()
    stats: dict[str, LayerStatistics] = {}

    def on_input(name: str, layer: nn.Module, x: torch.Tensor) -> None:
        rows = input_rows(layer, x)
        if state.row_mask is not None and not isinstance(layer, nn.Conv2d):
            rows = rows[state.row_mask.to(rows.device)]
        if name not in stats:
            stats[name] = LayerStatistics(rows.shape[1], kind, device=device or rows.device)
        stats[name].add_batch(rows, state.weight)

    with capture_inputs(layers, on_input, stop_after=stop_after):
        feed(state, stop_after)
    missing = sorted(set(layers) - set(stats))
    if missing:
        raise RuntimeError(f"calibration never reached {len(missing)} layer(s), e.g. {missing[0]}")
    return stats


def save_statistics(stats: Mapping[str, LayerStatistics]) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for name, layer_stats in stats.items():
        tensors.update(layer_stats.to_tensors(name))
    return tensors


def load_statistics(tensors: Mapping[str, torch.Tensor]) -> dict[str, LayerStatistics]:
    prefixes = {key.rsplit(".", 1)[0] for key in tensors if key.endswith(".rows")}
    return {prefix: LayerStatistics.from_tensors(tensors, prefix) for prefix in sorted(prefixes)}


# --- timestep weights --------------------------------------------------------------------------


def timestep_weights(num_steps: int, scheme: str = "uniform", *, wmin: float = 0.8, wmax: float = 1.2) -> list[float]:
    """Weight of each denoising step (step 0 is the noisiest).

    ``log_decrease`` is OBS-Diff's ``w_i = wmin + (wmax - wmin) * ln(T - i) / ln T``:
    early steps count more, since their errors accumulate through later steps.
    """
    if scheme == "uniform":
        return [1.0] * num_steps
    if scheme == "log_decrease":
        if num_steps == 1:
            return [wmax]
        return [wmin + (wmax - wmin) * math.log(num_steps - i) / math.log(num_steps) for i in range(num_steps)]
    raise ValueError(f"unknown timestep weighting {scheme!r}; expected 'uniform' or 'log_decrease'")


# --- feeds -------------------------------------------------------------------------------------


@dataclass
class TextEncoderFeed:
    """Text-encoder forwards over tokenised calibration prompts.

    input_ids: (P, T) token ids, padded to T (77 for SD2). By default every
    position counts, padding included, as in the paper's code.
    """

    text_encoder: nn.Module
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    batch_size: int = 1
    count_padding: bool = True

    def __call__(self, state: CalibrationState, stop_after: nn.Module | None = None) -> None:
        device = next(self.text_encoder.parameters()).device
        with torch.no_grad():
            for start in range(0, self.input_ids.shape[0], self.batch_size):
                ids = self.input_ids[start : start + self.batch_size].to(device)
                mask = self.attention_mask[start : start + self.batch_size]
                state.row_mask = None if self.count_padding else mask.reshape(-1).bool()
                state.forwards += 1
                try:
                    self.text_encoder(ids)
                except StopForward:
                    pass


def step_indices(timesteps: Sequence) -> dict[float, int]:
    """Timestep value -> denoising step index: distinct values, descending (step 0 the noisiest).

    A scheduler may call the U-Net more than once at a timestep (PNDM repeats one);
    each call at that timestep belongs to the same step.
    """
    distinct = sorted({float(t) for t in timesteps}, reverse=True)
    return {t: i for i, t in enumerate(distinct)}


def called_timestep(args: tuple, kwargs: dict) -> float:
    """The timestep a U-Net forward is called with (second positional argument or ``timestep=``)."""
    timestep = kwargs["timestep"] if "timestep" in kwargs else args[1]
    if isinstance(timestep, torch.Tensor):
        timestep = timestep.reshape(-1)[0].item()  # one timestep for the whole batch
    return float(timestep)


@dataclass
class DenoisingFeed:
    """Full pipeline calls (latents only, no VAE decode) with classifier-free guidance.

    The U-Net runs once per call on the conditional and unconditional batch
    together; a pre-hook on the U-Net reads the timestep of the call and sets the
    weight of its step, so schedulers that call the U-Net more often than
    ``num_steps`` (PNDM) still weight every call by the step it belongs to.
    """

    pipe: object
    prompts: Sequence[str]
    num_steps: int
    guidance_scale: float
    seeds: Sequence[int]
    weighting: str = "uniform"  # a `timestep_weights` scheme
    batch_size: int = 1
    height: int | None = None
    width: int | None = None

    def _set_step_weight(self, state: CalibrationState):
        def hook(module, args, kwargs):
            steps = step_indices(self.pipe.scheduler.timesteps)
            timestep = called_timestep(args, kwargs)
            if timestep not in steps:
                raise RuntimeError(f"U-Net called at timestep {timestep}, not among the scheduler's {sorted(steps)}")
            state.weight = timestep_weights(len(steps), self.weighting)[steps[timestep]]
            state.forwards += 1

        return hook

    def __call__(self, state: CalibrationState, stop_after: nn.Module | None = None) -> None:
        timestep_weights(self.num_steps, self.weighting)  # an unknown scheme fails before any work
        unet = self.pipe.unet
        handle = unet.register_forward_pre_hook(self._set_step_weight(state), with_kwargs=True)
        device = next(unet.parameters()).device
        try:
            for start in range(0, len(self.prompts), self.batch_size):
                prompts = list(self.prompts[start : start + self.batch_size])
                generators = [torch.Generator(device).manual_seed(int(s)) for s in self.seeds[start : start + len(prompts)]]
                self.pipe(
                    prompt=prompts,
                    num_inference_steps=self.num_steps,
                    guidance_scale=self.guidance_scale,
                    generator=generators,
                    height=self.height,
                    width=self.width,
                    output_type="latent",
                    return_dict=True,
                )
        finally:
            handle.remove()
