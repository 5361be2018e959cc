"""Configs of the toy scene world: what validation accepts and rejects, and what each stage takes from them."""

import pytest
import yaml

from sdprune.workflow.params import (
    calibration_prompt_params, evaluation_prompt_params, reference_features_params, score_params,
)
from sdprune.workflow.validation import load_config, scene_problems

SCHEMA = "schemas/config.schema.yaml"
TOY = {
    "model": {"name": "toy", "source": "toy", "dtype": "float32"},
    "seed": 3,
    "device": "cpu",
    "data": {"evaluation": {"source": "scenes", "num_prompts": 64}, "calibration": {"source": "scenes", "num_prompts": 32}},
    "experiments": [{"name": "unet_only", "unet": {"method": "wanda", "sparsity": 0.3}}],
    "scoring": {"metric_weights": "scenes", "fid_reference": "scenes", "fid_protocol": ["clean"], "batch_size": 64},
}


def load(tmp_path, **scoring):
    config = {**TOY, "scoring": {**TOY["scoring"], **scoring}}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path, SCHEMA)


def test_scene_prompts_need_no_file_or_coco_keys_and_depend_on_the_seed_and_count_alone(tmp_path):
    config = load(tmp_path)
    assert evaluation_prompt_params(config) == {"source": "scenes", "num_prompts": 64, "world_seed": 3}
    assert calibration_prompt_params(config) == {"source": "scenes", "num_prompts": 32, "world_seed": 3}
    assert score_params(config)["judge_prompts"] is True
    assert reference_features_params(config, "clean")["fid_reference"] == "scenes"


def test_the_tiny_presets_params_are_as_before():
    """No scene key leaks into a preset that does not ask for scenes (its caches stay valid)."""
    config = load_config("config/tiny.yaml", SCHEMA)
    assert "judge_prompts" not in score_params(config)
    assert evaluation_prompt_params(config) == dict(sorted(config["data"]["evaluation"].items()))
    assert calibration_prompt_params(config) == dict(sorted(config["data"]["calibration"].items()))


@pytest.mark.parametrize("changes,names", [
    ({"fid_protocol": ["clean", "paper"]}, ["scoring.fid_protocol", "scoring.metric_weights 'scenes'"]),
    ({"fid_protocol": "paper"}, ["scoring.fid_protocol", "'clean' protocol"]),
    ({"fid_reference": "data"}, ["scoring.fid_reference: 'data'", "data.evaluation.source 'scenes'"]),
])
def test_combinations_that_cannot_run_fail_before_any_job_with_the_keys_named(tmp_path, changes, names):
    with pytest.raises(ValueError) as error:
        load(tmp_path, **changes)
    assert all(name in str(error.value) for name in names), str(error.value)


def test_scene_references_need_scene_prompts(tmp_path):
    config = {**TOY, "data": {"evaluation": {"source": "file", "file": "config/prompts/tiny-evaluation.txt"}}}
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"scoring.fid_reference: 'scenes' .* data.evaluation.source 'scenes' \(got 'file'\)"):
        load_config(path, SCHEMA)


def test_scene_weights_with_dense_references_are_a_valid_choice(tmp_path):
    config = load(tmp_path, fid_reference="dense")
    assert config["scoring"]["metric_weights"] == "scenes"


def test_an_accuracy_cliff_needs_scene_prompts():
    config = load_config("config/tiny.yaml", SCHEMA)
    config["reporting"]["cliff"]["criterion"] = {"metric": "prompt_accuracy", "limit": 0.1, "relative": False,
                                                 "drop": True}
    problems = scene_problems(config)
    assert len(problems) == 1 and "reporting.cliff.criterion.metric" in problems[0] and "'file'" in problems[0]
    assert scene_problems(load_config("config/toy.yaml", SCHEMA)) == []
