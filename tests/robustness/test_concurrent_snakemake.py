"""Two `snakemake` processes on one results directory: the second refuses (Snakemake's own lock on
the files the first is making), the first finishes with whole, readable outputs."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from sdprune.io import read_image, read_json
from tests.workflow.conftest import copy_workflow, snakemake

TARGET = "results/tiny/runs/te=dense/unet=dense/seed=0/generation.json"  # download, prompts, the dense images


@pytest.mark.workflow
def test_a_second_snakemake_on_the_same_directory_refuses(tmp_path):
    workdir = copy_workflow(tmp_path / "work")
    command = [sys.executable, "-m", "snakemake", TARGET, "--cores", "2", "--configfile", "config/tiny.yaml"]
    first = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any((workdir / ".snakemake" / "locks").glob("*")) and first.poll() is None:
            assert time.monotonic() < deadline, "the first snakemake never locked the directory"
            time.sleep(0.2)
        second = snakemake(workdir, TARGET, "--cores", "2", "--configfile", "config/tiny.yaml", timeout=300)
        assert first.poll() is None, "the first run ended before the second tried: nothing was tested"
        output, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stdout + second.stderr
    assert "localrule" not in second.stdout + second.stderr and "rule " not in second.stdout  # ran no job
    assert first.returncode == 0, output[-4000:]

    record = read_json(workdir / TARGET)
    images = sorted((workdir / TARGET).parent.joinpath("images").glob("*.png"))
    assert len(images) == record["num_images"] == 32
    assert {read_image(path).size for path in images} == {read_image(images[0]).size}
    assert not any((workdir / ".snakemake" / "incomplete").glob("*"))  # nothing left marked unfinished
