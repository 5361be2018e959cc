"""The rehearsal's config is config.yaml with smaller counts: same experiments, kinds, methods, sources."""

import copy

import yaml

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
