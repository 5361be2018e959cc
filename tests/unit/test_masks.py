import pytest
import torch

from sdprune.pruning.masks import apply_mask, mask_n_m, mask_per_matrix, mask_per_row, parse_pattern


@pytest.mark.parametrize("shape", [(32, 32), (7, 13), (128, 64), (1, 100)])
@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.3, 0.5, 0.575, 0.8, 0.99])
def test_per_matrix_removes_int_of_s_times_numel(shape, sparsity):
    scores = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    mask = mask_per_matrix(scores, sparsity)
    assert int((~mask).sum()) == int(sparsity * scores.numel())  # as the paper's code: floor, not round
    if 0 < sparsity:
        assert scores[~mask].max() <= scores[mask].min()  # the lowest scores go


@pytest.mark.parametrize("shape", [(32, 32), (7, 13), (64, 100)])
@pytest.mark.parametrize("sparsity", [0.1, 0.3, 0.5, 0.6, 0.8])
def test_per_row_removes_int_of_s_times_in_from_every_row(shape, sparsity):
    scores = torch.rand(shape, generator=torch.Generator().manual_seed(2))
    mask = mask_per_row(scores, sparsity)
    pruned_per_row = (~mask).sum(dim=1)
    assert torch.all(pruned_per_row == int(shape[1] * sparsity))  # Wanda's code: no remainder spread over rows
    for row in range(shape[0]):  # within each row, only the lowest scores go
        if pruned_per_row[row] and mask[row].any():
            assert scores[row][~mask[row]].max() <= scores[row][mask[row]].min()


def test_per_row_realised_sparsity_can_fall_below_the_request():
    mask = mask_per_row(torch.rand(10, 7, generator=torch.Generator().manual_seed(4)), 0.5)
    assert int((~mask).sum()) == 10 * 3  # 30 of 70, not round(35)


def test_per_row_ties_go_by_position():
    mask = mask_per_row(torch.ones(3, 8), 0.5)
    assert torch.equal(mask, torch.tensor([[False] * 4 + [True] * 4] * 3))


def test_counts_that_float_products_put_a_hair_below_an_integer():
    assert 0.29 * 100 < 29  # 28.999999999999996
    assert int((~mask_per_row(torch.rand(2, 100), 0.29)).sum(dim=1)[0]) == 29
    assert int((~mask_per_matrix(torch.rand(10, 10), 0.29)).sum()) == 29


def test_per_matrix_ties_go_by_position_in_a_hand_made_case():
    # Four of eight go: the 0, then three of the four 1s, earliest first; the last 1 stays.
    scores = torch.tensor([[3.0, 1.0, 2.0, 1.0],
                           [1.0, 5.0, 1.0, 0.0]])
    expected = torch.tensor([[True, False, True, False],
                             [False, True, True, False]])
    assert torch.equal(mask_per_matrix(scores, 0.5), expected)


def test_n_m_ties_go_by_position_in_a_hand_made_case():
    scores = torch.tensor([[1.0, 1.0, 1.0, 1.0, 2.0, 0.0, 2.0, 0.0]])
    expected = torch.tensor([[False, False, True, True, True, False, True, False]])
    assert torch.equal(mask_n_m(scores, parse_pattern("2:4")), expected)


@pytest.mark.parametrize("pattern_text", ["2:4", "4:8", "1:4"])
def test_n_m_prunes_n_of_every_m(pattern_text):
    pattern = parse_pattern(pattern_text)
    scores = torch.rand(24, 64, generator=torch.Generator().manual_seed(3))
    mask = mask_n_m(scores, pattern)
    groups = (~mask).reshape(24, -1, pattern.m).sum(dim=-1)
    assert torch.all(groups == pattern.n)


def test_n_m_rejects_indivisible_widths():
    with pytest.raises(ValueError, match="multiple of 4"):
        mask_n_m(torch.rand(4, 10), parse_pattern("2:4"))


@pytest.mark.parametrize("text", ["unstructured", "2:4", "2of4", "4:8", "structured"])
def test_pattern_round_trips_through_its_path_form(text):
    pattern = parse_pattern(text)
    assert parse_pattern(pattern.slug) == pattern


@pytest.mark.parametrize("bad", ["2-4", "dense"])
def test_unknown_patterns_are_rejected(bad):
    with pytest.raises(ValueError, match="unknown sparsity pattern"):
        parse_pattern(bad)


@pytest.mark.parametrize("bad", ["4:2", "0:4", "4:4"])
def test_n_m_patterns_need_n_below_m(bad):
    with pytest.raises(ValueError, match="0 < N < M"):
        parse_pattern(bad)


def test_sparsity_out_of_range_is_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        mask_per_matrix(torch.rand(4, 4), 1.0)


def test_apply_mask_zeroes_exactly_the_masked_weights():
    weight = torch.randn(8, 8)
    mask = torch.rand(8, 8) > 0.5
    pruned = apply_mask(weight, mask)
    assert torch.equal(pruned[mask], weight[mask])
    assert torch.all(pruned[~mask] == 0)
