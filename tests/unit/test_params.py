"""What each stage takes from the config (sdprune.workflow.params)."""

import pandas as pd
import pytest

from sdprune.evaluation.prompts import read_dataset_prompts
from sdprune.workflow.params import calibration_prompt_params, fid_protocols, reference_features_params, score_params
from sdprune.workflow.validation import load_config


def _paper_config():
    return load_config("config.yaml", "schemas/config.schema.yaml")


def test_a_hub_calibration_dataset_keeps_its_own_split():
    params = calibration_prompt_params(_paper_config())  # evaluation split: train2017
    assert params["source"] == "huggingface" and params["split"] == "train"
    assert "evaluation_split" not in params


def test_coco_calibration_captions_come_from_the_evaluation_split():
    config = _paper_config()
    config["data"]["calibration"].update(source="coco")
    config["data"]["evaluation"].update(split="val2017")
    params = calibration_prompt_params(config)
    assert params["evaluation_split"] == "val2017" and params["split"] == "train"


def test_the_paper_configs_dataset_split_reads(tmp_path):
    """The default split reaches `load_dataset` and finds a dataset laid out like laion-coco-nllb."""
    (tmp_path / "data").mkdir()
    pd.DataFrame({"eng_caption": [f"caption {i}" for i in range(5)]}).to_parquet(
        tmp_path / "data" / "train-00000-of-00001.parquet")
    params = calibration_prompt_params(_paper_config())
    prompts = read_dataset_prompts(str(tmp_path), field=params["field"], num=3, split=params["split"])
    assert prompts == ["caption 0", "caption 1", "caption 2"]


def test_every_protocol_is_scored_and_each_reference_depends_on_its_own():
    config = _paper_config()
    assert fid_protocols(config) == ["paper", "clean"] and score_params(config)["protocols"] == ["paper", "clean"]
    before = reference_features_params(config, "clean")
    config["scoring"]["fid_protocol"] = "clean"
    assert reference_features_params(config, "clean") == before  # dropping `paper` reruns no clean reference
    assert fid_protocols(config) == ["clean"]


def test_every_rule_with_outputs_has_its_settings_in_the_one_table():
    import re
    from pathlib import Path

    from sdprune.workflow.params import STAGE_SETTINGS, expected_params

    rules_dir = Path(__file__).resolve().parents[2] / "rules"
    declared = {m for f in rules_dir.glob("*.smk") for m in re.findall(r"^(?:rule|checkpoint) (\w+):", f.read_text(), re.M)}
    assert declared and declared == set(STAGE_SETTINGS)
    with pytest.raises(KeyError, match="no params known for rule 'all'"):
        expected_params({}, "all", {})
