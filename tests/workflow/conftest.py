"""Helpers for tests that run Snakemake on a copy of the workflow in a temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sdprune.rehearsal.run import copy_workflow as _copy_workflow

REPO = Path(__file__).resolve().parents[2]


def copy_workflow(dest: Path) -> Path:
    """The workflow's files (what `make rehearse` copies too) in ``dest``."""
    return _copy_workflow(REPO, dest)


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True,
                          text=True, timeout=timeout)


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    counts, in_table = {}, False
    for line in dry_run_output.splitlines():
        parts = line.split()
        if line.startswith("job ") and "count" in line:
            in_table = True
        elif in_table and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
        elif in_table and counts and not line.strip():
            break
    return counts


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny preset, run once per session in a fresh copy of the workflow.

    Developers may set SDPRUNE_TEST_TINY_RUN to a folder holding a finished run of the
    current code to skip the run; CI never sets it.
    """
    reuse = os.environ.get("SDPRUNE_TEST_TINY_RUN")
    if reuse:
        workdir = tmp_path_factory.mktemp("tiny-run-copy") / "run"
        shutil.copytree(reuse, workdir, symlinks=True)
        result = snakemake(workdir, "-n", "--configfile", "config/tiny.yaml")
        assert "Nothing to be done" in result.stdout + result.stderr, "SDPRUNE_TEST_TINY_RUN is not a finished run"
        return workdir
    workdir = copy_workflow(tmp_path_factory.mktemp("tiny-run"))
    result = snakemake(workdir, "--cores", "2", "--configfile", "config/tiny.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


# What the toy tests read: the dense run, U-Net magnitude at the sweep's ends, the methods at 50 % beside
# OBS-Diff in each pattern, and both cliff series (their rounds evaluate the rest of the magnitude grid).
# A slice of `make demo`, which runs it all.
TOY_RUNS = ("te=dense/unet=dense", "te=dense/unet=magnitude-unstructured-0.25", "te=dense/unet=magnitude-unstructured-0.75",
            "te=dense/unet=wanda-unstructured-0.5", "te=dense/unet=sparsegpt-unstructured-0.5",
            *(f"te=dense/unet=obs_diff-{pattern}-0.5-transformer" for pattern in ("unstructured", "2of4", "structured")))
TOY_TARGETS = [f"results/toy/runs/{run}/seed=0/scores.json" for run in TOY_RUNS] + [
    f"results/toy/cliffs/{component}/magnitude/final.json" for component in ("text_encoder", "unet")]


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory) -> Path:
    """The toy preset's slice the toy tests read (the download stage trains the toy model), run once.

    SDPRUNE_TEST_TOY_RUN may name a folder holding a finished run of the current code, as
    SDPRUNE_TEST_TINY_RUN does.
    """
    reuse = os.environ.get("SDPRUNE_TEST_TOY_RUN")
    if reuse:
        workdir = tmp_path_factory.mktemp("toy-run-copy") / "run"
        shutil.copytree(reuse, workdir, symlinks=True)
        result = snakemake(workdir, *TOY_TARGETS, "-n", "--configfile", "config/toy.yaml")  # targets first:
        # --configfile takes every path after it
        assert "Nothing to be done" in result.stdout + result.stderr, "SDPRUNE_TEST_TOY_RUN is not a finished run"
        return workdir
    workdir = copy_workflow(tmp_path_factory.mktemp("toy-run"))
    result = snakemake(workdir, *TOY_TARGETS, "--cores", "2", "--configfile", "config/toy.yaml", timeout=1500)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir
