"""Estimate the GPU hours of a config from its planned jobs and a per-image cost.

The per-image cost is an input: measure it on your GPU (a generate_images job's
benchmark TSV divided by its image count) or take a stated figure.

    python benchmarks/estimate_gpu_hours.py --configfile config.yaml --seconds-per-image 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    from sdprune.workflow.experiments import expand_runs, pruned_components
    from sdprune.workflow.validation import load_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    parser.add_argument("--seconds-per-image", type=float, required=True, help="generation cost of one image")
    parser.add_argument("--score-seconds-per-image", type=float, default=0.05, help="FID + CLIP + paired signals")
    parser.add_argument("--prune-hours", type=float, default=0.05, help="per pruning job (magnitude: minutes)")
    args = parser.parse_args()

    config = load_config(args.configfile, ROOT / "schemas" / "config.schema.yaml")
    runs = expand_runs(config)
    images = config["data"]["evaluation"]["num_prompts"] + len(config["reporting"]["showcase_prompts"])
    generate = len(runs) * images * args.seconds_per_image / 3600
    score = len(runs) * images * args.score_seconds_per_image / 3600
    prune = len(pruned_components(runs)) * args.prune_hours
    print(f"{len(runs)} runs x {images} images; {len(pruned_components(runs))} pruning jobs")
    print(f"generation {generate:8.1f} GPU h  ({args.seconds_per_image:g} s per image)")
    print(f"scoring    {score:8.1f} GPU h  ({args.score_seconds_per_image:g} s per image)")
    print(f"pruning    {prune:8.1f} GPU h  ({args.prune_hours:g} h per job)")
    print(f"total      {generate + score + prune:8.1f} GPU h  (cliff-finder refinements not included)")


if __name__ == "__main__":
    main()
