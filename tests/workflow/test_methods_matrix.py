"""Every method, pattern kind and component through the workflow's prune stage on the tiny model."""

import json

import pytest
import torch
import yaml

from sdprune.pruning.artifact import load_artifact
from sdprune.workflow.experiments import expand_runs, pruned_components

from .conftest import REPO, copy_workflow, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def methods_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("methods"))
    result = snakemake(workdir, "--cores", "2", "--configfile", "config/tiny-methods.yaml", "--until", "prune")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_every_planned_artifact_meets_its_spec(methods_run):
    config = yaml.safe_load((REPO / "config/tiny-methods.yaml").read_text())
    specs = pruned_components(expand_runs(config))
    seen = set()
    for component, spec in sorted(specs):
        folder = methods_run / "results/tiny-methods/prune" / component / spec.scope / spec.method / spec.pattern.slug / f"{spec.sparsity:g}"
        report = json.loads((folder / "report.json").read_text())
        artifact = load_artifact(folder / "artifact.safetensors")
        pattern = spec.pattern
        if pattern.sliced:  # whole heads and GEGLU units removed: recorded, and their weights shipped sliced
            assert artifact.removed_units and artifact.weights, spec
            assert 0 < report["realised_sparsity"] <= spec.sparsity + 1e-9, (spec, report["realised_sparsity"])
        elif pattern.n_m:
            for name, mask in artifact.masks.items():
                flat = ~mask.reshape(mask.shape[0], -1)
                assert torch.all(flat.reshape(mask.shape[0], -1, pattern.m).sum(-1) == pattern.n), name
        else:  # every row or matrix loses int(n * s): short of the request by under one weight per row
            narrowest = min(layer["numel"] // layer["shape"][0] for layer in report["layers"].values())
            assert -1e-9 <= spec.sparsity - report["realised_sparsity"] < 1 / narrowest, (spec, report["realised_sparsity"])
        # OBS methods store their compensated values; a sliced run stores its smaller weights instead
        assert bool(artifact.values) == (spec.method.endswith(("sparsegpt", "obs_diff")) and not pattern.sliced)
        if spec.scope == "linear+conv":
            assert any(len(mask.shape) == 4 for mask in artifact.masks.values())
        if spec.method.startswith("owl_"):
            assert len(set(report["planned_layer_sparsity"].values())) > 1
        seen.add((component, spec.method.removeprefix("owl_"), spec.pattern.slug))
    for component in ("text_encoder", "unet"):
        for method in ("magnitude", "wanda", "sparsegpt"):
            for pattern in ("unstructured", "2of4"):
                assert (component, method, pattern) in seen
        assert any(c == component and pattern == "4of8" for c, _, pattern in seen)
    for pattern in ("unstructured", "2of4", "structured"):
        assert ("unet", "obs_diff", pattern) in seen


def test_value_storing_artifacts_generate_images(methods_run):
    runs = ["results/tiny-methods/runs/te=sparsegpt-2of4-0.5/unet=dense/seed=0/generation.json",
            "results/tiny-methods/runs/te=dense/unet=sparsegpt-unstructured-0.5-conv/seed=0/generation.json"]
    result = snakemake(methods_run, *runs, "--cores", "2", "--configfile", "config/tiny-methods.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    record = json.loads((methods_run / runs[1]).read_text())
    unet = record["accounting"]["components"]["unet"]
    assert unet["scope"] == "linear+conv" and unet["realised_sparsity"] == pytest.approx(0.5, abs=2e-3)
    assert len(list((methods_run / runs[0]).parent.joinpath("images").glob("*.png"))) == 8
