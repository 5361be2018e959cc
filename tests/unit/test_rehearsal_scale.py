"""The rehearsal's config is config.yaml with smaller counts: same experiments, kinds, methods, sources."""

import copy
import sys

import yaml

from sdprune.pruning.spec import PruneSpec
from sdprune.workflow.experiments import expand_runs, experiment_kinds, infeasible_allocations
from sdprune.workflow.params import fid_protocols
from sdprune.rehearsal.scale import scale_config
from sdprune.workflow.validation import load_config

MIRRORS = dict(coco_url="http://127.0.0.1:1", coco_md5={"annotations": "0" * 32},
               fid_weights_url={"clean": "http://127.0.0.1:1/a.pt", "paper": "http://127.0.0.1:1/b.pth"})


def _paper_config():
    return load_config("config.yaml", "schemas/config.schema.yaml")


def _scaled(tmp_path):
    raw = yaml.safe_load(open("config.yaml"))
    path = tmp_path / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(scale_config(copy.deepcopy(raw), **MIRRORS)))
    return load_config(path, "schemas/config.schema.yaml")


def test_every_experiment_kind_method_and_source_stays(tmp_path):
    paper, scaled = _paper_config(), _scaled(tmp_path)
    assert experiment_kinds(scaled) == experiment_kinds(paper)
    for ours, theirs in zip(scaled["experiments"], paper["experiments"]):
        assert ours["name"] == theirs["name"]
        for component in ("text_encoder", "unet"):
            assert ours.get(component, {}).get("method") == theirs.get(component, {}).get("method")
    for key in ("model", "seed", "device", "pruning"):
        assert scaled[key] == paper[key]
    assert scaled["data"]["calibration"]["dataset"] == paper["data"]["calibration"]["dataset"]
    assert scaled["data"]["evaluation"]["source"] == "coco"
    assert fid_protocols(scaled) == fid_protocols(paper) == ["paper", "clean"]
    assert scaled["reporting"]["compare_published"] and scaled["reporting"]["cliff"]["series"]


def test_only_counts_shrink(tmp_path):
    paper, scaled = _paper_config(), _scaled(tmp_path)
    assert len(expand_runs(scaled)) < 25 < len(expand_runs(paper))
    assert scaled["data"]["evaluation"]["num_prompts"] < paper["data"]["evaluation"]["num_prompts"]
    assert scaled["generation"]["num_steps"] < paper["generation"]["num_steps"]
    assert scaled["generation"]["guidance_scale"] == paper["generation"]["guidance_scale"]
    assert infeasible_allocations(scaled), "the allocation grid keeps an N/A cell"
    zipped = [e for e in scaled["experiments"] if e.get("zip")][0]
    assert len(zipped["text_encoder"]["sparsity"]) == 2  # still a path, not a point
    assert scaled["scoring"]["seed_variance"] == paper["scoring"]["seed_variance"][:1]


def test_downloads_point_at_the_mirrors(tmp_path):
    scaled = _scaled(tmp_path)
    assert scaled["data"]["evaluation"]["coco_url"] == MIRRORS["coco_url"]
    assert scaled["scoring"]["fid_weights_url"] == MIRRORS["fid_weights_url"]
    assert _paper_config()["data"]["evaluation"]["coco_url"] == "http://images.cocodataset.org"


# --- the OBS-Diff preset ---------------------------------------------------------------------------------

PRESET = "config/obs-diff-sd21base.yaml"


def _scaled_preset(tmp_path, python=sys.executable):  # an interpreter that exists: the config checks it
    raw = yaml.safe_load(open(PRESET))
    path = tmp_path / "rehearsal-obs-diff.yaml"
    path.write_text(yaml.safe_dump(scale_config(copy.deepcopy(raw), **MIRRORS, image_reward_python=python)))
    return load_config(path, "schemas/config.schema.yaml")


def test_the_obs_diff_preset_keeps_its_methods_patterns_metrics_and_published_file(tmp_path):
    preset, scaled = load_config(PRESET, "schemas/config.schema.yaml"), _scaled_preset(tmp_path)
    assert scaled["model"] == preset["model"] and scaled["pruning"] == preset["pruning"]
    assert scaled["data"]["calibration"]["dataset"] == "google-research-datasets/conceptual_captions"
    specs = {PruneSpec.parse(run.key[1]) for run in expand_runs(scaled) if run.key[1] != "dense"}
    assert {s.method for s in specs} == {"obs_diff", "magnitude", "wanda", "sparsegpt"}
    assert {str(s.pattern) for s in specs if s.method == "obs_diff"} == {"unstructured", "2:4", "structured"}
    assert {s.scope for s in specs} == {"transformer"}  # the baselines prune OBS-Diff's layers
    assert all(run.key[0] == "dense" for run in expand_runs(scaled))  # U-Net only, as published
    assert scaled["scoring"]["image_reward"] and not scaled["scoring"]["cmmd"]  # CMMD: APTP's, not OBS-Diff's
    assert scaled["scoring"]["image_reward_python"] == sys.executable
    assert preset["scoring"]["image_reward_python"] is None  # the preset itself names no machine's venv
    assert scaled["reporting"]["published"] == preset["reporting"]["published"]
    assert len(expand_runs(scaled)) < len(expand_runs(preset))


def test_the_scaled_preset_has_runs_the_published_table_matches(tmp_path):
    import pandas as pd

    from sdprune.reporting.published import match_key

    published = pd.read_csv(load_config(PRESET, "schemas/config.schema.yaml")["reporting"]["published"])
    theirs = {match_key(r.method, r.pattern, r.sparsity) for r in published.itertuples(index=False)}
    ours = {match_key(s.method, s.pattern.slug, s.sparsity) for s in
            (PruneSpec.parse(run.key[1]) for run in expand_runs(_scaled_preset(tmp_path)) if run.key[1] != "dense")}
    assert {("obs_diff", "unstructured", 0.5), ("wanda", "unstructured", 0.5)} <= ours & theirs


def test_a_preset_scoring_imagereward_evaluates_fewer_images(tmp_path):
    from sdprune.rehearsal.scale import COUNTS, HEAVY_METRICS_EVALUATION_PROMPTS

    assert _scaled_preset(tmp_path)["data"]["evaluation"]["num_prompts"] == HEAVY_METRICS_EVALUATION_PROMPTS
    assert _scaled(tmp_path)["data"]["evaluation"]["num_prompts"] == COUNTS["evaluation_prompts"]
    assert HEAVY_METRICS_EVALUATION_PROMPTS < COUNTS["evaluation_prompts"]
