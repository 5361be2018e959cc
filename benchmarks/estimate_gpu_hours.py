"""Estimate the GPU hours of a config from its planned jobs and a per-image generation cost.

The per-image cost is, in order of preference:
1. --measured FILE: the JSON benchmarks/generation_speed.py --output wrote on the GPU (its
   `seconds_per_image`, with the GPU's name), e.g. after
       python benchmarks/generation_speed.py --device cuda --dtype float16 --batch-size auto --compile \\
           --height 768 --width 768 --steps 50 --num-prompts 32 --output benchmarks/generation_speed.json
2. --seconds-per-image S: a figure of your own (a generate_images job's benchmark TSV over its images);
3. otherwise STATED_SECONDS_PER_IMAGE, a stated guess, not a measurement, and labelled so in the output.

    python benchmarks/estimate_gpu_hours.py --configfile config.yaml --measured benchmarks/generation_speed.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# SD2 at 768 px, 50 steps on one GPU, as stated before any measurement: the fallback only.
STATED_SECONDS_PER_IMAGE = 5.0


def generation_cost(args) -> tuple[float, str]:
    """Seconds per image and where that figure comes from."""
    if args.measured:
        measured = json.loads(Path(args.measured).read_text())
        settings = measured["settings"]
        return measured["seconds_per_image"], (
            f"measured on {measured['device_name']}: {measured['model']}, {settings['height']}x{settings['width']} px, "
            f"{settings['num_steps']} steps, {measured['runtime']['dtype']}, batch {measured['runtime']['batch_size']}"
            f"{', compiled' if settings['compile'] else ''} ({args.measured})")
    if args.seconds_per_image is not None:
        return args.seconds_per_image, "given on the command line"
    return STATED_SECONDS_PER_IMAGE, "STATED, not measured: run benchmarks/generation_speed.py on the GPU"


def main() -> None:
    from sdprune.workflow.experiments import expand_runs, pruned_components
    from sdprune.workflow.validation import load_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--measured", type=Path, help="generation_speed.py's --output JSON")
    source.add_argument("--seconds-per-image", type=float, help="generation cost of one image")
    parser.add_argument("--score-seconds-per-image", type=float, default=0.05, help="FID + CLIP + paired signals")
    parser.add_argument("--prune-hours", type=float, default=0.05, help="per pruning job (magnitude: minutes)")
    args = parser.parse_args()

    seconds_per_image, origin = generation_cost(args)
    config = load_config(args.configfile, ROOT / "schemas" / "config.schema.yaml")
    runs = expand_runs(config)
    images = config["data"]["evaluation"]["num_prompts"] + len(config["reporting"]["showcase_prompts"])
    generate = len(runs) * images * seconds_per_image / 3600
    score = len(runs) * images * args.score_seconds_per_image / 3600
    prune = len(pruned_components(runs)) * args.prune_hours
    print(f"{len(runs)} runs x {images} images; {len(pruned_components(runs))} pruning jobs")
    print(f"generation {generate:8.1f} GPU h  ({seconds_per_image:g} s per image, {origin})")
    print(f"scoring    {score:8.1f} GPU h  ({args.score_seconds_per_image:g} s per image)")
    print(f"pruning    {prune:8.1f} GPU h  ({args.prune_hours:g} h per job)")
    print(f"total      {generate + score + prune:8.1f} GPU h  (cliff-finder refinements not included)")


if __name__ == "__main__":
    main()
