import copy

import pytest

from sdprune.pruning.spec import PruneSpec, sparsity_slug
from sdprune.workflow.experiments import (check_config, expand_runs, infeasible_allocations, model_parameter_counts,
                                          needs_calibration, parse_spec_slug, spec_slug)

BASE = {
    "model": {"name": "t", "source": "tiny"},
    "data": {"evaluation": {"source": "coco"}, "calibration": {"source": "coco"}},
    "scoring": {"fid_reference": "dense"},
    "experiments": [
        {"name": "text", "text_encoder": {"method": ["magnitude", "wanda"], "sparsity": [0.3, 0.5]}},
        {"name": "unet", "unet": {"method": "magnitude", "sparsity": 0.5}},
        {"name": "both", "text_encoder": {"method": "magnitude", "sparsity": 0.5},
         "unet": {"method": "magnitude", "sparsity": [0.5, 0.1 + 0.2]}},
        {"name": "again", "text_encoder": {"method": "magnitude", "sparsity": 0.3}},
    ],
}


def config(**changes):
    cfg = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = cfg
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[leaf] = value
    return cfg


def test_runs_are_the_product_of_each_grid_plus_dense_once():
    runs = expand_runs(config())
    keys = [r.key for r in runs]
    assert keys[0] == ("dense", "dense")
    assert len(keys) == len(set(keys)) == 1 + 4 + 1 + 2
    shared = next(r for r in runs if r.key == ("magnitude-unstructured-0.3", "dense"))
    assert shared.experiments == ("text", "again")
    assert ("magnitude-unstructured-0.5", "magnitude-unstructured-0.3") in keys  # 0.1 + 0.2 prints as 0.3


def test_spec_slugs_round_trip():
    spec = PruneSpec("wanda", "2of4", 0.5)
    assert spec.slug == "wanda-2of4-0.5"
    assert parse_spec_slug(spec.slug) == spec
    assert parse_spec_slug("dense") is None and spec_slug(None) == "dense"
    assert sparsity_slug(0.575) == "0.575"
    with pytest.raises(ValueError, match="not a prune spec"):
        parse_spec_slug("magnitude-0.5")


def test_a_good_config_has_no_problems():
    assert check_config(config()) == []


@pytest.mark.parametrize("changes,message", [
    ({"experiments.0.text_encoder.method": "bogus"}, "unknown method 'bogus'"),
    ({"experiments.1.unet.sparsity": 1.0}, "outside [0, 1)"),
    ({"experiments.1.unet.pattern": "1:4"}, "prunes exactly 0.25, not 0.5"),
    ({"experiments.1.unet.sparsity": 0.3, "experiments.1.unet.pattern": "2:4"}, "prunes exactly 0.5, not 0.3"),
    ({"experiments.1.unet.pattern": "3:2"}, "0 < N < M"),
    ({"model.source": "./no/such/folder"}, "does not exist"),
    ({"model.source": "not a model"}, "neither a built-in model"),
    ({"experiments.1.name": "text"}, "duplicate names"),
    ({"data.evaluation.source": "file", "data.evaluation.file": None}, "no file is given"),
    ({"data.evaluation.source": "file", "data.evaluation.file": "missing.txt"}, "'missing.txt' does not exist"),
    ({"scoring.fid_reference": "data"}, None),
])
def test_problems_the_schema_cannot_see(changes, message):
    problems = check_config(config(**changes))
    if message is None:
        assert problems == []
    else:
        assert any(message in p for p in problems), problems


def test_calibration_is_needed_only_for_data_aware_methods():
    assert needs_calibration(config())
    magnitude_only = config(**{"experiments.0.text_encoder.method": "magnitude"})
    assert not needs_calibration(magnitude_only)


def test_total_sparsity_experiments_follow_table_1_and_keep_na_cells():
    cfg = {"model": {"name": "sd2", "source": "stabilityai/stable-diffusion-2"}, "experiments": [
        {"name": "table1", "total_sparsity": [0.2, 0.4], "ratio": ["75:25", "50:50"],
         "text_encoder": {"method": "magnitude"}, "unet": {"method": "magnitude"}}]}
    runs = {r.key: r for r in expand_runs(cfg)}
    assert ("magnitude-unstructured-0.53", "magnitude-unstructured-0.07") in runs
    assert runs[("magnitude-unstructured-0.71", "magnitude-unstructured-0.28")].allocations == ("0.4@50:50",)
    assert len(runs) == 1 + 3
    (na,) = infeasible_allocations(cfg)
    assert (na["total"], na["ratio"]) == (0.4, "75:25") and "would need 106%" in na["reason"]


def test_unknown_hub_models_need_their_sizes_for_allocations():
    cfg = {"model": {"name": "x", "source": "someone/some-model"}, "experiments": [
        {"name": "a", "total_sparsity": 0.2, "ratio": "50:50",
         "text_encoder": {"method": "magnitude"}, "unet": {"method": "magnitude"}}]}
    assert any("parameter_counts" in p for p in check_config(cfg))
    cfg["model"]["parameter_counts"] = {"text_encoder": 100, "unet": 300}
    assert check_config(cfg) == []
    assert model_parameter_counts(cfg) == {"text_encoder": 100, "unet": 300}


def test_built_in_model_sizes_are_counted():
    counts = model_parameter_counts({"model": {"source": "sd2-random"}})
    assert counts == {"text_encoder": 340_387_840, "unet": 865_910_724}


def test_layer_scope_is_part_of_the_spec():
    spec = PruneSpec("sparsegpt", "unstructured", 0.5, "linear+conv")
    assert spec.slug == "sparsegpt-unstructured-0.5-conv"
    assert parse_spec_slug(spec.slug) == spec
    cfg = config(**{"experiments.1.unet.layers": ["linear", "linear+conv"]})
    keys = {r.key for r in expand_runs(cfg)}
    assert ("dense", "magnitude-unstructured-0.5-conv") in keys and ("dense", "magnitude-unstructured-0.5") in keys


@pytest.mark.parametrize("changes,message", [
    ({"experiments.1.unet.method": "owl_wanda", "experiments.1.unet.pattern": "2:4"}, "cannot use the N:M pattern"),
    ({"experiments.1.unet.layers": "conv"}, "unknown layer scope 'conv'"),
])
def test_more_problems(changes, message):
    assert any(message in p for p in check_config(config(**changes)))


def test_allocated_experiments_must_not_set_sparsities():
    cfg = config()
    cfg["experiments"].append({"name": "alloc", "total_sparsity": 0.2, "ratio": "50:50",
                               "text_encoder": {"method": "magnitude", "sparsity": 0.3}, "unet": {"method": "wanda"}})
    assert any("set by total_sparsity" in p for p in check_config(cfg))
