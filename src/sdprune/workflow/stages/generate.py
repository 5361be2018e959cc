"""generate_images: a run's evaluation and showcase images, with measured sparsity and timing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

from sdprune.evaluation.generation import generate_images
from sdprune.io import write_json
from sdprune.pruning.accounting import pipeline_accounting
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
    record = {
        "accounting": accounting,
        "generation": manifest["settings"],
        "scheduler_class": manifest["scheduler_class"],
        "num_images": manifest["num_images"],
        "seconds": time.perf_counter() - started,
        "environment": environment_record(),
    }
    write_json(record_path, record)
    return record
