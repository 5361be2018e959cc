"""What pruning buys at inference: parameters, FLOPs and measured latency of one denoising step.

Unstructured and N:M masks leave every matrix its shape, so dense kernels do exactly the work they
did before: only layers made physically smaller (structured pruning) or sparse kernels (2:4 on a
GPU) make a step cheaper. So FLOPs are *counted* on the step as it runs (torch's FlopCounterMode,
the U-Net called as the pipeline calls it: a batch of 2 per image under classifier-free guidance),
never inferred from a sparsity; and latency is *measured* against the dense U-Net in the same
process, repeats interleaved, because these machines are noisy and only a ratio taken side by side
means anything.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


LATENT_SCALE = 8  # Stable Diffusion's VAE: three downsamplings, latents 1/8 of the image (the toy's too)


@dataclass(frozen=True)
class StepInputs:
    """One U-Net call of a sampling step: latents, timestep and text context."""

    sample: torch.Tensor  # (batch, in_channels, height / 8, width / 8)
    timestep: torch.Tensor
    context: torch.Tensor  # (batch, text positions, cross_attention_dim)


def step_inputs(unet, *, height: int, width: int, batch: int = 2, text_positions: int = 77,
                device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0) -> StepInputs:
    """Seeded inputs of the shape the pipeline feeds ``unet`` at ``height`` x ``width`` pixels
    (batch 2: one image under classifier-free guidance)."""
    config = unet.config
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, config.in_channels, height // LATENT_SCALE, width // LATENT_SCALE, generator=generator)
    context = torch.randn(batch, text_positions, config.cross_attention_dim, generator=generator)
    return StepInputs(sample.to(device, dtype), torch.tensor(500, device=device), context.to(device, dtype))


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def nonzero_parameter_count(module: nn.Module) -> int:
    """Parameters that are not exactly zero: what a mask removed shows here, not in `parameter_count`."""
    return sum(int(torch.count_nonzero(p)) for p in module.parameters())


@torch.no_grad()
def step_flops(unet, inputs: StepInputs) -> int:
    """Floating-point operations of one U-Net call, as counted by FlopCounterMode (a multiply-add is 2)."""
    with FlopCounterMode(display=False) as counter:
        unet(inputs.sample, inputs.timestep, encoder_hidden_states=inputs.context)
    return int(counter.get_total_flops())


@torch.no_grad()
def step_seconds(unet, inputs: StepInputs) -> float:
    """Wall time of one U-Net call, synchronised on a GPU."""
    synchronise = torch.cuda.synchronize if inputs.sample.is_cuda else (lambda: None)
    synchronise()
    start = time.perf_counter()
    unet(inputs.sample, inputs.timestep, encoder_hidden_states=inputs.context)
    synchronise()
    return time.perf_counter() - start


def compare_latency(pruned, dense, inputs: StepInputs, *, repeats: int = 10, warmup: int = 2) -> dict:
    """Median seconds per U-Net call of ``pruned`` and ``dense``, measured alternately, and their ratio.

    ``speedup`` > 1 means the pruned U-Net is faster.
    """
    for _ in range(warmup):
        step_seconds(dense, inputs)
        step_seconds(pruned, inputs)
    times = {"pruned": [], "dense": []}
    for _ in range(repeats):  # interleaved: drift in the machine's speed hits both alike
        times["dense"].append(step_seconds(dense, inputs))
        times["pruned"].append(step_seconds(pruned, inputs))
    pruned_s, dense_s = statistics.median(times["pruned"]), statistics.median(times["dense"])
    return {"seconds_per_step": pruned_s, "dense_seconds_per_step": dense_s, "speedup": dense_s / pruned_s,
            "repeats": repeats}


def step_cost(unet, dense, *, height: int, width: int, text_positions: int = 77, device="cpu",
              dtype=torch.float32, repeats: int = 10) -> dict:
    """Parameters, FLOPs per step and measured latency of ``unet`` beside ``dense`` at one resolution."""
    inputs = step_inputs(unet, height=height, width=width, text_positions=text_positions, device=device, dtype=dtype)
    return {
        "height": height, "width": width, "batch": int(inputs.sample.shape[0]),
        "parameters": parameter_count(unet), "dense_parameters": parameter_count(dense),
        "nonzero_parameters": nonzero_parameter_count(unet),
        "flops_per_step": step_flops(unet, inputs), "dense_flops_per_step": step_flops(dense, inputs),
        **compare_latency(unet, dense, inputs, repeats=repeats),
        "semi_structured": semi_structured_latency(unet, dense, inputs, repeats=repeats),
    }


def holds_two_of_four(weight: torch.Tensor) -> bool:
    """Whether every group of 4 consecutive input weights of every row has at least 2 zeros (2:4 along
    the inputs, the layout of PyTorch's semi-structured kernels)."""
    rows, cols = weight.shape
    return cols % 4 == 0 and bool(((weight.reshape(rows, cols // 4, 4) == 0).sum(-1) >= 2).all())


def two_of_four_linears(unet: nn.Module) -> list[str]:
    """The Linears a 2:4 run left in that pattern: those the semi-structured kernels could run."""
    return [name for name, module in unet.named_modules()
            if isinstance(module, nn.Linear) and holds_two_of_four(module.weight.detach())]


@torch.no_grad()
def with_semi_structured_weights(unet: nn.Module, names: list[str]) -> tuple[nn.Module, list[str]]:
    """A copy of ``unet`` whose 2:4 Linears hold `to_sparse_semi_structured` weights (CUDA, float16 or
    bfloat16 only), and the layers the kernels refused (shapes below or off their tile multiples)."""
    import copy

    from torch.sparse import to_sparse_semi_structured

    sparse, refused = copy.deepcopy(unet), []
    for name in names:
        module = sparse.get_submodule(name)
        try:
            module.weight = nn.Parameter(to_sparse_semi_structured(module.weight), requires_grad=False)
        except (RuntimeError, ValueError):
            refused.append(name)
    return sparse, refused


def semi_structured_latency(unet, dense, inputs: StepInputs, *, repeats: int = 10) -> dict:
    """The 2:4 U-Net again with PyTorch's semi-structured sparse kernels, against dense: what 2:4 buys on
    a GPU that has them (Ampere and later). Needs CUDA and half precision; elsewhere says why not."""
    names = two_of_four_linears(unet)
    if not names:
        return {"measured": False, "why": "no Linear holds the 2:4 pattern"}
    if not inputs.sample.is_cuda or inputs.sample.dtype not in (torch.float16, torch.bfloat16):
        return {"measured": False, "why": "semi-structured kernels need CUDA and float16/bfloat16",
                "two_of_four_linears": len(names)}
    sparse, refused = with_semi_structured_weights(unet, names)
    return {"measured": True, "two_of_four_linears": len(names), "refused_linears": refused,
            **compare_latency(sparse, dense, inputs, repeats=repeats)}

