"""generation's config: which options the generate stage's cached settings hold, and what the schema takes."""

import copy
from pathlib import Path

import pytest

from sdprune.evaluation.generation import GenerationSettings
from sdprune.workflow.params import generation_params, generation_speed_options
from sdprune.workflow.validation import load_config, schema_problems

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "config" / "tiny.yaml", SCHEMA)


def with_generation(config, **changes):
    changed = copy.deepcopy(config)
    changed["generation"].update(changes)
    return changed


def test_defaults_keep_todays_settings_and_dtype(config):
    params = generation_params(config, 3)
    assert params["dtype"] == config["model"]["dtype"]  # generation.dtype null: the model's own
    assert params["settings"]["attention"] == "sdpa"  # what diffusers picked implicitly before
    assert generation_speed_options(config) == {"batch_size": config["generation"]["batch_size"],
                                                "compile": False, "channels_last": False}
    GenerationSettings(**params["settings"], **generation_speed_options(config))  # the script's call


@pytest.mark.parametrize("option", [{"batch_size": "auto"}, {"batch_size": 1}, {"compile": True},
                                    {"channels_last": True}])
def test_speed_options_leave_the_cached_settings_alone(config, option):
    assert generation_params(with_generation(config, **option), 0) == generation_params(config, 0)
    assert generation_speed_options(with_generation(config, **option)).items() >= option.items()


@pytest.mark.parametrize("option", [{"attention": "default"}, {"dtype": "bfloat16"}, {"dtype": "auto"},
                                    {"num_steps": 3}])
def test_options_that_change_images_change_the_cached_settings(config, option):
    assert generation_params(with_generation(config, **option), 0) != generation_params(config, 0)


@pytest.mark.parametrize("option, valid", [({"batch_size": "auto"}, True), ({"batch_size": 0}, False),
                                           ({"batch_size": "max"}, False), ({"dtype": "auto"}, True),
                                           ({"dtype": "float8"}, False), ({"attention": "flash"}, False),
                                           ({"compile": "yes"}, False)])
def test_schema_takes_the_options_it_documents(config, option, valid):
    problems = schema_problems(with_generation(config, **option), SCHEMA)
    assert (not problems) == valid, problems
