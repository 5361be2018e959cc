"""Shared by every rules file: config validation, the list of runs, and the paths they use.

The config is checked here, before any job runs: a bad config stops the
workflow with one message and writes nothing under results/.
"""

import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The library sits beside the workflow: importable here and in every job (local, SLURM or a
# per-rule conda environment) without relying on an editable install.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.getenv("PYTHONPATH")) if p))
from snakemake.utils import validate

from sdprune.experiments import (
    DENSE,
    SPEC_PATTERN,
    ComponentSpec,
    check_config,
    expand_runs,
    infeasible_allocations,
    sparsity_slug,
)
from sdprune.methods import parse_method
from sdprune.validation import schema_problems
from sdprune.models.components import COMPONENTS, LAYER_SCOPES

_SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
_problems = schema_problems(config, _SCHEMA)
if not _problems:
    validate(config, schema=str(_SCHEMA))  # fills in the schema's defaults
    _problems = check_config(config)
if _problems:
    raise WorkflowError("invalid config:\n  - " + "\n  - ".join(_problems))

MODEL = config["model"]["name"]
RUNS = expand_runs(config)
SCORING = config["scoring"]
DATA = config["data"]
# GPU stages declare one `gpu` each, so a workstation profile with `gpu: 1` runs them one at a time;
# on a CPU-only config they declare none and run side by side.
GPU = 0 if config["device"] == "cpu" else 1


wildcard_constraints:
    model=re.escape(MODEL),
    component="|".join(COMPONENTS),
    scope="|".join(re.escape(s) for s in LAYER_SCOPES),
    method="[a-z][a-z0-9_]*",
    pattern="unstructured|[0-9]+of[0-9]+",
    sparsity="0(\\.[0-9]+)?",
    te=f"dense|{SPEC_PATTERN}",
    unet=f"dense|{SPEC_PATTERN}",


# --- paths ------------------------------------------------------------------------------------

ENV = "../environment.yml"  # every rule runs in the same software environment
MODEL_DIR = f"resources/models/{MODEL}"
RESULTS = f"results/{MODEL}"
EVALUATION_PROMPTS = f"{RESULTS}/data/evaluation_prompts.json"
CALIBRATION_PROMPTS = f"{RESULTS}/data/calibration_prompts.json"
STANDIN = SCORING["metric_weights"] == "standin"
FID_WEIGHTS = "resources/metrics/fid/" + ("standin" if STANDIN else "inception")
CLIP_WEIGHTS = "resources/metrics/clip/" + (
    "standin" if STANDIN else f"{SCORING['clip_model']}-{SCORING['clip_pretrained']}"
)


def run_path(te, unet, leaf):
    """A file or folder of one run: results/<model>/runs/te=<spec>/unet=<spec>/<leaf>."""
    return f"{RESULTS}/runs/te={te}/unet={unet}/{leaf}"


def artifact_path(component, spec, leaf="artifact.safetensors"):
    return f"{RESULTS}/prune/{component}/{spec.scope}/{spec.method}/{spec.pattern}/{sparsity_slug(spec.sparsity)}/{leaf}"


def fid_reference_images():
    if SCORING["fid_reference"] == "dense":
        return run_path(DENSE, DENSE, "images")
    return f"{RESULTS}/data/reference_images"


def coco_archive(name):
    return str(Path(DATA["evaluation"]["coco_dir"]) / f"{name}.zip")


# --- input functions --------------------------------------------------------------------------


def evaluation_prompt_inputs(wildcards):
    if DATA["evaluation"]["source"] == "coco":
        return {"annotations": coco_archive("annotations_trainval2017")}
    return {"file": DATA["evaluation"]["file"]}


def calibration_prompt_inputs(wildcards):
    inputs = {"evaluation": EVALUATION_PROMPTS}  # calibration prompts must not be evaluation prompts
    if DATA["calibration"]["source"] == "coco":
        inputs["annotations"] = coco_archive("annotations_trainval2017")
    elif DATA["calibration"]["source"] == "file":
        inputs["file"] = DATA["calibration"]["file"]
    return inputs


def prune_inputs(wildcards):
    inputs = {"model": MODEL_DIR}
    if parse_method(wildcards.method).statistics:
        inputs["prompts"] = CALIBRATION_PROMPTS
        inputs["statistics"] = f"{RESULTS}/calibration/{wildcards.component}/statistics.safetensors"
    return inputs


def run_specs(wildcards):
    return {"text_encoder": ComponentSpec.parse(wildcards.te), "unet": ComponentSpec.parse(wildcards.unet)}


def generate_inputs(wildcards):
    inputs = {"model": MODEL_DIR, "prompts": EVALUATION_PROMPTS}
    for component, spec in run_specs(wildcards).items():
        if spec is not None:
            inputs[component] = artifact_path(component, spec)
    return inputs


def requested_sparsity(wildcards):
    return {c: (s.sparsity if s else 0.0) for c, s in run_specs(wildcards).items()}


def run_scopes(wildcards):
    return {c: (s.scope if s else "linear") for c, s in run_specs(wildcards).items()}


def prune_settings(wildcards):
    """Keyword arguments of sdprune.pruning.PruneSettings (pattern in its path form)."""
    owl = config["pruning"]["owl"]
    return dict(method=wildcards.method, pattern=wildcards.pattern, sparsity=float(wildcards.sparsity),
                scope=wildcards.scope, owl_m=owl["M"], owl_lambda=owl["lambda"])


def calibration_settings(wildcards):
    """Keyword arguments of sdprune.pruning.CalibrationSettings for a component."""
    cal, unet = config["calibration"], config["calibration"]["unet"]
    return dict(
        max_length=cal["max_length"], count_padding=cal["count_padding"], batch_size=cal["batch_size"],
        sequential=cal["sequential"], groups=cal["groups"][wildcards.component],
        num_steps=unet["num_steps"], guidance_scale=unet["guidance_scale"],
        timestep_weighting=unet["timestep_weighting"], seed=config["seed"],
    )


def calibration_scope(wildcards):
    """Collect statistics for convolutions too if any run prunes them in this component."""
    scopes = {r.spec(wildcards.component).scope for r in RUNS if r.spec(wildcards.component)}
    return "linear+conv" if "linear+conv" in scopes else "linear"


def calibration_prompt_count(wildcards):
    if wildcards.component == "unet":
        return config["calibration"]["unet"]["num_prompts"]
    return DATA["calibration"]["num_prompts"]


def generation_settings():
    return dict(config["generation"], seed=config["seed"])


def all_scores():
    return [run_path(*run.key, "scores.json") for run in RUNS]


def all_records():
    return [run_path(*run.key, "generation.json") for run in RUNS]
