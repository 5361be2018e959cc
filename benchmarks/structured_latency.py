"""Structured U-Nets of sd2-random at 15 / 30 / 45 %: parameters, counted FLOPs and measured latency per step.

Each sparsity removes ``int(s * units)`` of every transformer block's attention heads and
GEGLU feed-forward units (at least one kept) and slices the layers
(`sdprune.pruning.structured`). The units are chosen by magnitude (H = I: the group's
squared weight norm), not by OBS-Diff's calibrated saliency: OBS-Diff removes the same
count from every module, so the sliced shapes, and with them the parameters, FLOPs and
latency, are the same whichever units go; full-size OBS calibration on this CPU would
cost minutes per layer without changing a figure below (`obs_diff_sd2_random.py` times it).

One U-Net call is what the pipeline makes per denoising step under classifier-free
guidance (batch 2, 77 text positions) at ``--height`` px (latents 1/8 of it). FLOPs are
counted by torch's FlopCounterMode on that call; latency is the median of ``--repeats``
calls of the dense and one sliced U-Net alternated in one process, after ``--warmup``
calls each (also the process's CPU time: on a shared CPU it counts only this job's work).
One sliced copy at a time, so the peak is about twice the dense U-Net (7 GB in float32).

    python benchmarks/structured_latency.py                                   # CPU, float32, 256 px
    python benchmarks/structured_latency.py --device cuda --dtype float16 --height 768
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from diffusers import UNet2DConditionModel

from sdprune.evaluation.efficiency import parameter_count, step_flops, step_inputs
from sdprune.models.architectures import BUILT_IN
from sdprune.pruning.structured.pruner import UnitPruner
from sdprune.pruning.structured.sliced_unet import SlicedUNet2DConditionModel
from sdprune.pruning.structured.units import unit_counts


def dense_unet(model: str, seed: int) -> UNet2DConditionModel:
    """A built-in model's U-Net as `build_pipeline(model)` builds it (same seed, same weights)."""
    torch.manual_seed(seed)
    return UNet2DConditionModel(**BUILT_IN[model]["unet"]).eval()


@torch.no_grad()
def sliced_copy(dense: UNet2DConditionModel, sparsity: float) -> SlicedUNet2DConditionModel:
    """A copy of ``dense`` with ``sparsity`` of each transformer block's units removed by magnitude."""
    unet = copy.deepcopy(dense)
    pruner = UnitPruner(unet, sparsity)
    pruner.prune(list(pruner.units), None)  # no statistics: H = I
    return SlicedUNet2DConditionModel.from_sliced(unet, pruner.removed).eval()


@torch.no_grad()
def timed_call(unet, inputs) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one U-Net call, synchronised on a GPU."""
    synchronise = torch.cuda.synchronize if inputs.sample.is_cuda else (lambda: None)
    synchronise()
    wall, cpu = time.perf_counter(), time.process_time()
    unet(inputs.sample, inputs.timestep, encoder_hidden_states=inputs.context)
    synchronise()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved_latency(models: dict, inputs, *, repeats: int, warmup: int) -> dict:
    """{name: (median wall s, median CPU s)} with every model called once per round, in rotating order."""
    names = list(models)
    for _ in range(warmup):
        for name in names:
            timed_call(models[name], inputs)
    samples = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            samples[name].append(timed_call(models[name], inputs))
    return {name: tuple(statistics.median(s[i] for s in values) for i in range(2)) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sparsities", nargs="+", type=float, default=[0.15, 0.3, 0.45])
    parser.add_argument("--height", type=int, default=256, help="image side in px (latents height / 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="sd2-random", choices=sorted(BUILT_IN), help="tiny: a quick check of the script")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    dense = dense_unet(args.model, args.seed).to(args.device, dtype)
    inputs = step_inputs(dense, height=args.height, width=args.height, device=args.device, dtype=dtype)
    dense_flops, dense_params = step_flops(dense, inputs), parameter_count(dense)
    print(f"one U-Net call: batch 2 (CFG), latents {args.height // 8}x{args.height // 8} ({args.height} px), "
          f"77 text positions; {args.device} {args.dtype}, {args.threads} threads; median of {args.repeats} "
          f"calls of dense and sliced alternated, after {args.warmup} warm-up; units chosen by magnitude")
    print(f"{'U-Net':<6} {'parameters':>13} {'x dense':>7} {'heads':>5} {'ff units':>8} {'GFLOP/step':>10} "
          f"{'x dense':>7} {'dense s':>7} {'wall s':>7} {'speedup':>7} {'dense cpu':>9} {'cpu s':>7} {'cpu speedup':>11}")
    units = unit_counts(dense)
    print(f"{'dense':<6} {dense_params:>13,} {1:>7.3f} {units['heads']:>5} {units['ff_units']:>8} "
          f"{dense_flops / 1e9:>10.1f} {1:>7.3f}", flush=True)
    for sparsity in args.sparsities:  # one sliced copy at a time: dense + one copy is the memory peak
        sliced = sliced_copy(dense, sparsity)
        params, units, flops = parameter_count(sliced), unit_counts(sliced), step_flops(sliced, inputs)
        latency = interleaved_latency({"dense": dense, "sliced": sliced}, inputs, repeats=args.repeats,
                                      warmup=args.warmup)
        (dense_wall, dense_cpu), (wall, cpu) = latency["dense"], latency["sliced"]
        print(f"{sparsity:<6g} {params:>13,} {params / dense_params:>7.3f} {units['heads']:>5} {units['ff_units']:>8} "
              f"{flops / 1e9:>10.1f} {flops / dense_flops:>7.3f} {dense_wall:>7.2f} {wall:>7.2f} "
              f"{dense_wall / wall:>7.2f} {dense_cpu:>9.2f} {cpu:>7.2f} {dense_cpu / cpu:>11.2f}", flush=True)
        del sliced

if __name__ == "__main__":
    main()
