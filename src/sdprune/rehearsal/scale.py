"""A preset (`config.yaml`, `config/obs-diff-sd21base.yaml`) at rehearsal scale: the same experiments, rules
and sources, smaller counts.

Only counts change (images, prompts, steps, list lengths, the cliff grid's resolution); every
experiment kind, method, pattern, data source, scoring protocol, metric and reporting option of the
preset stays. The download knobs are pointed at the local stand-in servers, as a user would point them
at a mirror, and ImageReward at the interpreter of its own environment.
"""

from __future__ import annotations

import copy
from typing import Mapping

# How many images, prompts and steps a rehearsal runs (the paper: 10,000 / 128 / 32 / 50).
COUNTS = {"evaluation_prompts": 8, "calibration_prompts": 4, "unet_calibration_prompts": 2, "steps": 2,
          "sparsities_per_grid": 1, "threshold_pairs": 2}
# ImageReward's BLIP ViT-L and CMMD's CLIP ViT-L/14@336 take 5-10 s an image on a CPU core, in every run:
# a config scoring either evaluates fewer images.
HEAVY_METRICS_EVALUATION_PROMPTS = 4


def _shorten(values, keep: int):
    return values[:keep] if isinstance(values, list) else values


def _scale_experiment(experiment: dict) -> dict:
    """Fewer sparsities per grid; a zip path keeps two steps; an allocation grid keeps one total
    and its first and last ratios (one of which SD2 cannot take: the N/A cell)."""
    experiment = copy.deepcopy(experiment)
    keep = COUNTS["threshold_pairs"] if experiment.get("zip") else COUNTS["sparsities_per_grid"]
    for component in ("text_encoder", "unet"):
        if "sparsity" in experiment.get(component, {}):
            experiment[component]["sparsity"] = _shorten(experiment[component]["sparsity"], keep)
    if isinstance(experiment.get("total_sparsity"), list):
        experiment["total_sparsity"] = [experiment["total_sparsity"][len(experiment["total_sparsity"]) // 2]]
    if isinstance(experiment.get("ratio"), list) and len(experiment["ratio"]) > 2:
        experiment["ratio"] = [experiment["ratio"][0], experiment["ratio"][-1]]
    return experiment


def _scale_cliff(cliff: dict) -> dict:
    """One series on a two-point grid, refined once: the checkpoint loop runs, briefly."""
    cliff = copy.deepcopy(cliff)
    cliff["series"] = cliff.get("series", [])[:1]
    coarse = cliff.get("coarse", [0.2, 0.4, 0.6, 0.8])
    cliff["coarse"] = [coarse[len(coarse) // 2 - 1], coarse[-1]]
    cliff["step"] = round((cliff["coarse"][1] - cliff["coarse"][0]) / 2, 6)
    return cliff


def scale_config(config: Mapping, *, coco_url: str, coco_md5: Mapping[str, str],
                 fid_weights_url: Mapping[str, str], image_reward_python: str | None = None) -> dict:
    """The rehearsal's config: ``config`` with smaller counts and the downloads pointed at the stand-ins;
    ``image_reward_python`` becomes scoring.image_reward_python where the config scores ImageReward."""
    scaled = copy.deepcopy(dict(config))
    data = scaled.setdefault("data", {})
    evaluation = data.setdefault("evaluation", {})
    heavy = any(config.get("scoring", {}).get(metric) for metric in ("cmmd", "image_reward"))
    evaluation.update(num_prompts=HEAVY_METRICS_EVALUATION_PROMPTS if heavy else COUNTS["evaluation_prompts"],
                      coco_url=coco_url, coco_md5=dict(coco_md5))
    data.setdefault("calibration", {})["num_prompts"] = COUNTS["calibration_prompts"]
    unet = scaled.setdefault("calibration", {}).setdefault("unet", {})
    unet.update(num_prompts=COUNTS["unet_calibration_prompts"], num_steps=COUNTS["steps"])
    scaled.setdefault("generation", {})["num_steps"] = COUNTS["steps"]
    scoring = scaled.setdefault("scoring", {})
    scoring["fid_weights_url"] = dict(fid_weights_url)
    scoring["seed_variance"] = _shorten(scoring.get("seed_variance", []), 1)
    if scoring.get("image_reward"):
        scoring["image_reward_python"] = image_reward_python
    scaled["experiments"] = [_scale_experiment(e) for e in scaled["experiments"]]
    reporting = scaled.setdefault("reporting", {})
    reporting["cliff"] = _scale_cliff(reporting.get("cliff", {}))
    return scaled
