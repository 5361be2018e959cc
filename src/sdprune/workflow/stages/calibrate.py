"""calibrate: input-norm statistics of the dense component's target layers, in one pass."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch

from sdprune.io import canonical_json, save_tensors
from sdprune.models.components import find_layers, get_component
from sdprune.models.loading import load_pipeline
from sdprune.pruning.calibration import collect_statistics, save_statistics
from sdprune.pruning.calibration import make_feed
from sdprune.workflow.provenance import environment_record


def calibrate(*, model_dir: str | Path, component: str, prompts: Sequence[str], calibration, scope: str,
              out_path: str | Path, device: str = "auto", dtype: str = "float32") -> dict:
    """Input-norm statistics of every target layer of the *dense* component, in one pass."""
    started = time.perf_counter()
    pipe = load_pipeline(model_dir, device=device, dtype=dtype)
    layers = find_layers(get_component(pipe, component), scope)
    feed = make_feed(pipe, component, calibration, prompts)
    with torch.no_grad():
        stats = collect_statistics(layers, feed, kind="norms")
    record = {"component": component, "scope": scope, "num_prompts": len(prompts), "layers": len(stats),
              "calibration": asdict(calibration), "seconds": time.perf_counter() - started,
              "environment": environment_record()}
    save_tensors(out_path, save_statistics(stats), {"record": canonical_json(record)})
    return record
