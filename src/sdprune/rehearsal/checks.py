"""What a finished rehearsal must have produced, and through which paths.

Each check returns problems as sentences; an empty list means the rehearsal passed.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from sdprune.download import md5sum
from sdprune.pruning.spec import PruneSpec
from sdprune.evaluation.prompts import read_prompt_records
from sdprune.rehearsal.sources import DATASET_CAPTIONS, ROOT_CHECKPOINTS
from sdprune.reporting.published import published_kind
from sdprune.reporting.tables import SHORT
from sdprune.workflow.experiments import DENSE, expand_runs, infeasible_allocations
from sdprune.workflow.params import fid_protocols

FID_FOLDERS = {"clean": "fid/inception", "paper": "fid/pytorch_inception"}  # resources/metrics/<folder>
CMMD_FOLDER, IMAGE_REWARD_FOLDER = "cmmd/ViT-L-14-336-openai", "image_reward/ImageReward-v1.0"


def job_count(snakemake_output: str) -> int:
    """Jobs Snakemake finished, from its last 'N of M steps' line (0 if it ran none)."""
    done = re.findall(r"(\d+) of (\d+) steps", snakemake_output)
    return int(done[-1][0]) if done else 0


def _hub_cache(hf_home: Path, kind: str, repo: str) -> Path:
    return hf_home / "hub" / f"{kind}--{repo.replace('/', '--')}"


def check_sources(run_dir: Path, hf_home: Path, config: Mapping) -> list[str]:
    """Model, dataset, COCO and metric networks each came through their real download path."""
    problems = []
    repo = config["model"]["source"]
    model = run_dir / "resources" / "models" / config["model"]["name"]
    snapshot = list(_hub_cache(hf_home, "models", repo).glob("snapshots/*"))
    if not snapshot or not (snapshot[0] / "model_index.json").exists():
        problems.append(f"{repo} did not come through the Hugging Face cache in {hf_home}")
    elif [f for f in snapshot[0].rglob("*") if "fp16" in f.name or f.name == ROOT_CHECKPOINTS[repo]]:
        problems.append(f"{repo}: fp16 variants or the root checkpoint were downloaded too")
    if json.loads((model / "sdprune_source.json").read_text())["source"] != repo:
        problems.append(f"{model} was not fetched from {repo}")
    if _saved_dtype(model / "unet") != config["model"]["dtype"]:
        problems.append(f"{model} is not saved in {config['model']['dtype']}")
    calibration = config["data"]["calibration"]
    prompts = [r.prompt for r in read_prompt_records(run_dir / f"results/{config['model']['name']}/data/calibration_prompts.json")]
    if prompts != DATASET_CAPTIONS[calibration["dataset"]](calibration["num_prompts"]):
        problems.append(f"calibration prompts are not the first rows of {calibration['dataset']}")
    evaluation = config["data"]["evaluation"]
    coco = run_dir / evaluation["coco_dir"]
    for name, archive in (("annotations", "annotations_trainval2017.zip"), (evaluation["split"], f"{evaluation['split']}.zip")):
        if not (coco / archive).exists() or md5sum(coco / archive) != evaluation["coco_md5"][name]:
            problems.append(f"COCO archive {archive} missing or not the mirror's")
    for folder in metric_folders(config):
        if not any((run_dir / "resources" / "metrics" / folder).glob("*")):
            problems.append(f"metric network resources/metrics/{folder} was not downloaded")
    return problems


def metric_folders(config: Mapping) -> list[str]:
    """The metric networks the config scores with, under resources/metrics/ (real weights' folders)."""
    scoring = config["scoring"]
    folders = [FID_FOLDERS[p] for p in fid_protocols(config)] + [f"clip/{scoring['clip_model']}-{scoring['clip_pretrained']}"]
    return folders + [CMMD_FOLDER] * bool(scoring["cmmd"]) + [IMAGE_REWARD_FOLDER] * bool(scoring["image_reward"])


def _saved_dtype(component_dir: Path) -> str:
    from safetensors import safe_open

    names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
    with safe_open(str(next(component_dir.glob("*.safetensors"))), framework="pt") as handle:
        return names[handle.get_slice(next(iter(handle.keys()))).get_dtype()]


def check_runs_table(results: Path, config: Mapping) -> list[str]:
    """Every experiment and method ran, with finite scores under every FID protocol and optional metric."""
    runs = pd.read_csv(results / "tables" / "runs.csv", keep_default_na=False, na_values=[""])
    ok = runs[runs.status == "ok"]
    problems = []
    ran = {name for value in ok.experiments for name in str(value).split(";")}
    missing = {e["name"] for e in config["experiments"]} - ran
    if missing:
        problems.append(f"experiments with no finished run: {sorted(missing)}")
    if infeasible_allocations(config) and not runs.status.str.startswith("N/A").any():
        problems.append("no N/A allocation row (the allocation grid's infeasible cell)")
    for position, (component, short) in enumerate(SHORT.items()):  # a run's key: (text encoder, U-Net)
        listed = {PruneSpec.parse(run.key[position]).method for run in expand_runs(config) if run.key[position] != DENSE}
        if not listed <= set(ok[f"{short}_method"]):
            problems.append(f"{component} methods that never ran: {sorted(listed - set(ok[f'{short}_method']))}")
    if sorted(set(ok.seed)) != sorted({config["seed"], *config["scoring"]["seed_variance"]}):
        problems.append(f"seeds run {sorted(set(ok.seed))}, not the base seed and the seed-variance seeds")
    protocols = fid_protocols(config)
    optional = [m for m in ("cmmd", "image_reward") if config["scoring"][m]]
    for column in ["fid", "clip_score"] + [f"fid_{p}" for p in protocols[1:]] + optional:
        if column not in ok or not all(math.isfinite(float(v)) for v in ok[column]):
            problems.append(f"runs table: {column} missing or not finite in every run")
    if set(ok.fid_protocol) != {protocols[0]}:
        problems.append(f"runs table: fid_protocol is {set(ok.fid_protocol)}, not {protocols[0]}")
    return problems


def check_reports(results: Path, config: Mapping) -> list[str]:
    problems = []
    reporting = config["reporting"]
    run_dir = results.parents[1]  # results/<model>/ in the run folder
    kind = published_kind(run_dir / reporting["published"]) if reporting["compare_published"] else None
    tables = results / "tables" / "paper"
    if kind == "paper_grid" and "fid_published" not in pd.read_csv(tables / "table6.csv"):
        problems.append("paper Table 6 has no published FID beside ours")
    if infeasible_allocations(config) and "N/A" not in (tables / "table3.md").read_text():
        problems.append("paper Table 3 shows no N/A cell")
    if kind == "method_rows":
        problems += check_published_comparison(results / "tables" / "published_comparison.csv")
    if reporting["cliff"]["series"]:
        cliffs = pd.read_csv(results / "tables" / "cliffs.csv")
        if len(cliffs) != len(reporting["cliff"]["series"]):
            problems.append(f"cliffs table has {len(cliffs)} rows for {len(reporting['cliff']['series'])} series")
    if not list((results / "figures").glob("*.png")):
        problems.append("no figures were drawn")
    return problems


def check_published_comparison(path: Path) -> list[str]:
    """The table exists and puts a published value beside ours in some row, for every metric it compares."""
    if not path.exists():
        return [f"no published comparison table {path}"]
    table = pd.read_csv(path)
    metrics = [c.removesuffix("_published") for c in table.columns if c.endswith("_published")]
    both = {m: int((table[m].notna() & table[f"{m}_published"].notna()).sum()) for m in metrics}
    if not metrics or not all(both.values()):
        return [f"published comparison: no row with ours and the published value of {sorted(m for m in both if not both[m]) or 'any metric'}"]
    return []


def check_rehearsal(run_dir: Path, hf_home: Path, config: Mapping) -> list[str]:
    results = run_dir / "results" / config["model"]["name"]
    return check_sources(run_dir, hf_home, config) + check_runs_table(results, config) + check_reports(results, config)
