"""The rehearsal's checks of a preset's runs table and published comparison fail where a run or value is missing."""

import copy
import sys

import pandas as pd
import yaml

from sdprune.pruning.spec import PruneSpec
from sdprune.rehearsal.checks import check_published_comparison, check_runs_table
from sdprune.rehearsal.scale import scale_config
from sdprune.reporting.published import comparison_table
from sdprune.workflow.experiments import expand_runs
from sdprune.workflow.validation import load_config

MIRRORS = dict(coco_url="http://127.0.0.1:1", coco_md5={"annotations": "0" * 32},
               fid_weights_url={"clean": "http://127.0.0.1:1/a.pt"}, image_reward_python=sys.executable)  # the config checks it exists


def scaled_preset(tmp_path):
    path = tmp_path / "preset.yaml"
    raw = yaml.safe_load(open("config/obs-diff-sd21base.yaml"))
    path.write_text(yaml.safe_dump(scale_config(copy.deepcopy(raw), **MIRRORS)))
    return load_config(path, "schemas/config.schema.yaml")


def runs_table(config, reward=0.1):
    rows = []
    for run in expand_runs(config):
        spec = None if run.key[1] == "dense" else PruneSpec.parse(run.key[1])
        rows.append({"status": "ok", "seed": run.seed, "experiments": ";".join(run.experiments),
                     "text_method": "dense", "unet_method": spec.method if spec else "dense",
                     "unet_pattern": spec.pattern.slug if spec else "", "unet_sparsity": spec.sparsity if spec else 0.0,
                     "unet_layers": spec.scope if spec else "", "fid": 140.0, "clip_score": 0.01,
                     "image_reward": reward, "fid_protocol": "clean", "num_images": 4})
    return pd.DataFrame(rows)


def write(results, table):
    (results / "tables").mkdir(parents=True, exist_ok=True)
    table.to_csv(results / "tables" / "runs.csv", index=False)


def test_a_complete_runs_table_passes_and_a_missing_baseline_or_reward_fails(tmp_path):
    config = scaled_preset(tmp_path)
    table = runs_table(config)
    write(tmp_path, table)
    assert check_runs_table(tmp_path, config) == []
    write(tmp_path, table[table.unet_method != "sparsegpt"])
    assert any("sparsegpt" in p for p in check_runs_table(tmp_path, config))
    write(tmp_path, table.assign(image_reward=[float("nan")] + [0.1] * (len(table) - 1)))
    assert any("image_reward" in p for p in check_runs_table(tmp_path, config))


def test_the_comparison_must_put_published_values_beside_ours(tmp_path):
    config = scaled_preset(tmp_path)
    published = pd.read_csv(config["reporting"]["published"])
    path = tmp_path / "comparison.csv"
    comparison_table(runs_table(config), published, seed=0).to_csv(path, index=False)
    assert check_published_comparison(path) == []
    # No run of ours at 30 % (a dense row matches whatever its sparsity column says: left out too).
    unmatched = published[published.method != "dense"].assign(sparsity=0.3)
    comparison_table(runs_table(config), unmatched, seed=0).to_csv(path, index=False)
    assert check_published_comparison(path)
    assert check_published_comparison(tmp_path / "absent.csv")
