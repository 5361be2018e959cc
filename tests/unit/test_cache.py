"""Adoption of cached artifacts from their provenance records (no DVC needed)."""

import copy

from sdprune.cache import adoption
from sdprune.params import expected_params
from sdprune.provenance import code_fingerprint, fingerprint

CONFIG = {
    "model": {"name": "m", "source": "tiny", "revision": None, "dtype": "float32"}, "seed": 0,
    "data": {"evaluation": {"source": "file", "file": "prompts.txt", "num_prompts": 2}},
    "generation": {"num_steps": 4, "guidance_scale": 7.5, "scheduler": None, "height": None, "width": None,
                   "batch_size": 2},
    "reporting": {"showcase_prompts": ["A dog"]},
}


def record(rule, wildcards, inputs, outputs, config, workdir):
    return {"rule": rule, "wildcards": wildcards, "params": expected_params(config, rule, wildcards),
            "code": code_fingerprint(rule, workdir), "inputs": inputs, "outputs": outputs}


def records(tmp_path, config=CONFIG):
    (tmp_path / "prompts.txt").write_text("A dog\nA cat\n")
    return {
        "model.provenance.json": record("download_model", {"model": "m"}, {}, ["resources/models/m"], config, tmp_path),
        "prompts.provenance.json": record("prepare_evaluation_prompts", {}, {"prompts.txt": fingerprint(tmp_path / "prompts.txt")},
                                          ["prompts.json"], config, tmp_path),
        "gen.provenance.json": record("generate_images", {"te": "dense", "unet": "dense", "seed": "0"},
                                      {"resources/models/m": "dir:x", "prompts.json": "sha256:y"}, ["images", "gen.json"],
                                      config, tmp_path),
    }


def test_matching_records_are_adopted(tmp_path):
    adopted, rejected = adoption(records(tmp_path), CONFIG, tmp_path)
    assert rejected == {} and len(adopted) == 3


def test_a_config_change_rejects_the_artifact_and_everything_made_from_it(tmp_path):
    changed = copy.deepcopy(CONFIG)
    changed["data"]["evaluation"]["num_prompts"] = 1
    adopted, rejected = adoption(records(tmp_path), changed, tmp_path)
    assert adopted == {"model.provenance.json"}
    assert rejected["prompts.provenance.json"] == "config differs from the one that made it"
    assert rejected["gen.provenance.json"].startswith("made from prompts.json")


def test_an_edited_source_file_rejects_what_was_made_from_it(tmp_path):
    made = records(tmp_path)
    (tmp_path / "prompts.txt").write_text("A dog\nA horse\n")
    adopted, rejected = adoption(made, CONFIG, tmp_path)
    assert "input prompts.txt differs" in rejected["prompts.provenance.json"]
    assert "gen.provenance.json" in rejected


def test_other_code_is_not_adopted(tmp_path):
    made = records(tmp_path)
    made["model.provenance.json"]["code"] = "0" * 64
    adopted, rejected = adoption(made, CONFIG, tmp_path)
    assert rejected["model.provenance.json"] == "code differs from the one that made it"
    assert adopted == {"prompts.provenance.json"}
