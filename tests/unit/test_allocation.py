import pytest
import torch

from sdprune.pruning.allocation import allocate, parse_ratio
from sdprune.pruning.plans.owl import MAX_LAYER_SPARSITY, outlier_ratio, owl_plan

SD2 = {"text_encoder": 340_387_840, "unet": 865_910_724}

# The paper's Table 1 (text, image sparsity), plus the cells it leaves out as infeasible.
TABLE_1 = {
    (0.2, "75:25"): (0.53, 0.07), (0.2, "50:50"): (0.35, 0.14), (0.2, "25:75"): (0.18, 0.21),
    (0.3, "75:25"): (0.80, 0.10), (0.3, "50:50"): (0.53, 0.21), (0.3, "25:75"): (0.27, 0.31),
    (0.4, "75:25"): None, (0.4, "50:50"): (0.71, 0.28), (0.4, "25:75"): (0.35, 0.42),
    (0.5, "75:25"): None, (0.5, "50:50"): (0.89, 0.35), (0.5, "25:75"): (0.44, 0.52),
    (0.6, "75:25"): None, (0.6, "50:50"): None, (0.6, "25:75"): (0.53, 0.63),
}


@pytest.mark.parametrize("cell", sorted(TABLE_1))
def test_table_1_cell_by_cell(cell):
    total, ratio = cell
    allocation = allocate(total, ratio, SD2)
    if TABLE_1[cell] is None:
        assert not allocation.feasible
        assert "text encoder would need" in allocation.reason  # reported, not clamped
        assert allocation.text_encoder is None and allocation.unet is None
    else:
        assert allocation.feasible
        assert (allocation.text_encoder, allocation.unet) == TABLE_1[cell]


def test_unrounded_allocation_hits_the_total_exactly():
    allocation = allocate(0.3, "60:40", SD2, rounding=1e-9)
    removed = allocation.text_encoder * SD2["text_encoder"] + allocation.unet * SD2["unet"]
    assert removed / sum(SD2.values()) == pytest.approx(0.3, abs=1e-8)


def test_ratio_parsing():
    assert parse_ratio("75:25") == (0.75, 0.25)
    assert parse_ratio("1:3") == (0.25, 0.75)
    with pytest.raises(ValueError, match="ratio must look like '75:25'"):
        parse_ratio("75-25")


def random_ratios(n, seed):
    return torch.rand(n, generator=torch.Generator().manual_seed(seed)).tolist()


@pytest.mark.parametrize("target", [0.0, 0.05, 0.1, 0.15, 0.3, 0.5, 0.62, 0.9, 0.98])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("weighted", [False, True])
def test_owl_plan_averages_to_the_target_and_stays_in_bounds(target, seed, weighted):
    ratios = random_ratios(23, seed)
    sizes = [int(s) for s in torch.randint(1, 100, (23,), generator=torch.Generator().manual_seed(seed))] if weighted else None
    plan = owl_plan(ratios, target, lam=0.08, sizes=sizes)
    w = torch.tensor(sizes or [1] * 23, dtype=torch.float64)
    assert float((torch.tensor(plan, dtype=torch.float64) * w).sum() / w.sum()) == pytest.approx(target, abs=1e-6)
    assert all(0.0 <= s <= MAX_LAYER_SPARSITY < 1.0 for s in plan)


def test_owl_plan_follows_owls_formula_when_nothing_clips():
    ratios = random_ratios(10, 3)
    lam, target = 0.08, 0.5
    r = torch.tensor(ratios, dtype=torch.float64)
    scaled = (r - r.min()) / (r.max() - r.min()) * 2 * lam
    density = scaled - scaled.mean() + (1 - target)  # OWL's code works in densities
    assert owl_plan(ratios, target, lam=lam) == pytest.approx((1 - density).tolist(), abs=1e-12)
    most_outliers = max(range(10), key=lambda i: ratios[i])
    assert min(owl_plan(ratios, target)) == owl_plan(ratios, target)[most_outliers]  # pruned least


def test_owl_plan_with_equal_ratios_is_uniform():
    assert owl_plan([0.01] * 5, 0.4) == [0.4] * 5


def test_outlier_ratio_counts_scores_above_m_times_the_mean():
    scores = [torch.tensor([1.0] * 98 + [100.0, 100.0])]  # mean 2.98: 2 of 100 above 7x
    assert outlier_ratio(scores, m=7) == pytest.approx(0.02)
