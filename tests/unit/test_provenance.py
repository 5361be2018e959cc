"""A stage's code fingerprint covers the code its jobs run, and nothing else."""

import shutil
from pathlib import Path

import pytest

from sdprune.workflow.provenance import code_fingerprint

ROOT = Path(__file__).resolve().parents[2]
METHODS = ["magnitude", "wanda", "sparsegpt", "owl_magnitude", "owl_wanda", "owl_sparsegpt"]
# (rule, wildcards) of every GPU stage's jobs, one prune per method name
GPU_JOBS = [("calibrate", {"component": "unet"}), ("generate_images", {"seed": "0"}),
            ("reference_features", {"protocol": "clean"}), ("score", {"seed": "0"})] + \
           [("prune", {"component": "unet", "method": m}) for m in METHODS]


@pytest.fixture
def workflow(tmp_path):
    """A copy of the workflow's code, to edit."""
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def fingerprints(root: Path) -> dict[str, str]:
    return {f"{rule}:{wildcards.get('method', '')}": code_fingerprint(rule, wildcards, root)
            for rule, wildcards in GPU_JOBS}


def changed_after_editing(root: Path, module: str) -> set[str]:
    before = fingerprints(root)
    path = root / "src" / "sdprune" / module
    path.write_text(path.read_text() + "\n# an edit\n")
    after = fingerprints(root)
    return {job for job in before if before[job] != after[job]}


def test_prunes_with_different_base_methods_run_different_code(workflow):
    prints = fingerprints(workflow)
    assert len({prints[f"prune:{m}"] for m in ["magnitude", "wanda", "sparsegpt"]}) == 3
    assert code_fingerprint("prune", {"component": "text_encoder", "method": "wanda"}, workflow) == prints["prune:wanda"]
    assert code_fingerprint("score", {"seed": "1"}, workflow) == prints["score:"]


@pytest.mark.parametrize("module", ["reporting/tables.py", "reporting/figures.py", "reporting/paper_tables.py"])
def test_editing_the_reporting_changes_no_gpu_stage(workflow, module):
    assert changed_after_editing(workflow, module) == set()


def test_editing_sparsegpt_changes_only_sparsegpt_prunes(workflow):
    assert changed_after_editing(workflow, "pruning/methods/sparsegpt.py") == {"prune:sparsegpt", "prune:owl_sparsegpt"}


def test_editing_magnitude_changes_only_magnitude_prunes(workflow):
    assert changed_after_editing(workflow, "pruning/methods/magnitude.py") == {"prune:magnitude", "prune:owl_magnitude"}


def test_editing_a_module_every_stage_runs_changes_them_all(workflow):
    assert changed_after_editing(workflow, "io.py") == set(fingerprints(workflow))
