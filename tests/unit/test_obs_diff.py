"""OBS-Diff: its step weights, its timestep-weighted Hessian, its sequential groups, N:M, its config defaults."""

import dataclasses
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from sdprune.models.components import find_layers
from sdprune.models.loading import load_pipeline
from sdprune.pruning.calibration import CalibrationSettings, call_steps, collect_statistics, make_feed, timestep_weights
from sdprune.pruning.methods.obs_diff import DEFAULTS, ObsDiffSettings
from sdprune.pruning.prune import prune_component
from sdprune.pruning.spec import PruneSpec
from tests.unit.test_calibration import record_inputs, record_unet_timesteps, use_scheduler

ROOT = Path(__file__).resolve().parents[2]
LAYER = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q"  # a transformer-scope layer


def formula(step: int, total: int, wmin: float, wmax: float) -> float:
    """OBS-Diff's w_i = wmin + (wmax - wmin) ln(T - i) / ln T, written out again here."""
    return wmin + (wmax - wmin) * math.log(total - step) / math.log(total)


def obs_diff_calibration(num_steps: int = 2, **settings) -> CalibrationSettings:
    return ObsDiffSettings(**settings).calibration(CalibrationSettings(num_steps=num_steps), "unet")


@pytest.mark.parametrize("total", [2, 3, 7, 25, 50])
@pytest.mark.parametrize("wmin,wmax", [(0.8, 1.2), (0.5, 2.0)])
def test_timestep_weights_follow_the_formula(total, wmin, wmax):
    weights = timestep_weights(total, "log_decrease", wmin=wmin, wmax=wmax)
    assert len(weights) == total
    assert weights[0] == pytest.approx(wmax) and weights[-1] == pytest.approx(wmin)  # step 0 the noisiest
    assert weights == pytest.approx([formula(i, total, wmin, wmax) for i in range(total)])
    assert all(a > b for a, b in zip(weights, weights[1:]))


def test_timestep_weights_edge_cases():
    assert timestep_weights(1, "log_decrease") == [1.2]
    assert timestep_weights(5, "uniform", wmin=0.5, wmax=2.0) == [1.0] * 5
    with pytest.raises(ValueError, match="positive"):
        timestep_weights(5, "log_decrease", wmin=0.0)


def test_calls_belong_to_the_denoising_step_they_complete():
    from diffusers import DDIMScheduler, HeunDiscreteScheduler, PNDMScheduler

    schedulers = {"ddim": DDIMScheduler(), "pndm": PNDMScheduler(skip_prk_steps=True), "heun": HeunDiscreteScheduler()}
    for scheduler in schedulers.values():
        scheduler.set_timesteps(5)
    assert call_steps(schedulers["ddim"].timesteps) == [0, 1, 2, 3, 4]
    assert call_steps(schedulers["pndm"].timesteps) == [0, 0, 1, 2, 3, 4]  # PLMS's start: two calls make step 0
    assert call_steps(schedulers["heun"].timesteps) == [0, 0, 1, 1, 2, 2, 3, 3, 4]  # predictor + corrector


def test_a_scheduler_whose_calls_make_other_steps_is_refused_when_weighting(tiny_pipe):
    from diffusers import PNDMScheduler

    scheduler = PNDMScheduler(skip_prk_steps=False)  # Runge-Kutta warm-up at half steps
    scheduler.set_timesteps(5)
    feed = make_feed(tiny_pipe, "unet", obs_diff_calibration(5), ["a prompt"])
    with pytest.raises(RuntimeError, match="cannot be matched to its steps"):
        feed.call_weights(scheduler.timesteps)
    assert dataclasses.replace(feed, weighting="uniform").call_weights(scheduler.timesteps) == [1.0] * 14


def brute_force_steps(scheduler: str, calls: int, per_loop: int) -> list[int]:
    """Each call's step from how the sampler works: DDIM calls once per step; PNDM's PLMS calls the
    U-Net at t0 and then at t1 to finish its first step (Heun-like), then once per step."""
    positions = [k % per_loop for k in range(calls)]
    return positions if scheduler == "ddim" else [max(position - 1, 0) for position in positions]


@pytest.mark.parametrize("scheduler,steps", [("ddim", 3), ("pndm", 4)])
@pytest.mark.parametrize("kind", ["hessian", "norms"])
def test_weighted_statistics_equal_a_brute_force_sum(tiny_pipe, calibration_prompts, scheduler, steps, kind):
    use_scheduler(tiny_pipe, scheduler)
    layer = find_layers(tiny_pipe.unet, "transformer")[LAYER]
    timesteps = record_unet_timesteps(tiny_pipe.unet)
    recorded = record_inputs(layer)  # the layer's input at every U-Net call
    settings = obs_diff_calibration(steps, wmin=0.5, wmax=2.0)
    feed = make_feed(tiny_pipe, "unet", settings, calibration_prompts[:2])
    stats = collect_statistics({LAYER: layer}, feed, kind=kind)[LAYER]

    per_loop = steps + (scheduler == "pndm")  # PNDM calls the U-Net once more than it has steps
    assert len(recorded) == len(timesteps) == 2 * per_loop
    weights = [formula(s, steps, 0.5, 2.0) for s in brute_force_steps(scheduler, len(recorded), per_loop)]
    rows = [x.double().reshape(-1, x.shape[-1]) for x in recorded]  # (2 * tokens, in): CFG's two halves
    weighted_rows = sum(w * r.shape[0] for w, r in zip(weights, rows))
    assert stats.weight_sum == pytest.approx(weighted_rows)
    if kind == "hessian":  # H = 2 sum_t w_t X_t^T X_t / sum_t (w_t n_t)
        expected = 2 * sum(w * r.T @ r for w, r in zip(weights, rows)) / weighted_rows
        torch.testing.assert_close(stats.hessian().double(), expected, rtol=1e-4, atol=1e-6)
    else:
        expected = sum(w * r.pow(2).sum(0) for w, r in zip(weights, rows)).sqrt()
        torch.testing.assert_close(stats.column_norms().double(), expected, rtol=1e-5, atol=1e-6)
    assert recorded[0].shape[0] == 2  # classifier-free guidance: unconditional and conditional together
    by_noise_level = [formula(sorted(set(timesteps), reverse=True).index(t), steps, 0.5, 2.0) for t in timesteps]
    assert (by_noise_level == weights) == (scheduler == "ddim")  # PNDM's corrector call is where they part


def prune_unet(model_dir, spec: PruneSpec, calibration: CalibrationSettings, prompts):
    return prune_component(load_pipeline(model_dir), "unet", spec, prompts=prompts, calibration=calibration)


def test_uniform_obs_diff_in_one_group_is_sparsegpt(tiny_model_dir, calibration_prompts):
    prompts = calibration_prompts[:1]
    uniform = obs_diff_calibration(weighting="uniform", groups=1)
    obs_diff = prune_unet(tiny_model_dir, PruneSpec("obs_diff", sparsity=0.5, scope="transformer"), uniform, prompts)
    sparsegpt = prune_unet(tiny_model_dir, PruneSpec("sparsegpt", sparsity=0.5, scope="transformer"),
                           CalibrationSettings(num_steps=2, groups=1), prompts)
    weighted = prune_unet(tiny_model_dir, PruneSpec("obs_diff", sparsity=0.5, scope="transformer"),
                          obs_diff_calibration(groups=1), prompts)
    assert set(obs_diff.artifact.masks) == set(sparsegpt.artifact.masks) == set(find_layers(
        load_pipeline(tiny_model_dir).unet, "transformer"))
    for name, mask in sparsegpt.artifact.masks.items():
        assert torch.equal(obs_diff.artifact.masks[name], mask)
        assert torch.equal(obs_diff.artifact.values[name], sparsegpt.artifact.values[name])
    # The weighting is what separates them: with OBS-Diff's, the kept values move.
    assert any(not torch.equal(weighted.artifact.values[n], v) for n, v in sparsegpt.artifact.values.items())


def test_each_group_is_calibrated_on_the_model_with_the_groups_before_it_pruned(tiny_model_dir, calibration_prompts,
                                                                              monkeypatch):
    import sdprune.pruning.prune as prune_module

    collected = []

    def recording(layers, feed, **kwargs):
        stats = real(layers, feed, **kwargs)
        collected.append(stats)
        return stats

    real = prune_module.collect_statistics
    monkeypatch.setattr(prune_module, "collect_statistics", recording)
    prompts = calibration_prompts[:1]
    result = prune_unet(tiny_model_dir, PruneSpec("obs_diff", sparsity=0.5, scope="transformer"),
                        obs_diff_calibration(groups=2), prompts)
    monkeypatch.undo()
    assert len(collected) == 2  # K = 2 groups, one collection each
    first, second = list(collected[0]), list(collected[1])
    assert not set(first) & set(second) and set(first) | set(second) == set(result.artifact.masks)

    def second_group_statistics(pruned_first: bool):
        pipe = load_pipeline(tiny_model_dir)
        layers = find_layers(pipe.unet, "transformer")
        for name in first if pruned_first else []:
            weight = torch.zeros_like(layers[name].weight)
            weight[result.artifact.masks[name]] = result.artifact.values[name]
            layers[name].weight.data.copy_(weight)
        feed = make_feed(pipe, "unet", obs_diff_calibration(groups=2), prompts)
        return collect_statistics({n: layers[n] for n in second}, feed, kind="hessian")

    dense, after_first = second_group_statistics(False), second_group_statistics(True)
    for name in second:
        torch.testing.assert_close(collected[1][name].hessian(), after_first[name].hessian(), rtol=1e-5, atol=1e-7)
        # Cross-attention keys and values read the text encoder's output, which no U-Net pruning moves.
        reads_text = ".attn2.to_k" in name or ".attn2.to_v" in name
        assert torch.allclose(collected[1][name].hessian(), dense[name].hessian(), rtol=1e-3, atol=1e-6) == reads_text


@pytest.mark.parametrize("pattern", ["2:4", "4:8"])
def test_n_m_masks_keep_exactly_m_minus_n_of_every_m_inputs_end_to_end(tiny_model_dir, calibration_prompts, tmp_path,
                                                                        pattern):
    """Through the prune stage, its artifact file and the loader that rebuilds the pruned pipeline."""
    from sdprune.pruning.artifact import load_artifact, load_pruned_pipeline
    from sdprune.workflow.stages.prune import prune

    spec = PruneSpec("obs_diff", pattern, 0.5, "transformer")
    report = prune(model_dir=tiny_model_dir, component="unet", spec=spec, calibration=obs_diff_calibration(groups=2),
                   prompts=calibration_prompts[:1], out_dir=tmp_path, device="cpu")
    n, m = spec.pattern.n, spec.pattern.m
    artifact = load_artifact(tmp_path / "artifact.safetensors")
    layers = find_layers(load_pruned_pipeline(tiny_model_dir, {"unet": tmp_path / "artifact.safetensors"}).unet,
                         "transformer")
    assert report["skipped_layers"] == [] and set(artifact.masks) == set(layers)
    for name, mask in artifact.masks.items():
        assert torch.all(mask.reshape(mask.shape[0], -1, m).sum(dim=-1) == m - n), name  # (out, in / M)
        zeros = (layers[name].weight == 0).reshape(mask.shape[0], -1, m).sum(dim=-1)
        assert torch.all(zeros >= n), name
        assert torch.equal(layers[name].weight[mask], artifact.values[name])
    assert report["realised_sparsity"] == pytest.approx(0.5) and report["pattern"] == pattern


def tiny_config_with(*experiments, **obs_diff):
    from sdprune.workflow.validation import load_config

    config = load_config(ROOT / "config/tiny-methods.yaml", ROOT / "schemas/config.schema.yaml")
    config["calibration"]["unet"]["timestep_weighting"] = "uniform"  # what every other method gets
    config["pruning"]["obs_diff"].update(obs_diff)
    config["experiments"] = list(experiments)
    return config


def test_a_config_naming_obs_diff_gets_its_scope_and_its_defaults(monkeypatch):
    from sdprune.workflow.experiments import expand_runs
    from sdprune.workflow.params import expected_params, prune_params

    monkeypatch.chdir(ROOT)  # the config names its prompt files relative to the checkout
    config = tiny_config_with(
        {"name": "obs", "unet": {"method": ["obs_diff", "sparsegpt"], "sparsity": 0.5}},
        {"name": "obs_linear", "unet": {"method": "obs_diff", "sparsity": 0.5, "layers": "linear"}},
        {"name": "obs_te", "text_encoder": {"method": "obs_diff", "sparsity": 0.5}},
    )
    slugs = {r.key for r in expand_runs(config)}
    assert {("dense", "obs_diff-unstructured-0.5-transformer"), ("dense", "sparsegpt-unstructured-0.5"),
            ("dense", "obs_diff-unstructured-0.5"), ("obs_diff-unstructured-0.5-transformer", "dense")} < slugs
    obs = prune_params(config, "unet", PruneSpec.parse("obs_diff-unstructured-0.5-transformer"))["calibration"]
    assert (obs["timestep_weighting"], obs["groups"], obs["timestep_wmin"], obs["timestep_wmax"], obs["sequential"]) \
        == ("log_decrease", 4, 0.8, 1.2, True)
    assert CalibrationSettings(**obs).timestep_wmax == 1.2  # what the prune script builds from them
    sparsegpt = prune_params(config, "unet", PruneSpec.parse("sparsegpt-unstructured-0.5"))["calibration"]
    assert (sparsegpt["timestep_weighting"], sparsegpt["groups"]) == ("uniform", 2)
    assert "timestep_wmin" not in sparsegpt  # other methods' params (their cache keys) are as they were
    text = prune_params(config, "text_encoder", PruneSpec.parse("obs_diff-unstructured-0.5-transformer"))
    assert text["calibration"]["groups"] == 0 and "timestep_wmin" not in text["calibration"]
    assert expected_params(config, "cliff_round", {"method": "obs_diff"})["layers"] == "transformer"
    assert expected_params(config, "cliff_round", {"method": "sparsegpt"})["layers"] == "linear"


def test_the_config_chooses_the_uniform_ablation_and_other_settings(monkeypatch):
    from sdprune.workflow.params import prune_params

    monkeypatch.chdir(ROOT)
    config = tiny_config_with({"name": "obs", "unet": {"method": "obs_diff", "sparsity": 0.5}},
                               weighting="uniform", groups=3, wmax=1.5)
    obs = prune_params(config, "unet", PruneSpec.parse("obs_diff-unstructured-0.5-transformer"))["calibration"]
    assert (obs["timestep_weighting"], obs["groups"], obs["timestep_wmin"], obs["timestep_wmax"]) == \
        ("uniform", 3, 0.8, 1.5)


def test_the_schema_defaults_are_the_methods_own():
    schema = yaml.safe_load((ROOT / "schemas/config.schema.yaml").read_text())
    properties = schema["properties"]["pruning"]["properties"]["obs_diff"]["properties"]
    assert {key: value["default"] for key, value in properties.items()} == dataclasses.asdict(DEFAULTS)


def test_the_shared_obs_update_is_in_the_fingerprint_of_both_methods_and_no_other(tmp_path):
    from sdprune.workflow.provenance import code_fingerprint

    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    methods = ["magnitude", "wanda", "sparsegpt", "obs_diff", "owl_obs_diff"]

    def prints():
        return {m: code_fingerprint("prune", {"component": "unet", "method": m}, tmp_path) for m in methods}

    before = prints()
    shared = tmp_path / "src/sdprune/pruning/methods/_obs.py"
    shared.write_text(shared.read_text() + "\n# an edit\n")
    after = prints()
    assert {m for m in methods if before[m] != after[m]} == {"sparsegpt", "obs_diff", "owl_obs_diff"}


def test_obs_diff_brings_its_own_calibration_where_a_caller_gives_none():
    from sdprune.pruning.calibration.settings import CalibrationSettings
    from sdprune.pruning.methods import get_method

    method, base = get_method("obs_diff"), CalibrationSettings(seed=3)
    unet = method.calibration_for("unet", base)
    assert (unet.timestep_weighting, unet.groups, unet.sequential, unet.seed) == ("log_decrease", 4, True, 3)
    assert method.calibration_for("text_encoder", base) == base  # no timesteps: calibrated as any method
    assert get_method("sparsegpt").calibration_for("unet", base) == base
