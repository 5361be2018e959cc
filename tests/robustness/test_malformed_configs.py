"""Malformed configs, each a small edit of config/tiny.yaml: one error line naming the bad key and
value, before any job runs, nothing written. Every case goes through `load_config` (the checks
rules/common.smk makes, in the same order); three go through a real `snakemake` as well."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sdprune.workflow.validation import load_config
from tests.workflow.conftest import REPO, copy_workflow, snakemake

SCHEMA = REPO / "schemas" / "config.schema.yaml"
DELETE = object()

# case -> (key path, new value, words the one error line must hold)
CASES = {
    "sparsity above one": (["experiments", 1, "unet", "sparsity"], [0.3, 1.2],
                           ["experiments[1].unet.sparsity[1]", "1.2", "[0, 1)"]),
    "negative sparsity": (["experiments", 1, "unet", "sparsity"], -0.1, ["experiments[1].unet.sparsity", "-0.1"]),
    "sparsity not a number": (["experiments", 1, "unet", "sparsity"], "abc",
                              ["experiments[1].unet.sparsity", "'abc'", "number"]),
    "unknown method": (["experiments", 1, "unet", "method"], "magnitudo", ["unet.method", "'magnitudo'", "unknown"]),
    "N:M with an OWL plan": (["experiments", 0, "text_encoder"], {"method": "owl_wanda", "pattern": "2:4", "sparsity": 0.5},
                             ["text_encoder", "OWL", "2:4"]),
    "unknown component": (["experiments", 1, "vae"], {"method": "magnitude", "sparsity": 0.5}, ["experiments[1]", "'vae'"]),
    "missing model": (["model"], DELETE, ["'model' is a required property"]),
    "duplicate run names": (["experiments", 1, "name"], "text_encoder_only", ["experiments", "duplicate", "text_encoder_only"]),
    "steps of the wrong type": (["generation", "num_steps"], "ten", ["generation.num_steps", "'ten'", "integer"]),
    "method of the wrong type": (["experiments", 1, "unet", "method"], 5, ["experiments[1].unet.method", "5", "string"]),
    "experiments not a list": (["experiments"], "unet_only", ["experiments", "'unet_only'", "array"]),
    "an empty experiment": (["experiments", 1], {"name": "nothing"}, ["experiments[nothing]", "neither"]),
    "no experiments": (["experiments"], [], ["experiments", "non-empty"]),
    "ratio that does not parse": (["experiments", 2, "ratio"], ["75-25"], ["experiments[2].ratio[0]", "'75-25'", "text:image"]),
    "ratio with two dots": (["experiments", 2, "ratio"], ["7.5.1:25"], ["experiments[full_model_ratios]", "'7.5.1:25'"]),
    "unknown scheduler": (["generation", "scheduler"], "FancyScheduler", ["generation.scheduler", "'FancyScheduler'"]),
    "unknown model": (["model", "source"], "not a model", ["model.source", "'not a model'"]),
    "misspelt key": (["generation", "num_stepz"], 3, ["generation", "'num_stepz'"]),
    "missing ImageReward interpreter": (["scoring"], {"metric_weights": "real", "fid_reference": "dense", "image_reward": True,
                                                   "image_reward_python": "no such/python"},
                                        ["scoring.image_reward_python", "'no such/python'", "make venv-image-reward"]),
}
THROUGH_SNAKEMAKE = ["sparsity above one", "duplicate run names", "unknown scheduler"]


def malformed(case: str) -> dict:
    config = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    path, value, _ = CASES[case]
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return config


def problem_lines(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("  - ")]


def _assert_one_line_naming(message: str, case: str) -> None:
    lines = problem_lines(message)
    assert len(lines) == 1, message
    assert all(word in lines[0] for word in CASES[case][2]), lines[0]


def test_the_unedited_preset_is_valid(tmp_path):
    load_config(REPO / "config" / "tiny.yaml", SCHEMA)


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_config_is_one_line_naming_the_key(tmp_path, case, monkeypatch):
    monkeypatch.chdir(REPO)  # the preset's prompt files are relative to the workflow
    config_file = tmp_path / "bad.yaml"
    config_file.write_text(yaml.safe_dump(malformed(case)))
    with pytest.raises(ValueError) as caught:
        load_config(config_file, SCHEMA)
    _assert_one_line_naming(str(caught.value), case)


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("malformed"))


@pytest.mark.workflow
@pytest.mark.parametrize("case", THROUGH_SNAKEMAKE)
def test_snakemake_stops_on_a_malformed_config_before_any_job(workflow_copy, case):
    config_file = workflow_copy / "config" / f"bad-{case.replace(' ', '-')}.yaml"
    config_file.write_text(yaml.safe_dump(malformed(case)))
    result = snakemake(workflow_copy, "--cores", "1", "--configfile", str(config_file.relative_to(workflow_copy)),
                       timeout=300)
    assert result.returncode != 0
    _assert_one_line_naming(result.stdout + result.stderr, case)
    assert not (workflow_copy / "results").exists() and not (workflow_copy / "logs").exists()
    assert "Building DAG" not in result.stdout + result.stderr  # stopped while reading the config
