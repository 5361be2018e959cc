"""Our text-encoder masks against the paper's released code (Ramesh & Zhao, Code/prune.py).

The oracle below restates, in plain lines, what that code computes; it was written
from reading it, and shares nothing with `sdprune` but the model:

- calibration: each prompt tokenised alone, padded to 77 tokens (padding counted),
  one prompt per forward; the hidden states entering block 0 are caught, and blocks
  are then run one by one on them;
- input statistics (`WrappedGPT.add_batch`): a running mean over forwards of each
  input column's squared norm over that forward's tokens;
- magnitude (`prune_magnitude`): per matrix, threshold = the ``int(numel*s) - 1``-th
  smallest |W|; every |W| <= threshold goes;
- Wanda (`prune_wanda`): score |W| * sqrt(stat); per output row, the ``int(in*s)``
  lowest go (stable sort); blocks in sequence, each calibrated on the outputs of the
  blocks before it, already pruned;
- OWL (`get_outlier_dist` and the two `*_outlier` functions): on the dense model,
  block by block, the percentage of a block's pooled Wanda scores above M times their
  mean; min-max scaled to [0, 2 lambda], centred on the density 1 - s (plain mean over
  blocks); a block's sparsity is 1 minus that;
- OWL-magnitude: per matrix, threshold = the ``int(numel*s_block)``-th smallest |W|
  (no ``- 1`` here), every |W| <= threshold goes;
- OWL-Wanda: as Wanda with the block's sparsity (0.01 if it is not positive), with a
  fresh calibration pass on the dense model.
"""

from __future__ import annotations

import copy
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from sdprune.pruning.masks import UNSTRUCTURED
from sdprune.pruning.calibration import CalibrationSettings
from sdprune.pruning.prune import prune_component
from sdprune.pruning.spec import OwlSettings, PruneSpec

PROMPTS = [
    "A cat looking out of a window",
    "A bowl of cereal with milk on a wooden table",
    "A city skyline at dusk",
    "A person walking a dog on a leash in the park",
    "Two red buses parked next to each other",
    "A plate with a sandwich and some fries",
    "A man riding a wave on top of a surfboard",
    "A kitchen with white cabinets and a window",
]
OWL_M, OWL_LAMBDA = 7.0, 0.08  # the paper's settings (helpers.py)
METHODS = ["magnitude", "wanda", "owl_magnitude", "owl_wanda"]
AGREEMENT = 0.999


class _Caught(Exception):
    pass


def paper_blocks(text_encoder: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in text_encoder.named_modules() if re.search(r"encoder\.layers\.\d+$", n)]


def paper_linears(block_name: str, block: nn.Module) -> dict[str, nn.Linear]:
    return {f"{block_name}.{n}": m for n, m in block.named_modules() if type(m) is nn.Linear}


def paper_calibration_inputs(text_encoder, tokenizer, prompts):
    """Their Catcher: per prompt (alone, padded to 77), what block 0 is called with."""
    caught = []

    def catch(module, args, kwargs):
        caught.append((args[0], args[1:], kwargs))
        raise _Caught

    handle = paper_blocks(text_encoder)[0][1].register_forward_pre_hook(catch, with_kwargs=True)
    try:
        for prompt in prompts:
            ids = tokenizer(prompt, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
            try:
                text_encoder(ids)
            except _Caught:
                pass
    finally:
        handle.remove()
    return caught


def paper_run_block(block, samples):
    """Run one block on every sample; return the outputs in the same (hidden, args, kwargs) form."""
    outputs = []
    for hidden, args, kwargs in samples:
        out = block(hidden, *args, **kwargs)
        outputs.append((out[0] if isinstance(out, tuple) else out, args, kwargs))
    return outputs


def paper_input_stats(block_name, block, samples):
    """WrappedGPT.add_batch: stat = stat * n / (n + b) + ||x_j||^2 / (n + b), per forward."""
    linears = paper_linears(block_name, block)
    stat = {n: torch.zeros(m.in_features) for n, m in linears.items()}
    seen = {n: 0 for n in linears}

    def hook(name):
        def add_batch(module, inputs, output):
            x = inputs[0].float()
            batch = x.shape[0]
            x = x.reshape(-1, x.shape[-1]).t()
            stat[name] = stat[name] * seen[name] / (seen[name] + batch) + x.norm(p=2, dim=1) ** 2 / (seen[name] + batch)
            seen[name] += batch

        return add_batch

    handles = [m.register_forward_hook(hook(n)) for n, m in linears.items()]
    try:
        outputs = paper_run_block(block, samples)
    finally:
        for h in handles:
            h.remove()
    return stat, outputs


def paper_magnitude_pruned(weight, sparsity, *, owl):
    """True = pruned. Plain magnitude thresholds at index int(n*s) - 1; their OWL version at int(n*s)."""
    metric = weight.abs()
    index = int(weight.numel() * sparsity) - (0 if owl else 1)
    threshold = torch.sort(metric.flatten())[0][index]
    return metric <= threshold


def paper_wanda_pruned(weight, stat, sparsity):
    metric = weight.abs() * torch.sqrt(stat.reshape(1, -1))
    pruned = torch.zeros_like(metric, dtype=torch.bool)
    order = torch.sort(metric, dim=-1, stable=True)[1]
    pruned.scatter_(1, order[:, : int(metric.shape[1] * sparsity)], True)
    return pruned


@torch.no_grad()
def paper_owl_sparsities(text_encoder, tokenizer, sparsity):
    """Per block: outlier percentage on the dense model, then OWL's layerwise sparsity formula."""
    samples = paper_calibration_inputs(text_encoder, tokenizer, PROMPTS)
    ratios = []
    for name, block in paper_blocks(text_encoder):
        stat, samples = paper_input_stats(name, block, samples)
        metric = torch.cat([(m.weight.abs() * torch.sqrt(stat[n].reshape(1, -1))).flatten()
                            for n, m in paper_linears(name, block).items()])
        ratios.append(float((metric > metric.mean() * OWL_M).sum()) / metric.numel() * 100)
    ratios = np.array(ratios)
    scaled = (ratios - ratios.min()) * (1 / (ratios.max() - ratios.min()) * OWL_LAMBDA * 2)
    density = scaled - np.mean(scaled) + (1 - sparsity)
    return [1 - d for d in density], ratios


@torch.no_grad()
def paper_prune(text_encoder, tokenizer, method, sparsity):
    """The paper's code, restated: prunes ``text_encoder`` in place, returns {layer: pruned mask}."""
    blocks = paper_blocks(text_encoder)
    per_block = [sparsity] * len(blocks)
    if method.startswith("owl_"):
        per_block, _ = paper_owl_sparsities(text_encoder, tokenizer, sparsity)
    masks = {}
    if method.endswith("magnitude"):
        for (name, block), s in zip(blocks, per_block):
            for n, m in paper_linears(name, block).items():
                masks[n] = paper_magnitude_pruned(m.weight, s, owl=method.startswith("owl_"))
                m.weight[masks[n]] = 0
        return masks
    samples = paper_calibration_inputs(text_encoder, tokenizer, PROMPTS)
    for (name, block), s in zip(blocks, per_block):
        s = s if s > 0 else 0.01
        stat, _ = paper_input_stats(name, block, samples)
        for n, m in paper_linears(name, block).items():
            masks[n] = paper_wanda_pruned(m.weight, stat[n], s)
            m.weight[masks[n]] = 0
        samples = paper_run_block(block, samples)  # the next block sees this one pruned
    return masks


@pytest.fixture(scope="module")
def tiny_text_pipe():
    from sdprune.models.build import build_pipeline

    return build_pipeline("tiny", seed=0)


def fresh_copy(pipe):
    """What prune_component needs of a pipeline for the text encoder, with a copy to prune."""
    return SimpleNamespace(text_encoder=copy.deepcopy(pipe.text_encoder), tokenizer=pipe.tokenizer)


def agreement(ours: dict[str, torch.Tensor], theirs_pruned: dict[str, torch.Tensor]) -> float:
    assert set(ours) == set(theirs_pruned)
    equal = sum(int((ours[n] == ~theirs_pruned[n]).sum()) for n in ours)
    return equal / sum(m.numel() for m in ours.values())


def measure(pipe, method, sparsity) -> float:
    reference = copy.deepcopy(pipe.text_encoder)
    theirs = paper_prune(reference, pipe.tokenizer, method, sparsity)
    result = prune_component(fresh_copy(pipe), "text_encoder",
                             PruneSpec(method, UNSTRUCTURED, sparsity), owl=OwlSettings(m=OWL_M, lam=OWL_LAMBDA),
                             prompts=PROMPTS, calibration=CalibrationSettings())
    return agreement(result.artifact.masks, theirs)


def test_owl_has_something_to_see(tiny_text_pipe):
    _, ratios = paper_owl_sparsities(copy.deepcopy(tiny_text_pipe.text_encoder), tiny_text_pipe.tokenizer, 0.5)
    assert len(set(ratios.tolist())) == len(ratios)  # every block its own ratio: the plan is not uniform


@pytest.mark.parametrize("sparsity", [0.3, 0.5])
@pytest.mark.parametrize("method", METHODS)
def test_masks_agree_with_the_papers_code(tiny_text_pipe, method, sparsity):
    assert measure(tiny_text_pipe, method, sparsity) >= AGREEMENT


@pytest.mark.parametrize("sparsity", [0.3, 0.5])
def test_owl_plan_matches_the_papers_formula(tiny_text_pipe, sparsity):
    expected, _ = paper_owl_sparsities(copy.deepcopy(tiny_text_pipe.text_encoder), tiny_text_pipe.tokenizer, sparsity)
    pipe = fresh_copy(tiny_text_pipe)
    report = prune_component(pipe, "text_encoder", PruneSpec("owl_magnitude", UNSTRUCTURED, sparsity),
                             owl=OwlSettings(m=OWL_M),
                             prompts=PROMPTS, calibration=CalibrationSettings()).report
    planned = report["planned_layer_sparsity"]
    for (name, block), s in zip(paper_blocks(pipe.text_encoder), expected):
        for layer in paper_linears(name, block):
            assert planned[layer] == pytest.approx(s, abs=1e-9), layer


@pytest.mark.parametrize("sparsity", [0.3, 0.5])
def test_owl_magnitude_differs_only_by_the_papers_extra_weight_per_matrix(tiny_text_pipe, sparsity):
    """Their OWL-magnitude thresholds at index int(n*s), not int(n*s) - 1 as their plain magnitude:
    one more weight per matrix goes, the smallest one we keep. We do not copy that off-by-one."""
    reference = copy.deepcopy(tiny_text_pipe.text_encoder)
    theirs = paper_prune(reference, tiny_text_pipe.tokenizer, "owl_magnitude", sparsity)
    pipe = fresh_copy(tiny_text_pipe)
    dense = {n: m.weight.detach().clone() for n, m in pipe.text_encoder.named_modules() if type(m) is nn.Linear}
    ours = prune_component(pipe, "text_encoder", PruneSpec("owl_magnitude", UNSTRUCTURED, sparsity),
                             owl=OwlSettings(m=OWL_M),
                           prompts=PROMPTS, calibration=CalibrationSettings()).artifact.masks
    for name, keep in ours.items():
        differ = keep == theirs[name]  # we keep what they prune, or the other way round
        assert int(differ.sum()) == 1, name
        assert bool(keep[differ]) and dense[name].abs()[differ] == dense[name].abs()[keep].min()


@pytest.mark.parametrize("sparsity", [0.3, 0.5])
def test_magnitude_differs_only_on_ties_at_the_threshold(tiny_text_pipe, sparsity):
    """With half-precision weights (the paper loads SD2 in float16) |W| ties are common. Their `<=`
    threshold prunes every tie; we prune exactly int(n*s), ties broken by position."""
    pipe = fresh_copy(tiny_text_pipe)
    with torch.no_grad():
        for module in pipe.text_encoder.modules():
            if type(module) is nn.Linear:
                module.weight.copy_(module.weight.half().float())  # float16 values, computed in float32
    dense = {n: m.weight.detach().clone() for n, m in pipe.text_encoder.named_modules() if type(m) is nn.Linear}
    theirs = paper_prune(copy.deepcopy(pipe.text_encoder), pipe.tokenizer, "magnitude", sparsity)
    ours = prune_component(pipe, "text_encoder", PruneSpec("magnitude", UNSTRUCTURED, sparsity)).artifact.masks
    assert agreement(ours, theirs) >= AGREEMENT
    for name, keep in ours.items():
        differ = keep == theirs[name]
        assert bool(keep[differ].all())  # only weights they prune and we keep...
        threshold = dense[name].abs()[~keep].max()
        assert bool((dense[name].abs()[differ] == threshold).all())  # ...all tied with the threshold
        assert int((~keep).sum()) == int(sparsity * keep.numel())
