"""Method quality and pattern guarantees on a single layer with realistic (correlated) inputs."""

import pytest
import torch

from sdprune.pruning.calibration import LayerStatistics
from sdprune.pruning.masks import UNSTRUCTURED, parse_pattern
from sdprune.pruning.methods import available_methods, get_method, parse_method

BASE_METHODS = ["magnitude", "wanda", "sparsegpt"]


def correlated_layer(seed: int, rows: int = 4096, d_in: int = 128, d_out: int = 64):
    """Inputs mixed through a random matrix (correlated columns) with uneven column scales."""
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(rows, d_in // 4, generator=g)
    mixing = torch.randn(d_in // 4, d_in, generator=g)
    scales = torch.exp(torch.randn(d_in, generator=g))  # some columns carry far more signal
    x = (latent @ mixing + 0.1 * torch.randn(rows, d_in, generator=g)) * scales
    weight = torch.randn(d_out, d_in, generator=g) / d_in**0.5
    return x, weight


def statistics(x: torch.Tensor, kind: str) -> LayerStatistics:
    stats = LayerStatistics(x.shape[1], kind)
    for chunk in x.split(1000):
        stats.add_batch(chunk)
    return stats


def reconstruction_error(x, weight, pruned) -> float:
    return float(torch.linalg.norm(x @ weight.T - x @ pruned.T) / torch.linalg.norm(x @ weight.T))


@pytest.mark.parametrize("pattern_text", ["unstructured", "2:4"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparsegpt_beats_wanda_beats_magnitude(pattern_text, seed):
    x, weight = correlated_layer(seed)
    pattern = parse_pattern(pattern_text)
    errors = {}
    for name in BASE_METHODS:
        method = get_method(name)
        stats = statistics(x, method.statistics) if method.statistics else None
        pruned, mask = method.prune_layer(weight, stats, 0.5, pattern)
        assert int((~mask).sum()) == weight.numel() // 2
        errors[name] = reconstruction_error(x, weight, pruned)
    assert errors["sparsegpt"] < errors["wanda"] < errors["magnitude"], errors


@pytest.mark.parametrize("name", BASE_METHODS + ["obs_diff"])
@pytest.mark.parametrize("pattern_text", ["2:4", "4:8"])
def test_every_method_holds_n_m(name, pattern_text):
    x, weight = correlated_layer(3, d_in=64, d_out=16)
    pattern = parse_pattern(pattern_text)
    method = get_method(name)
    pruned, mask = method.prune_layer(weight, statistics(x, method.statistics) if method.statistics else None,
                                      pattern.sparsity, pattern)
    zeros_per_group = (pruned == 0).reshape(16, -1, pattern.m).sum(dim=-1)
    assert torch.all(zeros_per_group >= pattern.n)
    assert torch.all((~mask).reshape(16, -1, pattern.m).sum(dim=-1) == pattern.n)


def test_sparsegpt_handles_inputs_that_are_always_zero():
    x, weight = correlated_layer(4, d_in=64, d_out=16)
    x[:, [3, 17, 40]] = 0.0
    pruned, mask = get_method("sparsegpt").prune_layer(weight, statistics(x, "hessian"), 0.5, UNSTRUCTURED)
    assert torch.isfinite(pruned).all()
    assert torch.all(pruned[:, [3, 17, 40]] == 0)  # weights on dead inputs carry nothing: they go
    assert int((pruned == 0).sum()) >= weight.numel() // 2


def test_sparsegpt_only_updates_kept_weights():
    x, weight = correlated_layer(5, d_in=64, d_out=16)
    pruned, mask = get_method("sparsegpt").prune_layer(weight, statistics(x, "hessian"), 0.6, UNSTRUCTURED)
    assert torch.all(pruned[~mask] == 0)
    assert not torch.equal(pruned[mask], weight[mask])  # the OBS update moved the survivors


def test_method_names_with_plans():
    assert {"magnitude", "wanda", "sparsegpt", "owl_magnitude", "owl_wanda", "owl_sparsegpt"} <= set(available_methods())
    choice = parse_method("owl_magnitude")
    assert (choice.plan, choice.method.name, choice.statistics) == ("owl", "magnitude", "norms")
    assert parse_method("sparsegpt").statistics == "hessian"
    with pytest.raises(ValueError, match="unknown pruning method"):
        parse_method("owl_bogus")


def test_the_registry_imports_no_method_until_one_is_asked_for():
    import subprocess
    import sys

    code = ("import sys; from sdprune.pruning.methods import available_methods, get_method; "
            "names = available_methods(); before = sorted(m for m in sys.modules if m.startswith('sdprune.pruning.')); "
            "get_method('wanda'); after = sorted(m for m in sys.modules if m.startswith('sdprune.pruning.methods.')); "
            "print(names, before, after)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("['magnitude', 'obs_diff', 'sparsegpt', 'wanda', 'owl_magnitude', 'owl_obs_diff', "
                           "'owl_sparsegpt', 'owl_wanda'] "
                           "['sdprune.pruning.masks', 'sdprune.pruning.methods'] ['sdprune.pruning.methods.wanda']")


def test_runtime_modules_name_the_base_method_module():
    from sdprune.pruning.methods import runtime_modules

    assert "sdprune.pruning.methods.sparsegpt" in runtime_modules("sparsegpt")
    owl_magnitude = runtime_modules("owl_magnitude")
    assert "sdprune.pruning.methods.magnitude" in owl_magnitude
    assert not any(m.startswith("sdprune.pruning.methods.") and not m.endswith("magnitude") for m in owl_magnitude)
    with pytest.raises(ValueError, match="unknown pruning method 'bogus'"):
        runtime_modules("bogus")


@pytest.mark.parametrize("name, reuses", [
    ("magnitude", False), ("wanda", True), ("sparsegpt", False),
    ("owl_magnitude", True), ("owl_wanda", True), ("owl_sparsegpt", True), ("obs_diff", False), ("owl_obs_diff", True),
])
def test_only_norm_methods_and_owl_plans_reuse_the_dense_norms(name, reuses):
    """The calibrate stage's output is an input of exactly these prune jobs."""
    assert parse_method(name).reuses_dense_norms is reuses


@pytest.mark.parametrize("pattern_text", ["unstructured", "2:4"])
def test_a_mask_only_selection_is_the_pruned_layers_mask(pattern_text):
    """The driver zeroes in place from `select_mask` alone: it must be `prune_layer`'s mask, and
    `prune_layer` must change nothing but the pruned weights."""
    x, weight = correlated_layer(4, d_in=64, d_out=16)
    pattern = parse_pattern(pattern_text)
    selecting = [name for name in ("magnitude", "wanda", "sparsegpt", "obs_diff") if get_method(name).select_mask]
    assert selecting == ["magnitude", "wanda"]  # the methods that keep kept weights as they are
    for name in selecting:
        method = get_method(name)
        stats = statistics(x, method.statistics) if method.statistics else None
        pruned, mask = method.prune_layer(weight, stats, 0.5, pattern)
        assert torch.equal(method.select_mask(weight, stats, 0.5, pattern), mask)
        assert torch.equal(pruned, weight.masked_fill(~mask, 0))
