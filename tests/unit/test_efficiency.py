"""Parameters, FLOPs and latency of a denoising step: counted and measured, never inferred from a sparsity."""

import copy

import torch

from sdprune.evaluation.efficiency import (compare_latency, nonzero_parameter_count, parameter_count, step_cost,
                                           step_flops, step_inputs)
from sdprune.models.build import build_pipeline


def tiny_unet():
    return build_pipeline("tiny", seed=0).unet


def test_flops_of_a_linear_layer_are_two_per_multiply_add():
    class Step(torch.nn.Module):  # the U-Net call signature over one Linear
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(8, 4)

        def forward(self, sample, timestep, encoder_hidden_states):
            return self.proj(encoder_hidden_states)

    inputs = step_inputs(tiny_unet(), height=64, width=64, text_positions=5)
    context = torch.randn(2, 5, 8)
    flops = step_flops(Step(), type(inputs)(inputs.sample, inputs.timestep, context))
    assert flops == 2 * (2 * 5) * 8 * 4


def test_unet_flops_grow_with_resolution_and_ignore_masks():
    unet = tiny_unet()
    small, large = (step_flops(unet, step_inputs(unet, height=s, width=s, text_positions=7)) for s in (32, 64))
    assert 3.5 * small < large <= 4.5 * small  # convolutions scale with pixels, attention a little faster
    masked = copy.deepcopy(unet)
    with torch.no_grad():
        for module in masked.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight[:, ::2] = 0  # half of every Linear masked: dense kernels do the same work
    assert step_flops(masked, step_inputs(masked, height=64, width=64, text_positions=7)) == large
    assert nonzero_parameter_count(masked) < nonzero_parameter_count(unet) <= parameter_count(unet)


def test_step_inputs_have_the_pipeline_shapes():
    unet = tiny_unet()
    inputs = step_inputs(unet, height=64, width=32, text_positions=7)
    assert inputs.sample.shape == (2, unet.config.in_channels, 8, 4)
    assert inputs.context.shape == (2, 7, unet.config.cross_attention_dim)


def test_step_cost_reports_both_models_side_by_side():
    unet = tiny_unet()
    cost = step_cost(unet, copy.deepcopy(unet), height=32, width=32, text_positions=7, repeats=3)
    assert cost["parameters"] == cost["dense_parameters"] == parameter_count(unet)
    assert cost["flops_per_step"] == cost["dense_flops_per_step"] > 0
    assert cost["seconds_per_step"] > 0 and cost["dense_seconds_per_step"] > 0
    assert cost["speedup"] == cost["dense_seconds_per_step"] / cost["seconds_per_step"]
    assert compare_latency(unet, unet, step_inputs(unet, height=32, width=32, text_positions=7),
                           repeats=2, warmup=0)["repeats"] == 2


def test_the_two_of_four_linears_are_found_and_a_cpu_says_why_it_measures_no_sparse_kernel():
    """A 2:4 run's Linears are what PyTorch's semi-structured kernels could take; they need CUDA and half
    precision, so here the record says so (the conversion itself runs only on a GPU)."""
    from sdprune.evaluation.efficiency import holds_two_of_four, semi_structured_latency, two_of_four_linears
    from sdprune.pruning.masks import parse_pattern
    from sdprune.pruning.prune import prune_component
    from sdprune.pruning.spec import PruneSpec

    pipe = build_pipeline("tiny", seed=0)
    dense = copy.deepcopy(pipe.unet)
    inputs = step_inputs(dense, height=32, width=32, text_positions=7)
    assert two_of_four_linears(dense) == []
    assert semi_structured_latency(dense, dense, inputs)["why"] == "no Linear holds the 2:4 pattern"
    prune_component(pipe, "unet", PruneSpec("magnitude", parse_pattern("2:4"), 0.5))
    linears = [name for name, m in pipe.unet.named_modules() if isinstance(m, torch.nn.Linear)]
    assert two_of_four_linears(pipe.unet) == linears  # scope `linear`: every Linear pruned 2:4
    assert not holds_two_of_four(torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]]))
    record = semi_structured_latency(pipe.unet, dense, inputs)
    assert record == {"measured": False, "why": "semi-structured kernels need CUDA and float16/bfloat16",
                      "two_of_four_linears": len(linears)}
