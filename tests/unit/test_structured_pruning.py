"""Structured pruning: whole heads and GEGLU units removed by OBS, layers sliced, saved and reloaded."""

from __future__ import annotations

import ast
import sys

import pytest
import torch
from diffusers import StableDiffusionPipeline
from diffusers.models.attention import FeedForward

from sdprune.io import write_json
from sdprune.models.build import build_pipeline
from sdprune.models.components import find_layers
from sdprune.models.loading import load_pipeline
from sdprune.pruning.artifact import load_artifact, load_pruned_pipeline, save_artifact
from sdprune.pruning.calibration import CalibrationSettings
from sdprune.pruning.masks import STRUCTURED, parse_pattern
from sdprune.pruning.prune import prune_component
from sdprune.pruning.spec import PruneSpec
from sdprune.pruning.structured import sliced_unet
from sdprune.pruning.structured.obs import obs_remove_groups
from sdprune.pruning.structured.sliced_unet import Attention, SlicedUNet2DConditionModel, slice_feed_forward
from sdprune.pruning.structured.units import unit_counts
from sdprune.workflow.stages.export import export
from sdprune.workflow.stages.prune import prune as prune_stage

CALIBRATION = CalibrationSettings(num_steps=2, groups=2)  # two groups: the second calibrated on the sliced first


def unet_output(unet, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(1, 4, 8, 8, generator=generator)
    context = torch.randn(1, 7, unet.config.cross_attention_dim, generator=generator)
    with torch.no_grad():
        return unet(sample, 10, context).sample


def generate(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe("a red square", num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                output_type="np").images


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_structured_slugs_parse_back():
    spec = PruneSpec.parse("obs_diff-structured-0.3-transformer")
    assert (spec.method, spec.pattern, spec.sparsity, spec.scope) == ("obs_diff", STRUCTURED, 0.3, "transformer")
    assert spec.slug == "obs_diff-structured-0.3-transformer"
    assert PruneSpec.parse("magnitude-structured-0.3").pattern == parse_pattern("structured") == STRUCTURED
    assert not STRUCTURED.n_m and STRUCTURED.sliced  # N:M is `n_m`; `structured` slices
    with pytest.raises(ValueError, match="OWL"):
        PruneSpec("owl_wanda", STRUCTURED, 0.3)


def test_pruned_tiny_unet_has_exactly_the_expected_shapes():
    pipe = build_pipeline("tiny")
    dense = {name: (m.heads, m.inner_dim // m.heads) for name, m in pipe.unet.named_modules() if isinstance(m, Attention)}
    ff_dense = {name: m.net[2].in_features for name, m in pipe.unet.named_modules() if isinstance(m, FeedForward)}
    result = prune_component(pipe, "unet", PruneSpec("magnitude", STRUCTURED, 0.5, "transformer"))
    unet = pipe.unet
    assert isinstance(unet, SlicedUNet2DConditionModel)
    for name, (heads, head_dim) in dense.items():  # int(0.5 * heads) go, one head at least stays
        attn, kept = unet.get_submodule(name), heads - min(heads // 2, heads - 1)
        assert attn.heads == kept and len(result.artifact.removed_units.get(name, [])) == heads - kept, name
        assert attn.to_q.weight.shape == (kept * head_dim, attn.query_dim)
        for projection in (attn.to_k, attn.to_v):  # attn2 reads the 32-wide text context: inputs stay
            assert projection.weight.shape == (kept * head_dim, attn.cross_attention_dim)
        assert attn.to_out[0].weight.shape == (attn.query_dim, kept * head_dim)
    for name, inner in ff_dense.items():
        ff = unet.get_submodule(name)
        assert ff.net[0].proj.weight.shape == (2 * (inner // 2), ff.net[0].proj.in_features), name
        assert ff.net[2].weight.shape == (ff.net[2].out_features, inner // 2), name
    # tiny: 10 attention modules of 2 or 4 heads, 4 GEGLU feed-forwards of 128 or 256 units
    assert unit_counts(unet) == {"heads": 10, "ff_units": 320}
    assert result.report["units_before"] == {"heads": 20, "ff_units": 640}
    assert result.report["params_after"] == parameters(unet) < result.report["params_before"]
    removed = result.report["target_weights"] - sum(m.weight.numel() for m in find_layers(unet, "transformer").values())
    assert result.report["realised_sparsity"] == removed / result.report["target_weights"] > 0.4
    assert unet_output(unet).shape == (1, 4, 8, 8)


def test_geglu_pairs_are_removed_together():
    torch.manual_seed(0)
    ff = FeedForward(8, activation_fn="geglu").eval()  # inner dim 32: proj has 64 rows (value, gate)
    inner = ff.net[2].in_features
    proj_before, out_before = ff.net[0].proj.weight.clone(), ff.net[2].weight.clone()
    x = torch.randn(5, 8)
    with torch.no_grad():
        hidden = ff.net[0](x)  # (5, inner): value * gelu(gate), unit by unit
        hidden[:, [3, 17]] = 0.0
        expected = ff.net[2](hidden)
    slice_feed_forward(ff, [3, 17])
    kept = [i for i in range(inner) if i not in (3, 17)]
    assert torch.equal(ff.net[0].proj.weight, proj_before[kept + [i + inner for i in kept]])  # row i and i + inner gone
    assert torch.equal(ff.net[2].weight, out_before[:, kept])  # column i gone
    with torch.no_grad():
        torch.testing.assert_close(ff(x), expected)


def test_nothing_removed_reproduces_the_dense_output_exactly():
    pipe = build_pipeline("tiny")
    dense = unet_output(pipe.unet)
    result = prune_component(pipe, "unet", PruneSpec("magnitude", STRUCTURED, 0.0, "transformer"))
    assert isinstance(pipe.unet, SlicedUNet2DConditionModel) and result.artifact.removed_units == {}
    assert torch.equal(unet_output(pipe.unet), dense)


def correlated_inputs(rows: int, features: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    mixing = torch.randn(features, features, generator=generator)
    return torch.randn(rows, features, generator=generator, dtype=torch.float64) @ mixing.double()


def test_obs_compensation_beats_plain_removal_and_its_saliency_is_the_error_left():
    x = correlated_inputs(512, 24)  # (n, in): 6 "heads" of 4 columns
    weight = torch.randn(10, 24, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    groups = torch.arange(24).reshape(6, 4)
    hessian = x.T @ x
    compensated, removed = obs_remove_groups(weight, hessian, groups, 2)
    plain = weight.clone()
    plain[:, groups[removed].reshape(-1)] = 0.0
    error = lambda w: ((x @ weight.T - x @ w.T) ** 2).sum().item()
    assert torch.all(compensated[:, groups[removed].reshape(-1)] == 0)
    assert error(compensated) < 0.5 * error(plain)
    # Without damping, one group's saliency is exactly the error its compensated removal leaves,
    # and the greedy choice is the group that leaves the least.
    single = [error(obs_remove_groups(weight, hessian, groups[[g]], 1, damping=0.0)[0]) for g in range(6)]
    first, chosen = obs_remove_groups(weight, hessian, groups, 1, damping=0.0)
    assert chosen == [min(range(6), key=single.__getitem__)]
    assert error(first) == pytest.approx(min(single), rel=1e-6)


def test_exported_pipeline_loads_with_from_pretrained_and_generates_the_same(tiny_model_dir, calibration_prompts,
                                                                              tmp_path, monkeypatch):
    spec = PruneSpec("sparsegpt", STRUCTURED, 0.5, "transformer")
    in_memory = load_pipeline(tiny_model_dir)
    result = prune_component(in_memory, "unet", spec, prompts=calibration_prompts[:1], calibration=CALIBRATION)
    assert result.artifact.weights  # OBS moved kept weights: the artifact carries them
    save_artifact(tmp_path / "prune" / "artifact.safetensors", result.artifact)
    write_json(tmp_path / "prune" / "report.json", {"base_model": str(tiny_model_dir)})
    export(artifact_dirs=[tmp_path / "prune"], out_dir=tmp_path / "export")

    # Custom code is copied into diffusers' modules cache: keep it inside the test's folder.
    import diffusers.utils.dynamic_modules_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    loaded = StableDiffusionPipeline.from_pretrained(tmp_path / "export", trust_remote_code=True)
    assert type(loaded.unet).__name__ == "SlicedUNet2DConditionModel"
    assert not type(loaded.unet).__module__.startswith("sdprune")  # the shipped copy, not the installed package
    for key, value in in_memory.unet.state_dict().items():
        assert loaded.unet.state_dict()[key].shape == value.shape, key
    assert parameters(loaded.unet) == parameters(in_memory.unet) < parameters(load_pipeline(tiny_model_dir).unet)
    assert generate(loaded).tobytes() == generate(in_memory).tobytes()


def test_base_plus_structured_artifact_reloads_bit_identically(tiny_model_dir, calibration_prompts, tmp_path):
    spec, prompts = PruneSpec("wanda", STRUCTURED, 0.3), calibration_prompts[:1]
    report = prune_stage(model_dir=tiny_model_dir, component="unet", spec=spec, calibration=CALIBRATION,
                         prompts=prompts, out_dir=tmp_path, device="cpu")
    in_memory = load_pipeline(tiny_model_dir)
    result = prune_component(in_memory, "unet", spec, prompts=prompts, calibration=CALIBRATION)
    assert report["removed_units"] == result.artifact.removed_units != {}
    assert report["params_after"] == parameters(in_memory.unet) < report["params_before"]
    assert not load_artifact(tmp_path / "artifact.safetensors").weights  # norms: no update, the base holds them
    reloaded = load_pruned_pipeline(tiny_model_dir, {"unet": tmp_path / "artifact.safetensors"})
    assert isinstance(reloaded.unet, SlicedUNet2DConditionModel)
    state = reloaded.unet.state_dict()
    assert state.keys() == in_memory.unet.state_dict().keys()
    assert all(torch.equal(value, state[key]) for key, value in in_memory.unet.state_dict().items())


def test_the_shipped_unet_code_needs_only_torch_and_diffusers():
    tree = ast.parse(open(sliced_unet.__file__).read())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "inspect", "typing", "torch", "diffusers"}


def test_structured_obs_damps_as_sparsegpt_does():
    from sdprune.pruning.methods._obs import DAMPING as SPARSEGPT_DAMPING
    from sdprune.pruning.structured.obs import DAMPING

    assert DAMPING == SPARSEGPT_DAMPING
