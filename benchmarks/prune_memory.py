"""Peak resident memory while pruning the sd2-random U-Net, against the U-Net's weight bytes.

Each case runs in its own process: its baseline is its resident memory once torch,
diffusers and sdprune are imported, its peak the process's maximum resident set.
The figure is (peak - baseline) / U-Net weight bytes. Target: <= 1.3x (one copy of
the U-Net, its masks and a layer's temporaries). Cases, magnitude at 50 %:

- library: the U-Net loaded alone (`load_unet`), then `prune_component`;
- stage: the workflow's prune stage (`workflow.stages.prune.prune`), which loads the
  saved pipeline, prunes, and writes the artifact and report.

    python benchmarks/prune_memory.py --model-dir /tmp/sdprune-bench/sd2-random
    (builds and saves sd2-random there first if it is missing: ~5 GB of disk)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from _common import peak_rss_bytes

TARGET = 1.3
CASES = ("library", "stage")


def current_rss_bytes() -> int:
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_case(case: str, model_dir: Path, threads: int) -> dict:
    import torch
    import diffusers  # noqa: F401  (part of the baseline: every case imports it)

    from sdprune.models.loading import load_unet
    from sdprune.pruning.prune import prune_component
    from sdprune.pruning.spec import PruneSpec
    from sdprune.workflow.stages.prune import prune

    torch.set_num_threads(threads)
    baseline = current_rss_bytes()
    spec = PruneSpec("magnitude", sparsity=0.5)
    if case == "library":
        unet = load_unet(model_dir)
        weight_bytes = sum(p.numel() * p.element_size() for p in unet.parameters())
        prune_component(SimpleNamespace(unet=unet), "unet", spec)
    else:
        with tempfile.TemporaryDirectory() as out:
            report = prune(model_dir=model_dir, component="unet", spec=spec, out_dir=out, device="cpu")
        weight_bytes = report["full_model"]["components"]["unet"]["total_params"] * 4  # saved as float32
    return {"baseline": baseline, "peak": peak_rss_bytes(), "weight_bytes": weight_bytes}


def ensure_model(model_dir: Path) -> None:
    if not (model_dir / "model_index.json").exists():
        from sdprune.models.loading import fetch_pipeline

        print(f"building sd2-random into {model_dir} ...", flush=True)
        fetch_pipeline("sd2-random", model_dir, dtype="float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/sdprune-bench/sd2-random"))
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(run_case(args.child, args.model_dir, args.threads)))
        return

    ensure_model(args.model_dir)
    for case in args.cases:
        child = [sys.executable, __file__, "--child", case, "--model-dir", str(args.model_dir),
                 "--threads", str(args.threads)]
        out = subprocess.run(child, capture_output=True, text=True)
        line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"{case}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        r = json.loads(line[len("RESULT "):])
        ratio = (r["peak"] - r["baseline"]) / r["weight_bytes"]
        print(f"{case}: baseline {r['baseline'] / 2**30:.2f} GiB, peak {r['peak'] / 2**30:.2f} GiB, "
              f"U-Net weights {r['weight_bytes'] / 2**30:.2f} GiB; (peak - baseline) / weights = {ratio:.2f}x "
              f"(target <= {TARGET:g}x) {'MET' if ratio <= TARGET else 'MISSED'}", flush=True)


if __name__ == "__main__":
    main()
