import pytest
import torch

from sdprune.workflow.stages.prune import prune as prune_stage
from sdprune.pruning.artifact import load_artifact, pack_mask, unpack_mask
from sdprune.pruning.masks import UNSTRUCTURED
from sdprune.models.components import find_layers
from sdprune.models.loading import load_pipeline
from sdprune.pruning.artifact import load_pruned_pipeline
from sdprune.pruning.calibration import CalibrationSettings, calibration_groups
from sdprune.pruning.prune import prune_component
from sdprune.pruning.spec import OwlSettings, PruneSpec


def state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("component", ["text_encoder", "unet"])
@pytest.mark.parametrize("method", ["magnitude", "wanda"])
def test_only_target_layers_change(tiny_pipe, calibration_prompts, component, method):
    module = getattr(tiny_pipe, component)
    before = state(module)
    other = "unet" if component == "text_encoder" else "text_encoder"
    other_before = state(getattr(tiny_pipe, other))
    calibration = CalibrationSettings(num_steps=2, groups=2)
    prune_component(tiny_pipe, component, PruneSpec(method, UNSTRUCTURED, 0.5),
                    prompts=calibration_prompts, calibration=calibration)
    after = state(module)
    targets = {f"{name}.weight" for name in find_layers(module)}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == targets
    assert all(torch.equal(v, getattr(tiny_pipe, other).state_dict()[k]) for k, v in other_before.items())


@pytest.mark.parametrize("method", ["magnitude", "wanda"])
def test_report_measures_the_realised_sparsity(tiny_pipe, calibration_prompts, method):
    result = prune_component(tiny_pipe, "text_encoder", PruneSpec(method, UNSTRUCTURED, 0.6),
                             prompts=calibration_prompts, calibration=CalibrationSettings())
    report = result.report
    for name, layer in report["layers"].items():
        rows, cols = layer["shape"]
        # Reference counts: int(s * numel) per matrix (magnitude), int(s * in) per row (Wanda).
        expected = int(0.6 * layer["numel"]) if method == "magnitude" else rows * int(0.6 * cols)
        assert layer["zeros"] == expected, name
    assert report["zeros"] == sum(int((~mask).sum()) for mask in result.artifact.masks.values())
    assert report["realised_sparsity"] == report["zeros"] / report["target_weights"] <= 0.6
    assert report["realised_sparsity"] == pytest.approx(0.6, abs=0.01)


def test_wanda_prunes_each_row_evenly(tiny_pipe, calibration_prompts):
    result = prune_component(tiny_pipe, "text_encoder", PruneSpec("wanda", UNSTRUCTURED, 0.5),
                             prompts=calibration_prompts, calibration=CalibrationSettings())
    for mask in result.artifact.masks.values():
        assert torch.all((~mask).sum(dim=1) == int(0.5 * mask.shape[1]))


def test_sequential_calibration_uses_the_already_pruned_blocks(tiny_model_dir, calibration_prompts):
    """Block 1 is pruned on inputs from the pruned block 0, not from the dense model."""
    from sdprune.pruning.calibration import collect_statistics
    from sdprune.pruning.methods.wanda import prune_layer
    from sdprune.pruning.calibration import make_feed

    settings = CalibrationSettings()
    sequential = load_pipeline(tiny_model_dir)
    result = prune_component(sequential, "text_encoder", PruneSpec("wanda", UNSTRUCTURED, 0.5),
                             prompts=calibration_prompts, calibration=settings)
    one_shot = load_pipeline(tiny_model_dir)
    one_shot_result = prune_component(one_shot, "text_encoder", PruneSpec("wanda", UNSTRUCTURED, 0.5),
                                      prompts=calibration_prompts, calibration=CalibrationSettings(sequential=False))
    # By hand: prune block 0 alone, then calibrate block 1 on the result.
    manual = load_pipeline(tiny_model_dir)
    layers = find_layers(manual.text_encoder)
    feed = make_feed(manual, "text_encoder", settings, calibration_prompts)
    block0 = {n: l for n, l in layers.items() if n.startswith("encoder.layers.0.")}
    stats0 = collect_statistics(block0, feed)
    with torch.no_grad():
        for name, layer in block0.items():
            layer.weight.copy_(prune_layer(layer.weight, stats0[name], 0.5, UNSTRUCTURED)[0])
    name = "encoder.layers.1.mlp.fc1"
    stats1 = collect_statistics({name: layers[name]}, feed)
    expected = prune_layer(layers[name].weight, stats1[name], 0.5, UNSTRUCTURED)[1]
    assert torch.equal(result.artifact.masks[name], expected)
    assert not torch.equal(one_shot_result.artifact.masks[name], expected)
    # Block 0 sees dense inputs either way.
    first = "encoder.layers.0.mlp.fc1"
    assert torch.equal(result.artifact.masks[first], one_shot_result.artifact.masks[first])


def test_groups_follow_execution_order(tiny_pipe):
    unet = tiny_pipe.unet
    names = list(find_layers(unet, "linear+conv"))
    groups = calibration_groups(unet, "unet", names, 0)
    flat = [n for g in groups for n in g]
    assert sorted(flat) == sorted(names)
    assert flat[0] == "conv_in" and flat[-1] == "conv_out"
    order = [n.split(".")[0] for n in flat]
    assert order.index("mid_block") < order.index("up_blocks")  # mid runs before up, whatever the registration order
    assert len(calibration_groups(unet, "unet", names, 2)) == 2


@pytest.mark.parametrize("component,method", [("text_encoder", "magnitude"), ("text_encoder", "wanda"),
                                              ("unet", "magnitude"), ("unet", "wanda")])
def test_base_plus_artifact_reloads_bit_identically(tiny_model_dir, tmp_path, calibration_prompts, component, method):
    out = tmp_path / "artifact"
    calibration = CalibrationSettings(num_steps=2, groups=2)
    prune_stage(model_dir=tiny_model_dir, component=component, spec=PruneSpec(method, UNSTRUCTURED, 0.4),
                calibration=calibration, prompts=calibration_prompts, out_dir=out, device="cpu")
    # The same pruning in memory...
    pipe = load_pipeline(tiny_model_dir)
    prune_component(pipe, component, PruneSpec(method, UNSTRUCTURED, 0.4),
                    prompts=tuple(calibration_prompts), calibration=CalibrationSettings(num_steps=2, groups=2))
    # ...equals base + artifact, bit for bit.
    reloaded = load_pruned_pipeline(tiny_model_dir, {component: out / "artifact.safetensors"})
    for key, value in getattr(pipe, component).state_dict().items():
        assert torch.equal(value, getattr(reloaded, component).state_dict()[key]), key


def test_artifact_is_a_fraction_of_the_component(tiny_model_dir, tmp_path):
    out = tmp_path / "artifact"
    report = prune_stage(model_dir=tiny_model_dir, component="unet", spec=PruneSpec("magnitude", UNSTRUCTURED, 0.5),
                         out_dir=out, device="cpu")
    artifact_bytes = (out / "artifact.safetensors").stat().st_size
    dense_bytes = sum(p.stat().st_size for p in (tiny_model_dir / "unet").glob("*.safetensors"))
    assert artifact_bytes < dense_bytes / 20  # 1 bit per target weight vs 32
    assert report["full_model"]["components"]["unet"]["realised_sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert load_artifact(out / "artifact.safetensors").component == "unet"


def test_artifact_refuses_a_different_base(tiny_model_dir, tmp_path):
    from sdprune.models.loading import fetch_pipeline

    out = tmp_path / "artifact"
    prune_stage(model_dir=tiny_model_dir, component="unet", spec=PruneSpec("magnitude", UNSTRUCTURED, 0.5),
                out_dir=out, device="cpu")
    other = fetch_pipeline("tiny", tmp_path / "other", seed=0)
    (other / "unet" / "config.json").write_text((other / "unet" / "config.json").read_text().replace("}", ', "x": 1}', 1))
    with pytest.raises(ValueError, match="different base model"):
        load_pruned_pipeline(other, {"unet": out / "artifact.safetensors"})


def test_mask_bits_round_trip():
    mask = torch.rand(37, 11, generator=torch.Generator().manual_seed(0)) > 0.3
    packed = pack_mask(mask)
    assert packed.numel() == (37 * 11 + 7) // 8
    assert torch.equal(unpack_mask(packed, (37, 11)), mask)


def test_data_aware_method_without_prompts_fails_clearly(tiny_pipe):
    with pytest.raises(ValueError, match="calibration prompts"):
        prune_component(tiny_pipe, "text_encoder", PruneSpec("wanda", UNSTRUCTURED, 0.5),
                        prompts=(), calibration=CalibrationSettings())


@pytest.mark.parametrize("component", ["text_encoder", "unet"])
def test_owl_plan_varies_per_block_and_keeps_the_target(tiny_pipe, calibration_prompts, component):
    result = prune_component(tiny_pipe, component, PruneSpec("owl_magnitude", UNSTRUCTURED, 0.5),
                             owl=OwlSettings(lam=0.1),
                             prompts=calibration_prompts, calibration=CalibrationSettings(num_steps=2, groups=2))
    report = result.report
    planned = set(report["planned_layer_sparsity"].values())
    assert len(planned) > 1  # not uniform
    assert max(planned) - min(planned) <= 0.2 + 1e-9
    assert report["realised_sparsity"] == pytest.approx(0.5, abs=2e-3)
    assert len(report["owl_outlier_ratios"]) >= 2


@pytest.mark.parametrize("component", ["text_encoder", "unet"])
def test_sparsegpt_artifact_stores_the_updated_values(tiny_model_dir, tmp_path, calibration_prompts, component):
    out = tmp_path / "artifact"
    prune_stage(model_dir=tiny_model_dir, component=component, spec=PruneSpec("sparsegpt", UNSTRUCTURED, 0.5),
                calibration=CalibrationSettings(num_steps=2, groups=2), prompts=calibration_prompts, out_dir=out,
                device="cpu")
    artifact = load_artifact(out / "artifact.safetensors")
    assert set(artifact.values) == set(artifact.masks)
    base = load_pipeline(tiny_model_dir)
    reloaded = load_pruned_pipeline(tiny_model_dir, {component: out / "artifact.safetensors"})
    name = next(iter(artifact.masks))
    weight = getattr(reloaded, component).get_submodule(name).weight
    mask = artifact.masks[name]
    assert torch.all(weight[~mask] == 0)
    assert not torch.equal(weight[mask], getattr(base, component).get_submodule(name).weight[mask])


@pytest.mark.parametrize("pattern", ["2:4", "4:8"])
def test_n_m_with_convolutions_leaves_indivisible_layers_dense_and_says_so(tiny_pipe, pattern):
    from sdprune.pruning.masks import parse_pattern

    result = prune_component(tiny_pipe, "unet", PruneSpec("magnitude", parse_pattern(pattern), 0.5, "linear+conv"))
    skipped = result.report["skipped_layers"]
    inputs = {n: l.weight[0].numel() for n, l in find_layers(tiny_pipe.unet, "linear+conv").items()}
    assert skipped == sorted(n for n, k in inputs.items() if k % parse_pattern(pattern).m)
    for name, mask in result.artifact.masks.items():
        m = parse_pattern(pattern).m
        groups = (~mask.reshape(mask.shape[0], -1)).reshape(mask.shape[0], -1, m).sum(-1)
        assert torch.all(groups == parse_pattern(pattern).n), name


# --- OWL on per-row statistics ------------------------------------------------------------------


def _raw_norm_ratios(module, component, layers, stats, m=7.0):
    """Outlier ratios as they were: Wanda scores on raw input norms, which grow with the rows seen."""
    from sdprune.pruning.plans.owl import outlier_ratio
    from sdprune.pruning.methods.wanda import wanda_scores

    units = calibration_groups(module, component, list(layers), 0)
    return [outlier_ratio([wanda_scores(layers[n].weight, stats[n].column_norms()) for n in unit], m) for unit in units]


def _seen_twice(stats):
    """The statistics of the same calibration rows fed twice."""
    from sdprune.pruning.calibration import LayerStatistics

    twice = LayerStatistics(stats.in_features, "norms")
    twice.sum_sq, twice.weight_sum, twice.rows = stats.sum_sq * 2, stats.weight_sum * 2, stats.rows * 2
    return twice


def test_owl_text_encoder_plan_is_unchanged_by_per_row_statistics(tiny_pipe, calibration_prompts):
    from sdprune.pruning.plans.owl import owl_plan
    from sdprune.pruning.calibration import collect_statistics
    from sdprune.pruning.calibration import make_feed
    from sdprune.pruning.plans.owl import owl_layer_sparsity

    module = tiny_pipe.text_encoder
    layers = find_layers(module)
    feed = make_feed(tiny_pipe, "text_encoder", CalibrationSettings(), calibration_prompts)
    stats = collect_statistics(layers, feed)
    plan, ratios = owl_layer_sparsity(module, "text_encoder", layers, stats, 0.5)
    raw = _raw_norm_ratios(module, "text_encoder", layers, stats)
    assert len(set(raw)) > 1  # the ratios differ per block, so the comparison means something
    assert list(ratios.values()) == pytest.approx(raw, rel=1e-6)
    units = calibration_groups(module, "text_encoder", list(layers), 0)
    raw_plan = {n: s for unit, s in zip(units, owl_plan(raw, 0.5)) for n in unit}
    assert plan == pytest.approx(raw_plan, abs=1e-12)


def test_owl_unet_outlier_ratio_ignores_how_many_rows_a_layer_saw(tiny_pipe, calibration_prompts):
    from sdprune.pruning.calibration import collect_statistics
    from sdprune.pruning.calibration import make_feed
    from sdprune.pruning.plans.owl import owl_layer_sparsity

    unet = tiny_pipe.unet
    layers = find_layers(unet)
    feed = make_feed(tiny_pipe, "unet", CalibrationSettings(num_steps=2), calibration_prompts[:2])
    stats = collect_statistics(layers, feed)
    duplicated = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k"  # 77 text tokens per call
    doubled = {**stats, duplicated: _seen_twice(stats[duplicated])}
    plan, ratios = owl_layer_sparsity(unet, "unet", layers, stats, 0.5)
    plan_doubled, ratios_doubled = owl_layer_sparsity(unet, "unet", layers, doubled, 0.5)
    assert ratios_doubled == ratios and plan_doubled == plan
    # Raw norms would have made the mid block's ratio depend on the row count.
    block = list(ratios).index("mid_block")
    before, after = (_raw_norm_ratios(unet, "unet", layers, s)[block] for s in (stats, doubled))
    assert before != after


# --- layer scopes -------------------------------------------------------------------------------

TRANSFORMER_PARTS = {"attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k",
                     "attn2.to_v", "attn2.to_out.0", "ff.net.0.proj", "ff.net.2"}


def test_transformer_scope_in_the_unet_is_attention_and_feed_forward(tiny_pipe):
    unet = tiny_pipe.unet
    chosen = find_layers(unet, "transformer")
    blocks = [n for n, m in unet.named_modules() if type(m).__name__ == "BasicTransformerBlock"]
    expected = {f"{block}.{part}" for block in blocks for part in TRANSFORMER_PARTS}
    assert blocks and set(chosen) == expected
    left_out = set(find_layers(unet, "linear")) - set(chosen)
    assert left_out and all(n.startswith("time_embedding.") or n.endswith(("time_emb_proj", "proj_in", "proj_out"))
                            for n in left_out)
    assert any(n.endswith("proj_in") for n in left_out) and any(n.endswith("time_emb_proj") for n in left_out)


def test_transformer_scope_in_the_text_encoder_is_every_linear(tiny_pipe):
    module = tiny_pipe.text_encoder
    assert list(find_layers(module, "transformer")) == list(find_layers(module, "linear"))
    assert len(find_layers(module, "transformer")) == 6 * module.config.num_hidden_layers


def test_pruning_the_transformer_scope_leaves_the_other_linears_dense(tiny_pipe):
    before = state(tiny_pipe.unet)
    result = prune_component(tiny_pipe, "unet", PruneSpec("magnitude", UNSTRUCTURED, 0.5, "transformer"))
    after = state(tiny_pipe.unet)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {f"{n}.weight" for n in find_layers(tiny_pipe.unet, "transformer")}
    assert set(result.artifact.masks) == set(find_layers(tiny_pipe.unet, "transformer"))
    assert result.report["scope"] == "transformer"


# --- calibration seeds --------------------------------------------------------------------------


def test_calibration_seeds_are_disjoint_from_evaluation_seeds():
    from sdprune.seeding import derive_calibration_seed, derive_seed

    for base in (0, 1, 1234):
        evaluation = {derive_seed(base, i) for i in range(10_000)}
        calibration = {derive_calibration_seed(base, i) for i in range(1_000)}
        assert len(calibration) == 1_000 and not evaluation & calibration
        # torch's CPU generator keeps only a seed's low 32 bits: disjoint there too.
        assert not {s % 2**32 for s in evaluation} & {s % 2**32 for s in calibration}


def test_evaluation_seeds_are_unchanged():
    from sdprune.seeding import derive_seed

    # Pinned values: generation must stay byte-identical to what it was.
    assert [derive_seed(0, i) for i in range(3)] == [1484405855, 1982462498, 1570558271]


def test_unet_calibration_feed_uses_the_calibration_seeds(tiny_pipe, calibration_prompts):
    from sdprune.pruning.calibration import make_feed
    from sdprune.seeding import derive_calibration_seed, derive_seed

    feed = make_feed(tiny_pipe, "unet", CalibrationSettings(seed=7), calibration_prompts)
    assert list(feed.seeds) == [derive_calibration_seed(7, i) for i in range(len(calibration_prompts))]
    assert not set(feed.seeds) & {derive_seed(7, i) for i in range(len(calibration_prompts))}


def zero_norms(layers):
    """Input norms of all zeros: Wanda scores every weight 0, so a prune that reads them prunes by position."""
    from sdprune.pruning.calibration import LayerStatistics

    stats = {}
    for name, layer in layers.items():
        stats[name] = LayerStatistics(layer.weight.shape[1], "norms")
        stats[name].add_batch(torch.zeros(1, layer.weight.shape[1]))
    return stats


def test_a_hessian_method_never_reads_the_dense_norms_it_is_handed(tiny_model_dir, calibration_prompts):
    handed = load_pipeline(tiny_model_dir)
    dense = zero_norms(find_layers(handed.text_encoder))
    with_norms = prune_component(handed, "text_encoder", PruneSpec("sparsegpt", UNSTRUCTURED, 0.5),
                                 prompts=calibration_prompts, dense_statistics=dense).artifact
    without = prune_component(load_pipeline(tiny_model_dir), "text_encoder", PruneSpec("sparsegpt", UNSTRUCTURED, 0.5),
                              prompts=calibration_prompts).artifact
    assert all(torch.equal(with_norms.masks[n], without.masks[n]) for n in without.masks)
    assert all(torch.equal(with_norms.values[n], without.values[n]) for n in without.values)


def test_a_norms_method_reads_the_handed_dense_norms_for_its_first_group(tiny_pipe, calibration_prompts):
    dense = zero_norms(find_layers(tiny_pipe.text_encoder))
    masks = prune_component(tiny_pipe, "text_encoder", PruneSpec("wanda", UNSTRUCTURED, 0.5),
                            prompts=calibration_prompts, dense_statistics=dense).artifact.masks
    by_position = torch.tensor([False, True]).repeat_interleave(masks["encoder.layers.0.mlp.fc1"].shape[1] // 2)
    assert all(torch.equal(row, by_position) for row in masks["encoder.layers.0.mlp.fc1"])  # first group: the zeros
    assert not all(torch.equal(row, by_position) for row in masks["encoder.layers.1.mlp.fc1"])  # later: collected


@pytest.mark.parametrize("method,loaded,absent", [
    ("wanda", "calibration.norms", "calibration.hessian"),
    ("sparsegpt", "calibration.hessian", "calibration.norms"),
    ("magnitude", "plans.uniform", "plans.owl"),
])
def test_a_prune_imports_only_the_statistics_and_plan_it_uses(tiny_model_dir, calibration_prompts, method, loaded,
                                                              absent):
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from sdprune.models.loading import load_pipeline\n"
        "from sdprune.pruning.prune import prune_component\n"
        "from sdprune.pruning.spec import PruneSpec\n"
        f"prune_component(load_pipeline({str(tiny_model_dir)!r}), 'text_encoder', PruneSpec({method!r}),\n"
        f"                prompts={calibration_prompts[:1]!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('sdprune.pruning.')))\n"
    )
    modules = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert f"sdprune.pruning.{loaded}'" in modules
    assert f"sdprune.pruning.{absent}'" not in modules
