import pytest

from sdprune.reporting.cliffs import Criterion, next_round


def run_search(fid_of, coarse, step, criterion=Criterion(), dense=10.0):
    evaluated = {s: fid_of(s) for s in coarse}
    rounds = 0
    while True:
        state = next_round(evaluated, dense, criterion, step)
        if state["done"]:
            return state, evaluated, rounds
        evaluated[state["next"]] = fid_of(state["next"])
        rounds += 1


def test_bisection_finds_a_sharp_cliff_to_one_step():
    cliff = 0.6125  # FID explodes above 61.25 %, as the paper's text encoder does near 62.5 %
    state, evaluated, rounds = run_search(lambda s: 10.0 if s <= cliff else 200.0, [0.2, 0.4, 0.6, 0.8], 0.025)
    assert state["threshold"] == pytest.approx(0.6) and state["first_bad"] == pytest.approx(0.625)
    assert rounds == 3  # 0.7, 0.65, 0.625: log2(0.2 / 0.025) evaluations, not 8
    assert "fid > 1.2 x dense" in state["criterion"]["text"]


def test_a_model_that_never_breaks_reports_the_largest_sparsity():
    state, _, rounds = run_search(lambda s: 10.0, [0.2, 0.4], 0.025)
    assert (state["threshold"], state["first_bad"], rounds) == (0.4, None, 0)


def test_breaking_at_the_first_point_brackets_from_zero():
    state, evaluated, _ = run_search(lambda s: 100.0, [0.2, 0.4], 0.05)
    assert state["threshold"] == 0.0 and state["first_bad"] == pytest.approx(0.05)


def test_absolute_and_higher_is_better_criteria():
    assert Criterion("fid", 5.0, relative=False).is_bad(6.0, 0.0)
    assert not Criterion("fid", 5.0, relative=False).is_bad(4.0, 0.0)
    assert Criterion("ssim", 0.9, relative=False).is_bad(0.8, 1.0)
    with pytest.raises(ValueError, match="unknown cliff metric 'bogus'"):
        Criterion("bogus")
