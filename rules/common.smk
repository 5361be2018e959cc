"""Shared by every rules file: config validation, the list of runs, and the paths they use.

The config is checked here, before any job runs: a bad config stops the
workflow with one message and writes nothing under results/. What each stage
takes from the config comes from sdprune.workflow.params, the same functions the cache
uses to check restored artifacts.
"""

import json
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The library sits beside the workflow: importable here and in every job (local, SLURM or a
# per-rule conda environment) without relying on an editable install.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.getenv("PYTHONPATH")) if p))

from sdprune.workflow import params as stage_params
from sdprune.workflow.experiments import (
    DENSE,
    check_config,
    expand_runs,
    experiment_kinds,
    infeasible_allocations,
    method_scope,
    parse_spec_slug,
)
from sdprune.pruning.methods import parse_method
from sdprune.pruning.spec import FIELD_PATTERNS, SLUG_PATTERN, PruneSpec, sparsity_slug
from sdprune.models.components import COMPONENTS, LAYER_SCOPES
from sdprune.reporting.published import published_kind
from sdprune.workflow.validation import schema_problems

_SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
_problems = schema_problems(config, _SCHEMA)
if not _problems:
    validate(config, schema=str(_SCHEMA))  # fills in the schema's defaults
    _problems = check_config(config)
if _problems:
    raise WorkflowError("invalid config:\n  - " + "\n  - ".join(_problems))

MODEL = config["model"]["name"]
TRAINS_MODEL = config["model"]["source"] == "toy"  # download_model trains it
RUNS = expand_runs(config)
SEED = config["seed"]
SCORING = config["scoring"]
DATA = config["data"]
# GPU stages declare one `gpu` each, so a workstation profile with `gpu: 1` runs them one at a time;
# on a CPU-only config they declare none and run side by side.
GPU = 0 if config["device"] == "cpu" else 1


wildcard_constraints:
    model=re.escape(MODEL),
    component="|".join(COMPONENTS),
    scope="|".join(re.escape(s) for s in LAYER_SCOPES),
    method=FIELD_PATTERNS["method"],
    pattern=FIELD_PATTERNS["pattern"],
    sparsity=FIELD_PATTERNS["sparsity"],
    te=f"dense|{SLUG_PATTERN}",
    unet=f"dense|{SLUG_PATTERN}",
    seed="[0-9]+",
    protocol="clean|paper",


# --- paths ------------------------------------------------------------------------------------

ENV = "../environment.yml"  # every rule runs in the same software environment
MODEL_DIR = f"resources/models/{MODEL}"
RESULTS = f"results/{MODEL}"
EVALUATION_PROMPTS = f"{RESULTS}/data/evaluation_prompts.json"
CALIBRATION_PROMPTS = f"{RESULTS}/data/calibration_prompts.json"
RUNS_TABLE = f"{RESULTS}/tables/runs.csv"
PUBLISHED = config["reporting"]["published"]  # default: Ramesh & Zhao's, which the paper tables are keyed to
if config["reporting"]["compare_published"] and not Path(PUBLISHED).is_file():
    raise WorkflowError(f"reporting.published: no file {PUBLISHED}")
# Its shape picks the report (sdprune.reporting.published): the paper tables' grid, or rows per U-Net method.
PUBLISHED_KIND = published_kind(PUBLISHED) if config["reporting"]["compare_published"] else None
PAPER_PUBLISHED = PUBLISHED if PUBLISHED_KIND == "paper_grid" else []  # the paper tables' and figures' input
FID_PROTOCOLS = stage_params.fid_protocols(config)  # the primary (the `fid` column) first
FID_NETWORKS = {"clean": "inception", "paper": "pytorch_inception"}  # clean-fid's, pytorch-fid's Inception
# The scene world's FID network has no CLIP counterpart: its CLIP score runs the stand-in.
CLIP_WEIGHTS = "resources/metrics/clip/" + (
    "standin" if SCORING["metric_weights"] in ("standin", "scenes")
    else f"{SCORING['clip_model']}-{SCORING['clip_pretrained']}"
)


def fid_weights(protocol):
    if SCORING["metric_weights"] == "real":
        return f"resources/metrics/fid/{FID_NETWORKS[protocol]}"
    return f"resources/metrics/fid/{SCORING['metric_weights']}"  # standin, scenes: one network for every protocol


def reference_features(protocol):
    return f"{RESULTS}/scores/reference_features_{protocol}.safetensors"


def run_path(te, unet, seed, leaf):
    """A file or folder of one run: results/<model>/runs/te=<spec>/unet=<spec>/seed=<seed>/<leaf>."""
    return f"{RESULTS}/runs/te={te}/unet={unet}/seed={seed}/{leaf}"


def artifact_path(component, spec, leaf="artifact.safetensors"):
    return f"{RESULTS}/prune/{component}/{spec.scope}/{spec.method}/{spec.pattern.slug}/{sparsity_slug(spec.sparsity)}/{leaf}"


def fid_reference_images():
    if SCORING["fid_reference"] == "dense":
        return run_path(DENSE, DENSE, SEED, "images")
    if SCORING["fid_reference"] == "scenes":
        return rules.render_reference_scenes.output.images
    return f"{RESULTS}/data/reference_images"


def coco_archive(name):
    return str(Path(DATA["evaluation"]["coco_dir"]) / f"{name}.zip")


def spec_of(slug):
    return parse_spec_slug(slug)


# --- input functions --------------------------------------------------------------------------


def evaluation_prompt_inputs(wildcards):
    if DATA["evaluation"]["source"] == "coco":
        return {"annotations": coco_archive("annotations_trainval2017")}
    if DATA["evaluation"]["source"] == "scenes":
        return {}  # generated from the seed
    return {"file": DATA["evaluation"]["file"]}


def calibration_prompt_inputs(wildcards):
    inputs = {"evaluation": EVALUATION_PROMPTS}  # calibration prompts must not be evaluation prompts
    if DATA["calibration"]["source"] == "coco":
        inputs["annotations"] = coco_archive("annotations_trainval2017")
    elif DATA["calibration"]["source"] == "file":
        inputs["file"] = DATA["calibration"]["file"]
    return inputs


def prune_inputs(wildcards):
    """The calibrate stage's statistics are an input only where the method reuses them (input norms:
    Wanda, any OWL plan); SparseGPT collects its own Hessians from the prompts."""
    inputs = {"model": MODEL_DIR}
    choice = parse_method(wildcards.method)
    if choice.statistics:
        inputs["prompts"] = CALIBRATION_PROMPTS
    if choice.reuses_dense_norms:
        inputs["statistics"] = f"{RESULTS}/calibration/{wildcards.component}/statistics.safetensors"
    return inputs


def run_specs(wildcards):
    return {"text_encoder": spec_of(wildcards.te), "unet": spec_of(wildcards.unet)}


def generate_inputs(wildcards):
    inputs = {"model": MODEL_DIR, "prompts": EVALUATION_PROMPTS}
    for component, spec in run_specs(wildcards).items():
        if spec is not None:
            inputs[component] = artifact_path(component, spec)
    return inputs


def score_inputs(wildcards):
    inputs = {
        "images": run_path(wildcards.te, wildcards.unet, wildcards.seed, "images"),
        "prompts": EVALUATION_PROMPTS,
        "clip_weights": CLIP_WEIGHTS,
    }
    for protocol in FID_PROTOCOLS:
        inputs[f"reference_{protocol}"] = reference_features(protocol)
        inputs[f"fid_weights_{protocol}"] = fid_weights(protocol)
    if (wildcards.te, wildcards.unet) != (DENSE, DENSE):  # paired with the dense images of the same seeds
        inputs["dense_images"] = run_path(DENSE, DENSE, wildcards.seed, "images")
    return inputs


# The optional metrics (scoring.cmmd, scoring.image_reward); ImageReward scores in its own environment.
IMAGE_REWARD_ENV = "../envs/image-reward.yml"  # image-reward's pins cannot live beside the stack (envs/README.md)
CMMD_WEIGHTS = "resources/metrics/cmmd/" + (
    "standin" if SCORING["metric_weights"] in ("standin", "scenes") else "ViT-L-14-336-openai"
)
IMAGE_REWARD_WEIGHTS = "resources/metrics/image_reward/ImageReward-v1.0"
REFERENCE_EMBEDDINGS = f"{RESULTS}/scores/reference_embeddings_cmmd.safetensors"


def scored_inputs(wildcards):
    """The score rule's inputs: score_inputs' and those of the optional metrics switched on."""
    inputs = score_inputs(wildcards)
    if SCORING["cmmd"]:
        inputs.update(cmmd_weights=CMMD_WEIGHTS, reference_cmmd=REFERENCE_EMBEDDINGS)
    if SCORING["image_reward"]:
        inputs["image_reward"] = run_path(wildcards.te, wildcards.unet, wildcards.seed, "image_reward.json")
    return inputs


def requested_sparsity(wildcards):
    return {c: (s.sparsity if s else 0.0) for c, s in run_specs(wildcards).items()}


def run_scopes(wildcards):
    return {c: (s.scope if s else "linear") for c, s in run_specs(wildcards).items()}


def stage_settings(rule):
    """A rule's `stage` param: its jobs' settings from sdprune.workflow.params' table, the same the cache
    checks a restored artifact against."""

    def settings(wildcards):
        return stage_params.expected_params(config, rule, dict(wildcards.items()))

    settings.__name__ = f"{rule}_settings"
    return settings


def protocol_fid_weights(wildcards):
    return fid_weights(wildcards.protocol)


def showcase_template(wildcards):
    """The showcase folder of any run, its wildcards left to fill (a function: Snakemake would fill them)."""
    return run_path("{te}", "{unet}", "{seed}", "showcase")


def all_runs(leaf):
    return [run_path(*run.key, run.seed, leaf) for run in RUNS]


def provenance_of(path):
    """The provenance record beside an output: prompts.json -> prompts.provenance.json."""
    return str(Path(path).with_suffix(".provenance.json"))


# --- reports and the drop-off finder (rules/report.smk) --------------------------------------------

CLIFF = config["reporting"]["cliff"]


def showcase_dirs(wildcards):
    return sorted({run_path(*run.key, run.seed, "showcase") for run in RUNS if run.seed == SEED})



def cliff_score(component, method, sparsity):
    spec = PruneSpec(method, "unstructured", float(sparsity), method_scope(config, method))  # coarse grid and picks
    te, unet = (spec.slug, DENSE) if component == "text_encoder" else (DENSE, spec.slug)
    return run_path(te, unet, SEED, "scores.json")


def cliff_history(wildcards):
    """Sparsities evaluated before round ``wildcards.round``: the coarse grid, then each round's pick."""
    points = [float(s) for s in config["reporting"]["cliff"]["coarse"]]
    for previous in range(int(wildcards.round)):
        state = checkpoints.cliff_round.get(component=wildcards.component, method=wildcards.method,
                                           round=previous).output.state
        points.append(json.loads(Path(state).read_text())["next"])
    return points


def cliff_points(wildcards):
    return {f"{s:g}": cliff_score(wildcards.component, wildcards.method, s) for s in cliff_history(wildcards)}


def cliff_round_inputs(wildcards):
    return {"dense": run_path(DENSE, DENSE, SEED, "scores.json"), **cliff_points(wildcards)}


def cliff_final_state(wildcards):
    """Follow one series' rounds until one says done (Snakemake re-evaluates after every checkpoint).

    One job per series, so every series searches in parallel and a dry run shows each first round.
    """
    round_ = 0
    while True:
        state = checkpoints.cliff_round.get(round=round_, component=wildcards.component,
                                           method=wildcards.method).output.state
        if json.loads(Path(state).read_text())["done"]:
            return state
        round_ += 1


def cliff_series_results():
    return [rules.cliff_series.output.state.format(**series) for series in config["reporting"]["cliff"]["series"]]


def report_targets():
    targets = [RUNS_TABLE, rules.paper_tables.output.tables, rules.figures.output.figures]
    if config["reporting"]["cliff"]["series"]:
        targets.append(rules.cliffs_table.output.table)
    if PUBLISHED_KIND == "method_rows":
        targets.append(rules.published_comparison.output.table)
    return targets
