"""DVC as the artifact store, with real git and DVC in temporary repositories and a local remote."""

import shutil
import subprocess
import sys

import pytest
import yaml

from sdprune.workflow.experiments import expand_runs

from .conftest import REPO, copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.workflow

GPU_STAGES = {"download_model", "calibrate", "prune", "generate_images", "score", "reference_features"}
CONFIG = "config/tiny.yaml"


def run(cmd, cwd, **kwargs):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd}: {result.stdout[-2000:]} {result.stderr[-2000:]}"
    return result


def sdprune(cwd, *args):
    return run([sys.executable, "-m", "sdprune", *args], cwd)


@pytest.fixture(scope="module")
def origin(tiny_run, tmp_path_factory):
    """A git + DVC repository holding the finished tiny run, published to a local remote."""
    root = tmp_path_factory.mktemp("dvc")
    repo = copy_workflow(root / "origin")
    shutil.copy2(REPO / ".gitignore", repo / ".gitignore")
    for part in ("results", "resources", "logs", ".snakemake"):
        shutil.copytree(tiny_run / part, repo / part, symlinks=True)
    run(["git", "init", "-q"], repo)
    run(["git", "config", "user.email", "test@sdprune.invalid"], repo)
    run(["git", "config", "user.name", "test"], repo)
    run([sys.executable, "-m", "dvc", "init", "-q"], repo)
    run([sys.executable, "-m", "dvc", "remote", "add", "-d", "store", str(root / "remote")], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "workflow"], repo)
    published = sdprune(repo, "publish", "--configfile", CONFIG, "--commit")
    return {"repo": repo, "remote": root / "remote", "log": published.stderr}


def clone(origin, tmp_path, name):
    target = tmp_path / name
    run(["git", "clone", "-q", str(origin["repo"]), str(target)], tmp_path)
    return target


def edit_config(repo, change):
    config = yaml.safe_load((repo / CONFIG).read_text())
    change(config)
    (repo / CONFIG).write_text(yaml.safe_dump(config))


def planned(repo):
    dry = snakemake(repo, "-n", "--configfile", CONFIG)
    assert dry.returncode == 0, dry.stderr[-3000:]
    return job_counts(dry.stdout), dry.stdout + dry.stderr


def test_publish_gives_every_artifact_its_own_dvc_file(origin):
    repo = origin["repo"]
    tracked = run(["git", "ls-files"], repo).stdout.split()
    dvc_files = [f for f in tracked if f.endswith(".dvc")]
    assert "results/tiny/prune/text_encoder/linear/wanda/unstructured/0.6/artifact.safetensors.dvc" in dvc_files
    assert "results/tiny/runs/te=dense/unet=dense/seed=0/images.dvc" in dvc_files
    assert "results/tiny/runs/te=dense/unet=dense/seed=0/scores.json.dvc" in dvc_files
    assert "results/tiny/tables/runs.csv.dvc" in dvc_files
    assert "provenance/tiny.json" in tracked
    assert not [f for f in tracked if f.endswith((".safetensors", ".png"))]  # no data in git
    pushed = sum(f.stat().st_size for f in origin["remote"].rglob("*") if f.is_file())
    assert pushed > 1_000_000
    print(f"pushed {pushed} bytes in {sum(1 for f in origin['remote'].rglob('*') if f.is_file())} objects "
          f"for {len(dvc_files)} artifacts")
    # A finished run stays finished after publishing (dvc add re-links files; their times are kept).
    assert "Nothing to be done" in planned(repo)[1]


def test_publish_is_refused_while_jobs_remain(origin, tmp_path):
    repo = clone(origin, tmp_path, "unfinished")
    result = subprocess.run([sys.executable, "-m", "sdprune", "publish", "--configfile", CONFIG], cwd=repo,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "not finished" in result.stderr


def test_a_fresh_clone_restores_to_nothing_to_do_and_a_new_sparsity_runs_exactly_its_chain(origin, tmp_path):
    repo = clone(origin, tmp_path, "fresh")
    sdprune(repo, "restore", "--configfile", CONFIG)
    counts, text = planned(repo)
    assert "Nothing to be done" in text, counts
    assert (repo / "results/tiny/runs/te=dense/unet=dense/seed=0/images/000000.png").exists()
    # The config is rewritten by a YAML dump (keys sorted): only the new sparsity may count as a change.
    edit_config(repo, lambda c: c["experiments"][1]["unet"]["sparsity"].append(0.5))  # unet_only: magnitude
    counts, text = planned(repo)
    assert {k: counts[k] for k in GPU_STAGES & set(counts)} == {"prune": 1, "generate_images": 1, "score": 1}, counts
    assert "unet/linear/magnitude/unstructured/0.5" in text


def test_scores_alone_rebuild_tables_and_figures_without_gpu_stages(origin, tmp_path):
    repo = clone(origin, tmp_path, "scores")
    sdprune(repo, "restore", "--configfile", CONFIG, "--only", "scores")
    assert not list((repo / "results/tiny/prune").rglob("*.safetensors"))  # only their .dvc files
    assert not (repo / "results/tiny/runs/te=dense/unet=dense/seed=0/images").exists()
    counts, _ = planned(repo)
    assert not GPU_STAGES & set(counts), counts
    assert {"aggregate_tables", "paper_tables", "figures"} <= set(counts)
    built = snakemake(repo, "--cores", "2", "--configfile", CONFIG)
    assert built.returncode == 0, built.stderr[-3000:]
    for table in ("tables/paper/table3.md", "tables/paper/table6.md", "tables/runs.csv"):
        assert (repo / "results/tiny" / table).read_text() == (origin["repo"] / "results/tiny" / table).read_text()
    assert (repo / "results/tiny/figures/grid-unet-magnitude.png").exists()


def test_a_changed_generation_setting_reruns_generation_not_pruning(origin, tmp_path):
    repo = clone(origin, tmp_path, "guidance")
    edit_config(repo, lambda c: c["generation"].update(guidance_scale=5.0))
    result = sdprune(repo, "restore", "--configfile", CONFIG)
    assert "not adopted" in result.stdout and "generation.provenance.json" in result.stdout
    counts, _ = planned(repo)
    # Every run the config lists; the drop-off search's refinements are planned once its first round reran.
    runs = len(expand_runs(yaml.safe_load((repo / CONFIG).read_text())))
    assert counts["generate_images"] == counts["score"] == runs
    assert "prune" not in counts and "calibrate" not in counts and "download_model" not in counts
    assert counts["aggregate_tables"] == 1


def test_an_artifact_made_under_another_config_is_not_adopted(origin, tmp_path):
    """OWL's lambda is not in any path: only the provenance record can tell the artifacts apart."""
    repo = clone(origin, tmp_path, "owl-lambda")
    edit_config(repo, lambda c: c.setdefault("pruning", {}).setdefault("owl", {}).update({"lambda": 0.05}))
    result = sdprune(repo, "restore", "--configfile", CONFIG)
    rejected = [line for line in result.stdout.splitlines() if line.startswith("not adopted")]
    records = [line.split(":")[1].strip() for line in rejected]
    owl = [line for line, record in zip(rejected, records)
           if record.startswith("results/tiny/prune/") and "/owl_magnitude/" in record]
    assert len(owl) == 2 and all("config differs" in line for line in owl)
    assert not (repo / "results/tiny/prune/text_encoder/linear/owl_magnitude/unstructured/0.6/artifact.safetensors").exists()
    assert (repo / "results/tiny/prune/text_encoder/linear/magnitude/unstructured/0.6/artifact.safetensors").exists()
    counts, _ = planned(repo)
    assert counts["prune"] == 2 and "calibrate" not in counts


def planned_outputs(dry_run_output: str) -> dict[str, set[str]]:
    """rule -> the first output of each job a dry run plans."""
    jobs: dict[str, set[str]] = {}
    rule = None
    for line in dry_run_output.splitlines():
        if line.startswith(("rule ", "localrule ", "checkpoint ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
        elif rule and line.strip().startswith("output:"):
            jobs.setdefault(rule, set()).add(line.split(":", 1)[1].split(",")[0].strip())
            rule = None
    return jobs


def edit_module(repo, module):
    path = repo / "src" / "sdprune" / module
    path.write_text(path.read_text() + "\n# an edit that changes the module's fingerprint\n")
    run(["git", "commit", "-q", "-am", f"edit {module}"], repo)


def test_editing_a_method_no_run_uses_reruns_nothing(origin, tmp_path):
    repo = clone(origin, tmp_path, "sparsegpt-edit")
    edit_module(repo, "pruning/methods/sparsegpt.py")  # tiny prunes with magnitude, wanda and owl_magnitude
    sdprune(repo, "restore", "--configfile", CONFIG)
    counts, text = planned(repo)
    print(f"after editing sparsegpt.py: {counts or 'nothing to be done'}")
    assert not {"calibrate", "prune", "generate_images", "score"} & set(counts), counts


def test_editing_magnitude_reruns_exactly_the_runs_pruned_with_it(origin, tmp_path):
    repo = clone(origin, tmp_path, "magnitude-edit")
    edit_module(repo, "pruning/methods/magnitude.py")
    sdprune(repo, "restore", "--configfile", CONFIG)
    counts, text = planned(repo)
    print(f"after editing magnitude.py: {counts}")
    jobs = planned_outputs(text)
    runs = expand_runs(yaml.safe_load((repo / CONFIG).read_text()))

    def uses_magnitude(slug):  # magnitude itself, or OWL's plan over it
        return slug.split("-")[0] in ("magnitude", "owl_magnitude")

    expected_artifacts = {(component, slug) for run in runs for component, slug in zip(("text_encoder", "unet"), run.key)
                          if uses_magnitude(slug)}
    planned_artifacts = set()
    for path in jobs["prune"]:  # results/tiny/prune/<component>/<scope>/<method>/<pattern>/<sparsity>/artifact...
        component, _, method, pattern, sparsity = path.split("/")[3:8]
        planned_artifacts.add((component, f"{method}-{pattern}-{sparsity}"))
    assert planned_artifacts == expected_artifacts
    expected_runs = {f"te={run.key[0]}/unet={run.key[1]}/seed={run.seed}" for run in runs
                     if any(uses_magnitude(slug) for slug in run.key)}
    for rule in ("generate_images", "score"):
        assert {path.split("/runs/")[1].rsplit("/", 1)[0] for path in jobs[rule]} == expected_runs, rule
    assert "calibrate" not in counts  # OWL's norms are made by code magnitude.py is no part of
