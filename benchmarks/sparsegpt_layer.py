"""Our SparseGPT layer pruning against the reference algorithm, on SD2's largest Linear shapes.

For each weight shape (out x in) a seeded random weight and a seeded random input of
``--tokens`` rows give one Hessian H = 2 X^T X / n (our `HessianStatistics`); both
implementations prune that same (W, H) at the same sparsity:

- ours: `sdprune.pruning.methods.sparsegpt.prune_layer` (the shared `_obs.obs_prune`);
- reference: `reference_fasterprune` below, written from IST-DASLab/sparsegpt's
  ``SparseGPT.fasterprune`` (damping 1 % of the mean diagonal, Cholesky inverse, upper
  Cholesky of H^-1, blocks of 128 columns, per-block mask by w^2 / d^2, the OBS error
  pushed onto later columns; its per-weight losses kept, as the released code computes
  them; no quantizer). The released code's threshold ``sort(...)[int(n * s)]`` with
  ``<=`` prunes int(n * s) + 1 weights per block (ties aside) where ours prunes exactly
  int(n * s): the agreement columns show that one weight per block and what it changes.

Times are the median of ``--repeats`` interleaved runs in one process after one warm-up
call each (which goes first alternates), so the ratio is taken side by side: wall time, and
on the CPU also the process's CPU time (``time.process_time``), which a busy shared machine
disturbs far less (one thread by default, so CPU time is the work done). Peak memory per layer is measured in a
child process per (shape, implementation), the inputs already built: the largest resident
set sampled every 0.5 ms during the call (a thread reading /proc/self/statm; torch's kernels
release the GIL) minus the resident set just before it, after ``malloc_trim`` gave freed
heap back (``ru_maxrss`` cannot tell the call's peak from building the inputs). On CUDA:
``torch.cuda.max_memory_allocated`` minus what was allocated before.

    python benchmarks/sparsegpt_layer.py                      # unstructured 50 %, three shapes
    python benchmarks/sparsegpt_layer.py --pattern 2:4        # N:M (the masks then agree exactly)
    python benchmarks/sparsegpt_layer.py --device cuda        # same, on a GPU
"""

from __future__ import annotations

import argparse
import ctypes
import json
import resource
import statistics
import subprocess
import sys
import threading
import time

import torch

from sdprune.pruning.calibration import LayerStatistics
from sdprune.pruning.masks import Pattern, parse_pattern
from sdprune.pruning.methods.sparsegpt import prune_layer

SHAPES = ["1280x5120", "5120x1280", "1024x4096"]  # (out x in): ff.net.2, ff.net.0 (one GEGLU half), ff at 1024-d text
TOKEN_CHUNK = 1024  # rows per add_batch, so building H never holds all of X at once


def reference_fasterprune(weight: torch.Tensor, hessian: torch.Tensor, sparsity: float, prunen: int = 0,
                          prunem: int = 0, blocksize: int = 128, percdamp: float = 0.01):
    """IST-DASLab/sparsegpt's ``fasterprune`` on (W, H), returning (pruned W, keep-mask). W: (out, in)."""
    W = weight.clone().float()
    rows, columns = W.shape
    H = hessian.clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    Losses = torch.zeros(rows, device=W.device)
    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns, device=W.device)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    Hinv = torch.linalg.cholesky(H, upper=True)
    pruned = torch.zeros_like(W, dtype=torch.bool)  # added: the mask, which the released code leaves in W's zeros
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Losses1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        if prunen == 0:
            tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
            thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
            mask1 = tmp <= thresh
        else:
            mask1 = torch.zeros_like(W1) == 1
        for i in range(i2 - i1):
            w = W1[:, i]
            d = Hinv1[i, i]
            if prunen != 0 and i % prunem == 0:
                tmp = W1[:, i:(i + prunem)] ** 2 / (torch.diag(Hinv1)[i:(i + prunem)].reshape((1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)
            q = w.clone()
            q[mask1[:, i]] = 0
            Q1[:, i] = q
            Losses1[:, i] = (w - q) ** 2 / d ** 2
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        W[:, i1:i2] = Q1
        pruned[:, i1:i2] = mask1
        Losses += torch.sum(Losses1, 1) / 2
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return W, ~pruned


def ours(weight, stats, sparsity, pattern):
    return prune_layer(weight, stats, sparsity, pattern)


def reference(weight, stats, sparsity, pattern):
    return reference_fasterprune(weight, stats.hessian(), sparsity, prunen=pattern.n, prunem=pattern.m)


IMPLEMENTATIONS = {"ours": ours, "reference": reference}


def layer_inputs(shape: str, tokens: int, device: str, seed: int = 0):
    """A seeded (out, in) weight and the Hessian statistics of ``tokens`` random input rows."""
    out_features, in_features = (int(v) for v in shape.split("x"))
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out_features, in_features, generator=generator) / in_features ** 0.5
    stats = LayerStatistics(in_features, "hessian", device=device)
    scale = 1.0 + torch.rand(in_features, generator=generator)  # columns of unequal size, as real inputs have
    for start in range(0, tokens, TOKEN_CHUNK):
        rows = torch.randn(min(TOKEN_CHUNK, tokens - start), in_features, generator=generator) * scale
        stats.add_batch(rows.to(device))
    return weight.to(device), stats


def timed(fn, *args, device: str):
    """(wall seconds, this process's CPU seconds, result). On a shared CPU the CPU time is the steadier
    figure: wall time also counts the time other jobs held the cores."""
    synchronise = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    synchronise()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    synchronise()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def agreement(a: tuple, b: tuple) -> dict:
    """How far ours (a) and the reference (b) differ: masks and the weights both keep."""
    (wa, ka), (wb, kb) = a, b
    both = ka & kb
    diff = (wa[both] - wb[both]).norm() / wb[both].norm()
    return {"mask_agree": float((ka == kb).float().mean()), "pruned_ours": int((~ka).sum()),
            "pruned_ref": int((~kb).sum()), "weight_rel_diff": float(diff)}


def compare(shape: str, args) -> dict:
    """Interleaved timing of both implementations on one layer, and their agreement."""
    weight, stats = layer_inputs(shape, args.tokens, args.device)
    pattern, wall, cpu = parse_pattern(args.pattern), {n: [] for n in IMPLEMENTATIONS}, {n: [] for n in IMPLEMENTATIONS}
    results = {}
    for name, fn in IMPLEMENTATIONS.items():  # warm-up: first calls pay for lazy initialisation
        fn(weight, stats, args.sparsity, pattern)
    for repeat in range(args.repeats):
        order = list(IMPLEMENTATIONS) if repeat % 2 == 0 else list(reversed(IMPLEMENTATIONS))
        for name in order:
            wall_s, cpu_s, results[name] = timed(IMPLEMENTATIONS[name], weight, stats, args.sparsity, pattern,
                                                 device=args.device)
            wall[name].append(wall_s)
            cpu[name].append(cpu_s)
    w, c = ({n: statistics.median(v) for n, v in times.items()} for times in (wall, cpu))
    return {"ours_s": w["ours"], "ref_s": w["reference"], "ratio": w["ours"] / w["reference"],
            "ours_cpu": c["ours"], "ref_cpu": c["reference"], "cpu_ratio": c["ours"] / c["reference"],
            **agreement(results["ours"], results["reference"])}


def peak_memory(shape: str, implementation: str, args) -> float:
    """Child process: MiB the call adds at its peak over what was resident before it."""
    weight, stats = layer_inputs(shape, args.tokens, args.device)
    pattern: Pattern = parse_pattern(args.pattern)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        IMPLEMENTATIONS[implementation](weight, stats, args.sparsity, pattern)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # heap the inputs freed goes back: the call must fault its own pages
    before, peak, done = _resident_bytes(), [0], threading.Event()

    def sample():  # torch's kernels release the GIL, so this thread sees the call's buffers come and go
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    IMPLEMENTATIONS[implementation](weight, stats, args.sparsity, pattern)
    done.set()
    sampler.join()
    return (max(peak[0], _resident_bytes()) - before) / 2**20


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def child_peak(shape: str, implementation: str, args) -> float:
    command = [sys.executable, __file__, "--child", shape, implementation, "--tokens", str(args.tokens),
               "--sparsity", str(args.sparsity), "--pattern", args.pattern, "--device", args.device,
               "--threads", str(args.threads)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(next(l for l in out.stdout.splitlines() if l.startswith("PEAK "))[5:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=SHAPES, help="out x in")
    parser.add_argument("--tokens", type=int, default=8192,
                        help="calibration input rows per layer (more than in_features: a full-rank H)")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--pattern", default="unstructured", help="unstructured or N:M (e.g. 2:4)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="1: small ops suffer least from a busy machine")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=2, metavar=("SHAPE", "IMPLEMENTATION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.pattern != "unstructured":
        args.sparsity = parse_pattern(args.pattern).sparsity
    if args.child:
        print("PEAK " + json.dumps(peak_memory(*args.child, args)))
        return

    print(f"pattern {args.pattern}, sparsity {args.sparsity:g}, {args.tokens} input rows per layer, "
          f"{args.repeats} interleaved repeats (median), device {args.device}, {args.threads} threads")
    print(f"{'shape':<10} {'ours s':>7} {'ref s':>7} {'ratio':>6} {'ours cpu':>8} {'ref cpu':>8} {'cpu ratio':>9} "
          f"{'mask agree':>10} {'pruned ours':>11} {'pruned ref':>10} {'W rel diff':>10} {'ours MiB':>8} {'ref MiB':>8}",
          flush=True)
    for shape in args.shapes:
        r = compare(shape, args)
        peaks = {name: child_peak(shape, name, args) for name in IMPLEMENTATIONS}
        print(f"{shape:<10} {r['ours_s']:>7.2f} {r['ref_s']:>7.2f} {r['ratio']:>6.2f} {r['ours_cpu']:>8.2f} "
              f"{r['ref_cpu']:>8.2f} {r['cpu_ratio']:>9.2f} {r['mask_agree']:>10.6f} {r['pruned_ours']:>11} "
              f"{r['pruned_ref']:>10} {r['weight_rel_diff']:>10.2e} {peaks['ours']:>8.0f} {peaks['reference']:>8.0f}",
              flush=True)

if __name__ == "__main__":
    main()
