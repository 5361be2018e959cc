"""generate_images: a run's evaluation and showcase images, with measured sparsity and timing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

from sdprune.evaluation.efficiency import step_cost
from sdprune.evaluation.generation import generate_images
from sdprune.io import write_json
from sdprune.pruning.accounting import pipeline_accounting
from sdprune.models.loading import load_unet
from sdprune.pruning.artifact import load_pruned_pipeline
from sdprune.workflow.provenance import environment_record


def generate(*, model_dir: str | Path, artifacts: Mapping[str, str | Path], requested: Mapping[str, float],
             scopes: Mapping[str, str], prompts: Sequence[str], settings, images_dir: str | Path, record_path: str | Path,
             showcase_prompts: Sequence[str] = (), showcase_dir: str | Path | None = None,
             device: str = "auto", dtype: str = "float32") -> dict:
    """Generate the run's images (and showcase images) and write its record: measured sparsity, settings, timing.

    Showcase image i has the seed of evaluation image i, whatever the run: the
    image grids compare the same prompt and noise across sparsities.
    """
    started = time.perf_counter()
    pipe = load_pruned_pipeline(model_dir, artifacts, device=device, dtype=dtype)
    accounting = pipeline_accounting(pipe, requested, scopes)
    manifest = generate_images(pipe, prompts, images_dir, settings)
    if showcase_dir is not None:
        generate_images(pipe, list(showcase_prompts), showcase_dir, settings)
    seconds = time.perf_counter() - started
    record = {
        "accounting": accounting,
        "generation": manifest["settings"],
        "runtime": manifest["runtime"],  # what the speed options resolved to: batch, dtype, attention, ...
        "scheduler_class": manifest["scheduler_class"],
        "num_images": manifest["num_images"],
        "seconds": seconds,
        "efficiency": unet_step_cost(pipe, model_dir, settings),
        "environment": environment_record(),
    }
    write_json(record_path, record)
    return record


def unet_step_cost(pipe, model_dir: str | Path, settings) -> dict:
    """The run's U-Net against the dense one at the run's resolution, on the run's device and dtype:
    parameters, counted FLOPs per step, measured seconds per step (CFG batch of 2)."""
    unet = pipe.unet
    dense = load_unet(model_dir, device=unet.device, dtype=unet.dtype)
    height = settings.height or unet.config.sample_size * pipe.vae_scale_factor
    width = settings.width or unet.config.sample_size * pipe.vae_scale_factor
    cost = step_cost(unet, dense, height=height, width=width, text_positions=pipe.tokenizer.model_max_length,
                     device=unet.device, dtype=unet.dtype, repeats=5)
    return {**cost, "device": str(unet.device), "dtype": str(unet.dtype).removeprefix("torch.")}
