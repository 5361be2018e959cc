"""Prune the SD2-shaped random-weight model with each method on the CPU; print time and peak memory.

Each (component, method) runs in its own process, so its peak resident memory is its
own. The U-Net is calibrated at a reduced resolution and with few prompts/steps so
the whole benchmark fits a CPU; the numbers measure the pruning code, not SD2 quality.

    python benchmarks/prune_sd2_random.py                       # every method, both components
    python benchmarks/prune_sd2_random.py --methods magnitude   # a subset
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = ["A dog in a field", "A treehouse at night", "An ocean sunset", "The Eiffel Tower"]


def run_one(component: str, method: str, model_dir: Path, out_dir: Path, args) -> dict:
    """Child process: load the saved model, prune one component, report."""
    import torch

    from sdprune.pruning.calibration import CalibrationSettings
    from sdprune.pruning.spec import PruneSpec
    from sdprune.workflow.stages.prune import prune

    torch.set_num_threads(args.threads)
    calibration = CalibrationSettings(num_steps=args.unet_steps, groups=4, height=args.height, width=args.height)
    started = time.perf_counter()
    report = prune(model_dir=model_dir, component=component, spec=PruneSpec(method, sparsity=0.5),
                   calibration=calibration, prompts=PROMPTS[: args.prompts], out_dir=out_dir, device="cpu")
    return {"seconds": time.perf_counter() - started, "realised": report["realised_sparsity"],
            "artifact_bytes": (out_dir / "artifact.safetensors").stat().st_size,
            "dense_bytes": sum(p.stat().st_size for p in (model_dir / component).glob("*.safetensors"))}


def saved_model(workdir: Path | None) -> Path:
    """sd2-random saved (fp32) under ``workdir`` (a new temporary folder if None), built once."""
    from sdprune.models.loading import fetch_pipeline

    model_dir = (workdir or Path(tempfile.mkdtemp(prefix="sd2-random-"))) / "sd2-random"
    if not (model_dir / "model_index.json").exists():
        started = time.perf_counter()
        fetch_pipeline("sd2-random", model_dir, dtype="float32")
        print(f"built and saved sd2-random (fp32) in {time.perf_counter() - started:.0f} s", flush=True)
    return model_dir


def child_result(command: list[str]) -> tuple[dict | None, str]:
    """Run a benchmark child; (its ``RESULT`` JSON, "") or (None, the end of its stderr)."""
    out = subprocess.run(command, capture_output=True, text=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    return (json.loads(line[7:]), "") if line else (None, out.stderr[-2000:])


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["magnitude", "wanda", "sparsegpt", "owl_wanda"])
    parser.add_argument("--components", nargs="+", default=["text_encoder", "unet"])
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--unet-steps", type=int, default=2)
    parser.add_argument("--height", type=int, default=256, help="U-Net calibration resolution (px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="keep the saved model here (default: a temporary folder)")
    parser.add_argument("--child", nargs=3, metavar=("COMPONENT", "METHOD", "MODEL_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        component, method, model_dir = args.child
        with tempfile.TemporaryDirectory() as out:
            result = run_one(component, method, Path(model_dir), Path(out), args)
        result["peak_rss_gb"] = peak_rss_gb()
        print("RESULT " + json.dumps(result))
        return

    model_dir = saved_model(args.workdir)
    print(f"{'component':<13} {'method':<10} {'seconds':>8} {'peak RSS GB':>11} {'realised':>8} "
          f"{'artifact MB':>11} {'dense MB':>9} {'ratio':>7}", flush=True)
    for component in args.components:
        for method in args.methods:
            child = [sys.executable, __file__, "--child", component, method, str(model_dir),
                     "--prompts", str(args.prompts), "--unet-steps", str(args.unet_steps),
                     "--height", str(args.height), "--threads", str(args.threads)]
            r, error = child_result(child)
            if r is None:
                print(f"{component:<13} {method:<10} failed:\n{error}", flush=True)
                continue
            print(f"{component:<13} {method:<10} {r['seconds']:>8.1f} {r['peak_rss_gb']:>11.2f} {r['realised']:>8.4f} "
                  f"{r['artifact_bytes'] / 2**20:>11.1f} {r['dense_bytes'] / 2**20:>9.1f} "
                  f"{r['artifact_bytes'] / r['dense_bytes']:>7.3f}", flush=True)


if __name__ == "__main__":
    main()
