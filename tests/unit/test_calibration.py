import math

import pytest
import torch

from sdprune.pruning.calibration import (
    LayerStatistics,
    collect_statistics,
    load_statistics,
    save_statistics,
    timestep_weights,
)
from sdprune.models.components import find_layers
from sdprune.pruning.calibration import CalibrationSettings, make_feed


def record_inputs(layer):
    """Capture a layer's inputs by wrapping its forward: independent of the hook mechanism."""
    recorded = []
    original = layer.forward

    def forward(x, *args, **kwargs):
        recorded.append(x.detach().clone())
        return original(x, *args, **kwargs)

    layer.forward = forward
    return recorded


def hook_count(module):
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in module.modules())


@pytest.mark.parametrize("count_padding", [True, False])
def test_text_encoder_norms_equal_brute_force(tiny_pipe, calibration_prompts, count_padding):
    layers = find_layers(tiny_pipe.text_encoder)
    names = ["encoder.layers.0.self_attn.q_proj", "encoder.layers.1.mlp.fc2", "encoder.layers.3.mlp.fc1"]
    recorded = {name: record_inputs(layers[name]) for name in names}
    settings = CalibrationSettings(count_padding=count_padding)
    feed = make_feed(tiny_pipe, "text_encoder", settings, calibration_prompts)
    stats = collect_statistics({n: layers[n] for n in names}, feed)
    mask = feed.attention_mask.reshape(-1).bool()
    for name in names:
        rows = torch.cat([x.reshape(-1, x.shape[-1]) for x in recorded[name]])  # (P*77, in)
        assert rows.shape[0] == len(calibration_prompts) * 77
        if not count_padding:
            rows = rows[mask]
        expected = torch.linalg.norm(rows.double(), dim=0).float()
        torch.testing.assert_close(stats[name].column_norms(), expected, rtol=1e-5, atol=1e-6)
        assert stats[name].rows == rows.shape[0]


def record_unet_timesteps(unet):
    """The timestep of every U-Net call, by wrapping its forward (independent of the feed's hook).
    The U-Net's step weights are tested in test_obs_diff.py."""
    timesteps = []
    original = unet.forward

    def forward(sample, timestep, *args, **kwargs):
        timesteps.append(float(timestep.reshape(-1)[0]) if torch.is_tensor(timestep) else float(timestep))
        return original(sample, timestep, *args, **kwargs)

    unet.forward = forward
    return timesteps


def use_scheduler(pipe, name: str) -> None:
    from diffusers import DDIMScheduler, PNDMScheduler

    if name == "pndm":  # SD2-base's scheduler: one timestep is called twice
        pipe.scheduler = PNDMScheduler.from_config(pipe.scheduler.config, skip_prk_steps=True)
    else:
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)


def test_hessian_equals_brute_force(tiny_pipe, calibration_prompts):
    name = "encoder.layers.2.self_attn.out_proj"
    layer = find_layers(tiny_pipe.text_encoder)[name]
    recorded = record_inputs(layer)
    feed = make_feed(tiny_pipe, "text_encoder", CalibrationSettings(), calibration_prompts)
    stats = collect_statistics({name: layer}, feed, kind="hessian")
    rows = torch.cat([x.reshape(-1, x.shape[-1]) for x in recorded]).double()
    expected = 2 * rows.T @ rows / rows.shape[0]
    torch.testing.assert_close(stats[name].hessian().double(), expected, rtol=1e-4, atol=1e-5)


def test_hooks_are_removed_after_an_exception(tiny_pipe, calibration_prompts):
    layers = find_layers(tiny_pipe.text_encoder)
    before = hook_count(tiny_pipe.text_encoder)
    feed = make_feed(tiny_pipe, "text_encoder", CalibrationSettings(), calibration_prompts)

    def failing_feed(state, stop_after):
        feed(state, stop_after)
        raise RuntimeError("out of memory, say")

    with pytest.raises(RuntimeError, match="out of memory"):
        collect_statistics(layers, failing_feed, stop_after=tiny_pipe.text_encoder.get_submodule("encoder.layers.1"))
    assert hook_count(tiny_pipe.text_encoder) == before == 0


def test_denoising_feed_removes_its_step_hook_after_an_exception(tiny_pipe, calibration_prompts):
    layers = find_layers(tiny_pipe.unet)
    feed = make_feed(tiny_pipe, "unet", CalibrationSettings(num_steps=2), calibration_prompts[:1])
    broken = next(iter(layers.values()))
    broken.register_forward_hook(lambda *args: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        collect_statistics(layers, feed)
    assert hook_count(tiny_pipe.unet) == 1  # only the test's own hook is left


def test_early_stop_skips_later_blocks(tiny_pipe, calibration_prompts):
    layers = find_layers(tiny_pipe.text_encoder)
    later = record_inputs(layers["encoder.layers.3.mlp.fc1"])
    group = {n: l for n, l in layers.items() if n.startswith("encoder.layers.0.")}
    feed = make_feed(tiny_pipe, "text_encoder", CalibrationSettings(), calibration_prompts)
    stats = collect_statistics(group, feed, stop_after=tiny_pipe.text_encoder.get_submodule("encoder.layers.0"))
    assert set(stats) == set(group)
    assert later == []


def test_statistics_survive_a_safetensors_round_trip(tiny_pipe, calibration_prompts):
    layers = find_layers(tiny_pipe.text_encoder)
    stats = collect_statistics(layers, make_feed(tiny_pipe, "text_encoder", CalibrationSettings(), calibration_prompts))
    again = load_statistics(save_statistics(stats))
    assert set(again) == set(stats)
    for name in stats:
        assert torch.equal(again[name].column_norms(), stats[name].column_norms())
        assert again[name].rows == stats[name].rows


def test_log_decrease_weights_match_obs_diff():
    weights = timestep_weights(25, "log_decrease")
    assert weights[0] == pytest.approx(1.2)  # step 0, the noisiest, counts most
    assert weights[-1] == pytest.approx(0.8)
    assert all(a > b for a, b in zip(weights, weights[1:]))
    assert weights[10] == pytest.approx(0.8 + 0.4 * math.log(15) / math.log(25))
    assert timestep_weights(4) == [1.0] * 4


def test_weighted_rows_accumulate_linearly():
    stats = LayerStatistics(3, "norms")
    rows = torch.tensor([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0]])
    stats.add_batch(rows, weight=2.0)
    torch.testing.assert_close(stats.column_norms(), torch.tensor([math.sqrt(20), math.sqrt(8), math.sqrt(2)]))
    assert stats.weight_sum == 4.0


def rerun_sequential_wanda_masks(pipe, prompts, settings, sparsity=0.5):
    """Sequential Wanda by its definition: every group calibrated on the model run from its start."""
    from sdprune.pruning.calibration import calibration_groups
    from sdprune.pruning.calibration.groups import last_block
    from sdprune.pruning.masks import UNSTRUCTURED
    from sdprune.pruning.methods.wanda import prune_layer

    module = pipe.text_encoder
    layers = find_layers(module)
    feed = make_feed(pipe, "text_encoder", settings, prompts)
    masks = {}
    for group in calibration_groups(module, "text_encoder", list(layers), settings.groups):
        stats = collect_statistics({n: layers[n] for n in group}, feed,
                                   stop_after=last_block(module, "text_encoder", group))
        with torch.no_grad():
            for name in group:
                pruned, masks[name] = prune_layer(layers[name].weight, stats[name], sparsity, UNSTRUCTURED)
                layers[name].weight.copy_(pruned)
    return masks


@pytest.mark.parametrize("settings", [CalibrationSettings(), CalibrationSettings(groups=2, count_padding=False),
                                      CalibrationSettings(batch_size=3)])
def test_replayed_blocks_give_the_masks_of_rerunning_the_model(tiny_model_dir, calibration_prompts, settings):
    from sdprune.models.loading import load_pipeline
    from sdprune.pruning.prune import prune_component
    from sdprune.pruning.spec import PruneSpec

    ours = prune_component(load_pipeline(tiny_model_dir), "text_encoder", PruneSpec("wanda", sparsity=0.5),
                           prompts=calibration_prompts, calibration=settings).artifact.masks
    reference = rerun_sequential_wanda_masks(load_pipeline(tiny_model_dir), calibration_prompts, settings)
    assert ours.keys() == reference.keys()
    assert all(torch.equal(ours[name], reference[name]) for name in reference)


def test_sequential_calibration_runs_each_text_block_twice_per_prompt(tiny_pipe, calibration_prompts):
    """Calibrated once, run pruned once to feed the next group (the last block only calibrated), however many groups."""
    from sdprune.pruning.prune import prune_component
    from sdprune.pruning.spec import PruneSpec

    from sdprune.models.components import execution_blocks

    module = tiny_pipe.text_encoder
    blocks = [module.get_submodule(name) for name in execution_blocks(module, "text_encoder")]
    calls = [0] * len(blocks)
    for index, block in enumerate(blocks):
        block.register_forward_hook(lambda module, args, out, index=index: calls.__setitem__(index, calls[index] + 1))
    prune_component(tiny_pipe, "text_encoder", PruneSpec("wanda", sparsity=0.5), prompts=calibration_prompts,
                    calibration=CalibrationSettings())
    prompts = len(calibration_prompts)
    assert len(blocks) > 1 and calls == [2 * prompts] * (len(blocks) - 1) + [prompts]
