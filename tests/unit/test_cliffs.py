from pathlib import Path

import pytest
import yaml

from sdprune.reporting.cliffs import Criterion, next_round
from sdprune.reporting.metrics import ACCURACY_METRICS, LOWER_IS_BETTER
from sdprune.workflow.validation import load_config

SCHEMA = "schemas/config.schema.yaml"


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


def test_a_drop_criterion_is_a_loss_from_dense():
    drop = Criterion("prompt_accuracy", 0.1, relative=False, drop=True)  # bad: more than 0.1 below dense
    assert drop.threshold(0.9) == pytest.approx(0.8)
    assert not drop.is_bad(0.85, 0.9) and drop.is_bad(0.75, 0.9)
    assert not drop.is_bad(0.08, 0.15) and drop.is_bad(0.5, 0.9)  # where a floor at 0.1 says the opposite
    assert drop.describe(0.9) == "prompt_accuracy < dense (0.9) - 0.1 = 0.8"
    share = Criterion("prompt_accuracy", 0.25, relative=True, drop=True)  # bad: a quarter of dense lost
    assert share.is_bad(0.59, 0.8) and not share.is_bad(0.61, 0.8)
    assert share.describe(0.8) == "prompt_accuracy < dense (0.8) - 0.25 x dense = 0.6"
    assert Criterion("fid", 5.0, relative=False, drop=True).is_bad(16.0, 10.0)  # lower is better: dense + 5
    assert not Criterion("fid", 5.0, relative=False, drop=True).is_bad(14.0, 10.0)


def test_a_floor_on_accuracy_stays_expressible():
    floor = Criterion("prompt_accuracy", 0.1, relative=False, drop=False)
    assert floor.is_bad(0.05, 0.9) and not floor.is_bad(0.5, 0.9)
    assert floor.describe(0.9) == "prompt_accuracy < 0.1"


def test_an_accuracy_criterion_must_say_which_reading():
    with pytest.raises(ValueError, match="state drop: true"):
        Criterion("prompt_accuracy", 0.1, relative=False)


def test_older_criteria_read_as_before():
    tiny = Criterion(**{"metric": "fid", "limit": 3.0, "relative": False})  # config/tiny.yaml's
    assert tiny.drop is False and tiny.is_bad(3.5, 0.0) and not tiny.is_bad(2.5, 0.0)
    assert tiny.describe(0.0) == "fid > 3"
    assert Criterion().describe(10.0) == "fid > 1.2 x dense (10) = 12"


def test_the_search_brackets_an_accuracy_cliff():
    accuracy = {0.2: 0.95, 0.4: 0.93, 0.6: 0.9, 0.65: 0.88, 0.7: 0.8, 0.75: 0.55, 0.8: 0.3}  # dense 0.96

    def accuracy_of(s):
        return accuracy[round(s, 4)]

    criterion = Criterion("prompt_accuracy", 0.1, relative=False, drop=True)  # bad below 0.86
    state, evaluated, rounds = run_search(accuracy_of, [0.2, 0.4, 0.6, 0.8], 0.05, criterion, dense=0.96)
    good = [s for s, v in evaluated.items() if v >= 0.86]
    bad = [s for s, v in evaluated.items() if v < 0.86]
    assert state["threshold"] == pytest.approx(max(good)) == pytest.approx(0.65)
    assert state["first_bad"] == pytest.approx(min(bad)) == pytest.approx(0.7)
    assert state["first_bad"] - state["threshold"] == pytest.approx(0.05) and rounds == 2  # 0.7, then 0.65
    assert state["criterion"]["drop"] is True and "dense (0.96) - 0.1" in state["criterion"]["text"]


def write_config(tmp_path, criterion: str):
    """The toy preset (scene prompts: accuracy criteria are allowed) with another cliff criterion."""
    text = Path("config/toy.yaml").read_text()
    old = "criterion: {metric: prompt_accuracy, limit: 0.1, relative: false, drop: true}"
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, f"criterion: {criterion}"))
    return path


def test_the_schema_asks_an_accuracy_criterion_for_its_reading(tmp_path):
    stated = load_config(write_config(tmp_path, "{metric: prompt_accuracy, limit: 0.1, relative: false, drop: true}"),
                         SCHEMA)
    assert Criterion(**stated["reporting"]["cliff"]["criterion"]).threshold(0.9) == pytest.approx(0.8)
    with pytest.raises(ValueError, match=r"reporting.cliff.criterion: 'drop' is a required property"):
        load_config(write_config(tmp_path, "{metric: prompt_accuracy, limit: 0.1, relative: false}"), SCHEMA)
    with pytest.raises(ValueError, match=r"reporting.cliff.criterion.limit: -0.1 is less than the minimum"):
        load_config(write_config(tmp_path, "{metric: fid, limit: -0.1, drop: true}"), SCHEMA)


def test_the_presets_criteria_keep_their_keys():
    """No default was added: the presets' cliff and report settings (their cache keys) are unchanged."""
    tiny = load_config("config/tiny.yaml", SCHEMA)["reporting"]["cliff"]["criterion"]
    paper = load_config("config.yaml", SCHEMA)["reporting"]["cliff"]["criterion"]
    assert tiny == {"metric": "fid", "limit": 3.0, "relative": False}
    assert paper == {"metric": "fid", "limit": 1.2, "relative": True}


def test_the_schema_knows_the_metric_table():
    criterion = yaml.safe_load(Path(SCHEMA).read_text())["properties"]["reporting"]["properties"]["cliff"][
        "properties"]["criterion"]
    assert set(criterion["properties"]["metric"]["enum"]) == set(LOWER_IS_BETTER)
    assert tuple(criterion["if"]["properties"]["metric"]["enum"]) == ACCURACY_METRICS  # drop must be stated
