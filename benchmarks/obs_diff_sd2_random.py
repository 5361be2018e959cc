"""OBS-Diff on the sd2-random U-Net, SparseGPT beside it: calibration time, pruning time, peak memory.

Each (method, pattern) prunes the U-Net's transformer-block Linears (OBS-Diff's default
scope, `transformer`) in its own process, so its peak resident memory (``ru_maxrss``)
is its own. Both methods get the same reduced calibration, printed with the results:
few prompts, few denoising steps at a small resolution, K = 4 sequential groups, so a
CPU can run it; OBS-Diff adds its log-decreasing step weights (``ObsDiffSettings``),
SparseGPT weighs the steps uniformly. The two are otherwise the same code path.

- pruning time: the method's layer updates (`_LayerPruner.prune` / `UnitPruner.prune`),
  timed around each call;
- calibration time: the rest of `prune_component` (denoising runs, hooks, X^T X per layer);
- load time (reading the saved model) is printed apart and counted in neither.

Wall and CPU seconds (the child's ``process_time``: what this job computed, which a
busy shared machine disturbs less); the ratio columns are OBS-Diff / SparseGPT.

    python benchmarks/obs_diff_sd2_random.py                                   # unstructured 50 %
    python benchmarks/obs_diff_sd2_random.py --patterns unstructured 2:4       # and 2:4
    python benchmarks/obs_diff_sd2_random.py --patterns structured --sparsity 0.3 --methods obs_diff
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from prune_sd2_random import PROMPTS, child_result, peak_rss_gb, saved_model


class PhaseClock:
    """Wall and CPU seconds spent inside the wrapped methods, summed over calls."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def wrap(self, cls, name: str) -> None:
        inner = getattr(cls, name)

        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.wall += time.perf_counter() - wall
                self.cpu += time.process_time() - cpu

        setattr(cls, name, timed)


def calibration_base(args):
    from sdprune.pruning.calibration import CalibrationSettings

    return CalibrationSettings(num_steps=args.steps, groups=args.groups, height=args.height, width=args.height)


def realised(report: dict) -> float:
    """Zeros plus sliced-away weights over the scope's dense weight count (the accounting's counts; the
    structured report's own `realised_sparsity` reads 0 at the time of writing, see the note)."""
    return report["zeros"] / report["target_weights"]


def run_one(method: str, pattern: str, model_dir: Path, args) -> dict:
    """Child process: load the saved pipeline, prune its U-Net, report the phases."""
    import torch

    from sdprune.models.loading import load_pipeline
    from sdprune.pruning import prune as prune_module
    from sdprune.pruning.spec import PruneSpec

    torch.set_num_threads(args.threads)
    clock = PhaseClock()
    clock.wrap(prune_module._LayerPruner, "prune")
    clock.wrap(prune_module.UnitPruner, "prune")
    started = time.perf_counter()
    pipe = load_pipeline(model_dir, device="cpu")
    loaded = time.perf_counter()
    spec = PruneSpec(method, pattern, args.sparsity, "transformer")
    calibration = spec.choice.method.calibration_for("unet", calibration_base(args))
    wall, cpu = time.perf_counter(), time.process_time()
    result = prune_module.prune_component(pipe, "unet", spec, prompts=PROMPTS[: args.prompts],
                                          calibration=calibration)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"load_s": loaded - started, "calibrate_s": wall - clock.wall, "prune_s": clock.wall,
            "calibrate_cpu": cpu - clock.cpu, "prune_cpu": clock.cpu, "realised": realised(result.report),
            "weighting": calibration.timestep_weighting, "groups": calibration.groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["obs_diff", "sparsegpt"])
    parser.add_argument("--patterns", nargs="+", default=["unstructured"], help="unstructured, 2:4, structured")
    parser.add_argument("--sparsity", type=float, default=0.5, help="for unstructured and structured")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="denoising steps per calibration prompt")
    parser.add_argument("--height", type=int, default=256, help="calibration resolution (px)")
    parser.add_argument("--groups", type=int, default=4, help="sequential calibration groups (OBS-Diff's K)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="keep the saved model here (default: a temporary folder)")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "PATTERN", "MODEL_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        method, pattern, model_dir = args.child
        result = run_one(method, pattern, Path(model_dir), args)
        print("RESULT " + json.dumps({**result, "peak_rss_gb": peak_rss_gb()}))
        return

    model_dir = saved_model(args.workdir)
    print(f"U-Net, scope transformer; calibration: {args.prompts} prompts x {args.steps} denoising steps at "
          f"{args.height} px (latents {args.height // 8}x{args.height // 8}), CFG 7.5, {args.groups} sequential "
          f"groups; {args.threads} threads", flush=True)
    print(f"{'pattern':<12} {'method':<9} {'weighting':<12} {'load s':>6} {'calib s':>7} {'prune s':>7} "
          f"{'calib cpu':>9} {'prune cpu':>9} {'peak GB':>7} {'realised':>8}", flush=True)
    for pattern in args.patterns:
        rows = {}
        for method in args.methods:
            sparsity = "0.5" if ":" in pattern else str(args.sparsity)
            child = [sys.executable, __file__, "--child", method, pattern, str(model_dir), "--sparsity", sparsity,
                     "--prompts", str(args.prompts), "--steps", str(args.steps), "--height", str(args.height),
                     "--groups", str(args.groups), "--threads", str(args.threads)]
            r, error = child_result(child)
            if r is None:
                print(f"{pattern:<12} {method:<9} failed:\n{error}", flush=True)
                continue
            rows[method] = r
            print(f"{pattern:<12} {method:<9} {r['weighting']:<12} {r['load_s']:>6.0f} {r['calibrate_s']:>7.1f} "
                  f"{r['prune_s']:>7.1f} {r['calibrate_cpu']:>9.1f} {r['prune_cpu']:>9.1f} {r['peak_rss_gb']:>7.2f} "
                  f"{r['realised']:>8.4f}", flush=True)
        if {"obs_diff", "sparsegpt"} <= set(rows):
            a, b = rows["obs_diff"], rows["sparsegpt"]
            print(f"{pattern:<12} {'ratio':<9} {'obs/sgpt':<12} {'':>6} {a['calibrate_s'] / b['calibrate_s']:>7.2f} "
                  f"{a['prune_s'] / b['prune_s']:>7.2f} {a['calibrate_cpu'] / b['calibrate_cpu']:>9.2f} "
                  f"{a['prune_cpu'] / b['prune_cpu']:>9.2f} {a['peak_rss_gb'] / b['peak_rss_gb']:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
