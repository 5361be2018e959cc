"""The tiny workflow through the SLURM executor, on a real single-node cluster started by the test."""

import json
import time

import pytest
import yaml

from . import slurm_cluster
from .conftest import REPO, copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.workflow

LOCAL_RULES = {"download_model", "download_fid_weights", "download_clip_weights", "prepare_evaluation_prompts",
               "prepare_calibration_prompts", "aggregate_tables", "paper_tables", "figures", "cliff_round",
               "cliff_series", "cliffs_table", "all"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = slurm_cluster.unavailable_reason()
    if reason:
        pytest.skip(f"SLURM test cannot run here: {reason}")
    running = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm-state")).start()
    yield running
    running.stop()


def test_tiny_workflow_runs_through_slurm_and_matches_a_local_run(cluster, tiny_run, tmp_path):
    work = copy_workflow(tmp_path / "slurm")
    config = yaml.safe_load((REPO / "config/tiny.yaml").read_text())
    # A slice of the tiny preset: the same model, prompts and seeds, so results must equal the local run's.
    # Every GPU stage appears (calibrate, prune, generate_images, reference_features, score).
    config["experiments"] = [{"name": "text_encoder_only", "text_encoder": {"method": "wanda", "sparsity": 0.3}}]
    config["scoring"]["seed_variance"] = []
    config["reporting"] = {"cliff": {"series": []}}
    (work / "slurm-test.yaml").write_text(yaml.safe_dump(config))
    args = ["--configfile", "slurm-test.yaml", "--workflow-profile", "profiles/slurm",
            "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
            "--default-resources", "slurm_partition=debug", "cpus_per_task=1", "mem_mb=2500", "runtime=30",
            "--set-resources", "generate_images:mem_mb=2500", "--jobs", "2"]
    planned = job_counts(snakemake(work, "-n", *args).stdout)
    started = time.monotonic()
    result = subprocess_run(work, args, cluster)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:] + failed_job_logs(work)
    cluster_jobs = sum(n for rule, n in planned.items() if rule not in LOCAL_RULES and rule != "total")
    logs = list((work / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert cluster_jobs >= 7 and len(logs) == cluster_jobs, (planned, [p.name for p in logs])
    submitted = {p.stem for p in logs}
    assert submitted <= cluster.job_ids()  # every non-local job was a job of this SLURM cluster
    # Same seeds, same code, same hardware: the same numbers as the local run.
    for run in ("te=wanda-unstructured-0.3/unet=dense", "te=dense/unet=dense"):
        ours = json.loads((work / f"results/tiny/runs/{run}/seed=0/scores.json").read_text())
        local = json.loads((tiny_run / f"results/tiny/runs/{run}/seed=0/scores.json").read_text())
        assert ours["fid"] == pytest.approx(local["fid"], abs=1e-9)
        assert ours["clip_score"] == local["clip_score"]
    artifact = "results/tiny/prune/text_encoder/linear/wanda/unstructured/0.3/artifact.safetensors"
    assert same_tensors_and_metadata(work / artifact, tiny_run / artifact)
    print(f"SLURM: {cluster_jobs} cluster jobs, {sum(v for k, v in planned.items() if k != 'total')} in all, "
          f"{seconds:.0f} s")


def same_tensors_and_metadata(a, b):
    """Equal content. (Not bytes: safetensors writes the metadata map in a per-process hash order.)"""
    import torch
    from safetensors import safe_open

    with safe_open(a, "pt") as first, safe_open(b, "pt") as second:
        return first.metadata() == second.metadata() and set(first.keys()) == set(second.keys()) and all(
            torch.equal(first.get_tensor(key), second.get_tensor(key)) for key in first.keys())


def failed_job_logs(work, lines=30):
    """The tails of every SLURM and rule log, so a failure on CI explains itself."""
    logs = sorted((work / ".snakemake" / "slurm_logs").rglob("*.log")) + sorted((work / "logs").rglob("*.log"))
    return "".join(f"\n--- {p.relative_to(work)}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
                   for p in logs)


def subprocess_run(work, args, cluster):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=work, env=cluster.env,
                          capture_output=True, text=True, timeout=900)
