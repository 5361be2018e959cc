import json
import os

import pandas as pd
import pytest
import yaml

from sdprune.pruning.spec import PruneSpec
from sdprune.workflow.experiments import expand_runs, infeasible_allocations

from .conftest import REPO, copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.workflow


def load_config(path):
    return yaml.safe_load((REPO / path).read_text())


def cliff_coarse_keys(config):
    """The drop-off finder's first round: each series on the coarse grid, the other component dense."""
    cliff = config.get("reporting", {}).get("cliff", {})
    keys = set()
    for series in cliff.get("series", []):
        for sparsity in cliff["coarse"]:
            slug = PruneSpec(series["method"], "unstructured", float(sparsity)).slug
            keys.add((slug, "dense") if series["component"] == "text_encoder" else ("dense", slug))
    return keys


def test_lint_is_clean():
    result = snakemake(REPO, "--lint", "--configfile", "config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


@pytest.mark.parametrize("configfile", ["config.yaml", "config/tiny.yaml", "config/toy.yaml",
                                        "config/obs-diff-sd21base.yaml"])
def test_dry_run_plans_every_run_offline(tmp_path, configfile):
    workdir = copy_workflow(tmp_path)
    env_offline = {**os.environ, "HF_HUB_OFFLINE": "1"}
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", configfile], cwd=workdir,
                            capture_output=True, text=True, env=env_offline, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    config = load_config(configfile)
    runs = expand_runs(config)
    run_keys = {run.key for run in runs} | cliff_coarse_keys(config)
    assert counts["generate_images"] == counts["score"] == len(runs) + len(run_keys - {run.key for run in runs})
    pruned = {(component, spec) for key in run_keys for component, spec in zip(("te", "unet"), key) if spec != "dense"}
    assert counts["prune"] == len(pruned)
    assert counts["aggregate_tables"] == 1 and counts["download_model"] == 1
    assert not (workdir / "results").exists()


def test_the_paper_config_plans_the_papers_runs():
    runs = expand_runs(load_config("config.yaml"))
    keys = {r.key for r in runs}
    assert ("magnitude-unstructured-0.625", "dense") in keys  # the text encoder's drop-off (Figure 1)
    assert ("dense", "magnitude-unstructured-0.4") in keys  # Table 2's U-Net model
    assert ("magnitude-unstructured-0.475", "magnitude-unstructured-0.35") in keys  # the recommended 38.5 %


def test_tiny_run_table(tiny_run):
    all_rows = pd.read_csv(tiny_run / "results" / "tiny" / "tables" / "runs.csv")
    config = load_config("config/tiny.yaml")
    runs = expand_runs(config)
    assert len(all_rows) == len(runs) + len(infeasible_allocations(config))
    na = all_rows[all_rows.status.str.startswith("N/A")]
    assert list(na.allocation) == ["0.5@25:75"] and "114%" in na.status.iloc[0]
    table = all_rows[all_rows.status == "ok"]
    assert (table["num_images"] == 32).all()
    # Counts as the reference code: each row (Wanda) or matrix (magnitude) loses int(n * s) weights,
    # so a component falls short of the request by less than one weight per row of its narrowest
    # layer (tiny: 32 inputs), and never exceeds it.
    for short in ("text", "unet"):
        shortfall = table[f"{short}_sparsity"] - table[f"{short}_realised"]
        assert shortfall.between(-1e-9, 1 / 32).all(), shortfall.tolist()
    magnitude = table[table.text_method == "magnitude"]
    assert (magnitude.text_sparsity - magnitude.text_realised).abs().max() <= 1e-3  # per matrix: 1 weight at most
    dense = table[(table.text_method == "dense") & (table.unet_method == "dense")]
    assert sorted(dense.seed) == [0, 1]
    assert abs(float(dense[dense.seed == 0].fid.iloc[0])) < 1e-3  # the dense run is its own FID reference
    assert (dense[dense.seed != 0].fid > 1).all()  # other seeds: other images
    pruned = table[(table.text_method != "dense") | (table.unet_method != "dense")]
    assert pruned.ssim.between(0, 1).all() and (pruned.clip_image_similarity <= 1 + 1e-6).all()
    table = table[table.seed == 0]
    # FID against the dense images grows from the lowest to the highest sparsity, for every
    # single-component grid.
    for short, other in (("text", "unet"), ("unet", "text")):
        single = table[(table[f"{other}_method"] == "dense") & (table[f"{short}_method"] != "dense")]
        for method, group in single.groupby(f"{short}_method"):
            group = group.sort_values(f"{short}_sparsity")
            assert group.fid.iloc[-1] > group.fid.iloc[0], (short, method, group.fid.tolist())
    assert (table.nominal_full_sparsity >= table.true_full_sparsity).all()
    markdown = (tiny_run / "results" / "tiny" / "tables" / "runs.md").read_text()
    assert markdown.count("\n") == len(all_rows) + 2


def test_tiny_run_leaves_logs_reports_and_provenance(tiny_run):
    results = tiny_run / "results" / "tiny"
    report = json.loads((results / "prune/text_encoder/linear/wanda/unstructured/0.6/report.json").read_text())
    assert report["num_calibration_prompts"] == 16 and report["calibration"]["max_length"] == 77
    # Wanda removes int(0.6 * in) weights from every row: 19 of 32 inputs, 38 of 64.
    layers = report["layers"].values()
    assert all(layer["zeros"] == layer["shape"][0] * int(0.6 * layer["shape"][1]) for layer in layers)
    realised = report["full_model"]["components"]["text_encoder"]["realised_sparsity"]
    assert realised == pytest.approx(sum(layer["zeros"] for layer in layers) / sum(layer["numel"] for layer in layers))
    assert report["environment"]["packages"]["torch"]
    logs = list((tiny_run / "logs" / "tiny").rglob("*.log"))
    assert len(logs) >= 40 and all(p.stat().st_size > 0 for p in logs if "generate_images" in str(p))
    assert not list(tiny_run.rglob("*.partial"))


def test_a_finished_run_has_nothing_left_to_do(tiny_run):
    result = snakemake(tiny_run, "-n", "--configfile", "config/tiny.yaml")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


BAD_CONFIGS = {
    "unknown key": (lambda c: c.update(bogus=1), "'bogus' was unexpected"),
    "unknown method": (lambda c: c["experiments"][0]["text_encoder"].update(method="sparse"), "unknown method 'sparse'"),
    "unknown component": (lambda c: c["experiments"][0].update(vae={"method": "magnitude", "sparsity": 0.5}),
                          "'vae' was unexpected"),
    "sparsity of 1": (lambda c: c["experiments"][0]["text_encoder"].update(sparsity=[0.3, 1.0]), "must be in [0, 1)"),
    "negative sparsity": (lambda c: c["experiments"][1]["unet"].update(sparsity=-0.1), "must be in [0, 1)"),
    "missing model": (lambda c: c.pop("model"), "'model' is a required property"),
    "missing model folder": (lambda c: c["model"].update(source="./models/none"), "does not exist"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_bad_config_fails_clearly_and_writes_nothing(tmp_path, case):
    workdir = copy_workflow(tmp_path)
    config = load_config("config/tiny.yaml")
    mutate, message = BAD_CONFIGS[case]
    mutate(config)
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "1", "--configfile", "bad.yaml")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "invalid config" in output and message in output, output[-2000:]
    assert not (workdir / "results").exists()
    assert not (workdir / "resources").exists()
