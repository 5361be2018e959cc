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
from sdprune.evaluation.prompts import read_prompt_records
from sdprune.rehearsal.sources import CALIBRATION_DATASET, ROOT_CHECKPOINT, SD2_REPO, calibration_captions

TEXT_METHODS = {"magnitude", "wanda", "owl_magnitude", "owl_wanda"}


def job_count(snakemake_output: str) -> int:
    """Jobs Snakemake finished, from its last 'N of M steps' line (0 if it ran none)."""
    done = re.findall(r"(\d+) of (\d+) steps", snakemake_output)
    return int(done[-1][0]) if done else 0


def _hub_cache(hf_home: Path, kind: str, repo: str) -> Path:
    return hf_home / "hub" / f"{kind}--{repo.replace('/', '--')}"


def check_sources(run_dir: Path, hf_home: Path, config: Mapping) -> list[str]:
    """Model, dataset, COCO and metric networks each came through their real download path."""
    problems = []
    model = run_dir / "resources" / "models" / config["model"]["name"]
    snapshot = list(_hub_cache(hf_home, "models", SD2_REPO).glob("snapshots/*"))
    if not snapshot or not (snapshot[0] / "model_index.json").exists():
        problems.append(f"{SD2_REPO} did not come through the Hugging Face cache in {hf_home}")
    elif [f for f in snapshot[0].rglob("*") if "fp16" in f.name or f.name == ROOT_CHECKPOINT]:
        problems.append(f"{SD2_REPO}: fp16 variants or the root checkpoint were downloaded too")
    if json.loads((model / "sdprune_source.json").read_text())["source"] != SD2_REPO:
        problems.append(f"{model} was not fetched from {SD2_REPO}")
    if _saved_dtype(model / "unet") != config["model"]["dtype"]:
        problems.append(f"{model} is not saved in {config['model']['dtype']}")
    calibration = [r.prompt for r in read_prompt_records(run_dir / f"results/{config['model']['name']}/data/calibration_prompts.json")]
    if calibration != calibration_captions(config["data"]["calibration"]["num_prompts"]):
        problems.append(f"calibration prompts are not the first rows of {CALIBRATION_DATASET}")
    evaluation = config["data"]["evaluation"]
    coco = run_dir / evaluation["coco_dir"]
    for name, archive in (("annotations", "annotations_trainval2017.zip"), (evaluation["split"], f"{evaluation['split']}.zip")):
        if not (coco / archive).exists() or md5sum(coco / archive) != evaluation["coco_md5"][name]:
            problems.append(f"COCO archive {archive} missing or not the mirror's")
    for folder in ("fid/inception", "fid/pytorch_inception", "clip/ViT-B-32-openai"):
        if not any((run_dir / "resources" / "metrics" / folder).glob("*")):
            problems.append(f"metric network resources/metrics/{folder} was not downloaded")
    return problems


def _saved_dtype(component_dir: Path) -> str:
    from safetensors import safe_open

    names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
    with safe_open(str(next(component_dir.glob("*.safetensors"))), framework="pt") as handle:
        return names[handle.get_slice(next(iter(handle.keys()))).get_dtype()]


def check_runs_table(results: Path, config: Mapping) -> list[str]:
    """Every experiment kind ran, with finite scores under every FID protocol."""
    runs = pd.read_csv(results / "tables" / "runs.csv", keep_default_na=False, na_values=[""])
    ok = runs[runs.status == "ok"]
    problems = []
    ran = {name for value in ok.experiments for name in str(value).split(";")}
    missing = {e["name"] for e in config["experiments"]} - ran
    if missing:
        problems.append(f"experiments with no finished run: {sorted(missing)}")
    if not runs.status.str.startswith("N/A").any():
        problems.append("no N/A allocation row (the allocation grid's infeasible cell)")
    if not TEXT_METHODS <= set(ok.text_method):
        problems.append(f"text-encoder methods that never ran: {sorted(TEXT_METHODS - set(ok.text_method))}")
    if sorted(set(ok.seed)) != sorted({config["seed"], *config["scoring"]["seed_variance"]}):
        problems.append(f"seeds run {sorted(set(ok.seed))}, not the base seed and the seed-variance seeds")
    protocols = config["scoring"]["fid_protocol"]
    protocols = [protocols] if isinstance(protocols, str) else protocols
    columns = ["fid", "clip_score"] + [f"fid_{p}" for p in protocols[1:]]
    for column in columns:
        if column not in ok or not all(math.isfinite(float(v)) for v in ok[column]):
            problems.append(f"runs table: {column} missing or not finite in every run")
    if set(ok.fid_protocol) != {protocols[0]}:
        problems.append(f"runs table: fid_protocol is {set(ok.fid_protocol)}, not {protocols[0]}")
    return problems


def check_reports(results: Path, config: Mapping) -> list[str]:
    problems = []
    tables = results / "tables" / "paper"
    six = pd.read_csv(tables / "table6.csv")
    if config["reporting"]["compare_published"] and "fid_published" not in six:
        problems.append("paper Table 6 has no published FID beside ours")
    if "N/A" not in (tables / "table3.md").read_text():
        problems.append("paper Table 3 shows no N/A cell")
    if config["reporting"]["cliff"]["series"]:
        cliffs = pd.read_csv(results / "tables" / "cliffs.csv")
        if len(cliffs) != len(config["reporting"]["cliff"]["series"]):
            problems.append(f"cliffs table has {len(cliffs)} rows for {len(config['reporting']['cliff']['series'])} series")
    if not list((results / "figures").glob("*.png")):
        problems.append("no figures were drawn")
    return problems


def check_rehearsal(run_dir: Path, hf_home: Path, config: Mapping) -> list[str]:
    results = run_dir / "results" / config["model"]["name"]
    return check_sources(run_dir, hf_home, config) + check_runs_table(results, config) + check_reports(results, config)
