"""The settings each workflow stage takes from the (validated) config, as plain dicts.

One function per stage, used twice: the rules pass its result to the job as
`params` (which the job records in its provenance), and `sdprune.workflow.store` calls it
again on restore to check a cached artifact against the current config. Every
config value that changes an artifact must go through here.
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping

from sdprune.pruning.spec import PruneSpec


def _sorted_keys(value):
    if isinstance(value, Mapping):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_sorted_keys(item) for item in value]
    return value


def canonical(function: Callable[..., dict]) -> Callable[..., dict]:
    """Keys sorted at every level: Snakemake compares params as text, so reordering keys in a
    config file (or a YAML dump that sorts them) must not look like a change of settings."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return _sorted_keys(function(*args, **kwargs))
    return wrapper


@canonical
def model_params(config: Mapping) -> dict:
    model = config["model"]
    return {"source": model["source"], "revision": model["revision"], "dtype": model["dtype"], "seed": config["seed"]}


@canonical
def evaluation_prompt_params(config: Mapping) -> dict:
    return dict(config["data"]["evaluation"])


@canonical
def calibration_prompt_params(config: Mapping) -> dict:
    """The calibration data's own settings; a hub dataset keeps its own split (`train` by default).

    Only COCO calibration captions depend on the evaluation split: they are drawn from the same
    annotations, disjoint from the evaluation sample.
    """
    params = dict(config["data"]["calibration"])
    if params["source"] == "coco":
        params["evaluation_split"] = config["data"]["evaluation"]["split"]
    return params


@canonical
def calibration_params(config: Mapping, component: str, scope: str) -> dict:
    """`CalibrationSettings` keyword arguments, the prompt count and the layer scope of a component."""
    cal, unet = config["calibration"], config["calibration"]["unet"]
    settings = dict(
        max_length=cal["max_length"], count_padding=cal["count_padding"], batch_size=cal["batch_size"],
        sequential=cal["sequential"], groups=cal["groups"][component],
        num_steps=unet["num_steps"], guidance_scale=unet["guidance_scale"],
        timestep_weighting=unet["timestep_weighting"], seed=config["seed"],
    )
    prompts = unet["num_prompts"] if component == "unet" else config["data"]["calibration"]["num_prompts"]
    return {"calibration": settings, "num_prompts": prompts, "scope": scope, "dtype": config["model"]["dtype"]}


@canonical
def prune_params(config: Mapping, component: str, spec: PruneSpec) -> dict:
    """The spec (as its slug), OWL's settings if its plan is OWL's, and the calibration it uses."""
    owl = None
    if spec.choice.plan == "owl":  # only OWL's artifacts depend on OWL's settings
        owl = {"m": config["pruning"]["owl"]["M"], "lam": config["pruning"]["owl"]["lambda"]}
    params = {"spec": spec.slug, "owl": owl, "calibration": None, "num_prompts": 0, "dtype": config["model"]["dtype"]}
    if spec.choice.statistics:  # data-free methods do not depend on calibration settings
        calibration = calibration_params(config, component, spec.scope)
        params.update(calibration=calibration["calibration"], num_prompts=calibration["num_prompts"])
    return params


@canonical
def generation_params(config: Mapping, seed: int) -> dict:
    """`GenerationSettings` keyword arguments for a run's images at ``seed``."""
    return {"settings": dict(config["generation"], seed=int(seed)), "dtype": config["model"]["dtype"],
            "showcase": list(config["reporting"]["showcase_prompts"])}


def fid_protocols(config: Mapping) -> list[str]:
    """The FID protocols every run is scored with, the primary (the `fid` column) first."""
    protocols = config["scoring"]["fid_protocol"]
    return [protocols] if isinstance(protocols, str) else list(protocols)


@canonical
def score_params(config: Mapping) -> dict:
    scoring = config["scoring"]
    return {"protocols": fid_protocols(config), "batch_size": scoring["batch_size"],
            "metric_weights": scoring["metric_weights"], "fid_reference": scoring["fid_reference"],
            "clip_model": scoring["clip_model"], "clip_pretrained": scoring["clip_pretrained"]}


@canonical
def reference_features_params(config: Mapping, protocol: str) -> dict:
    """One protocol's reference features depend on that protocol alone, not on the others scored."""
    scoring = config["scoring"]
    return {"protocol": protocol, "batch_size": scoring["batch_size"], "metric_weights": scoring["metric_weights"],
            "fid_reference": scoring["fid_reference"]}


@canonical
def fid_weights_params(config: Mapping) -> dict:
    return {"seed": config["seed"]}


@canonical
def clip_weights_params(config: Mapping) -> dict:
    scoring = config["scoring"]
    return {"model": scoring["clip_model"], "pretrained": scoring["clip_pretrained"], "seed": config["seed"]}


@canonical
def reference_images_params(config: Mapping) -> dict:
    return {"split": config["data"]["evaluation"]["split"]}


@canonical
def aggregate_params(config: Mapping) -> dict:
    """What the runs table needs to know of each run, in the order of `expand_runs`."""
    from sdprune.workflow.experiments import expand_runs, infeasible_allocations

    runs = [dict(text_encoder=run.key[0], unet=run.key[1], seed=run.seed, experiments=list(run.experiments),
                 allocations=list(run.allocations)) for run in expand_runs(config)]
    return {"model": config["model"]["name"], "runs": runs, "infeasible": infeasible_allocations(config)}


@canonical
def report_params(config: Mapping) -> dict:
    """Settings of the paper tables and figures."""
    from sdprune.workflow.experiments import experiment_kinds

    return {"kinds": experiment_kinds(config), "seed": config["seed"],
            "criterion": dict(config["reporting"]["cliff"]["criterion"]),
            "prompts": list(config["reporting"]["showcase_prompts"]),
            "self_referenced": config["scoring"]["fid_reference"] == "dense",
            "compare_published": config["reporting"]["compare_published"]}


@canonical
def cliff_params(config: Mapping) -> dict:
    cliff = config["reporting"]["cliff"]
    return {"criterion": dict(cliff["criterion"]), "step": cliff["step"], "coarse": list(cliff["coarse"]),
            "layers": config["pruning"]["layers"]}


def expected_params(config: Mapping, rule: str, wildcards: Mapping[str, str]):
    """The params a rule's job gets under ``config``: what a cached artifact's record must match."""
    simple = {
        "download_model": model_params, "download_fid_weights": fid_weights_params,
        "download_clip_weights": clip_weights_params, "prepare_evaluation_prompts": evaluation_prompt_params,
        "prepare_calibration_prompts": calibration_prompt_params, "extract_reference_images": reference_images_params,
        "score": score_params, "aggregate_tables": aggregate_params,
        "paper_tables": report_params, "figures": report_params, "cliff_round": cliff_params,
        "cliffs_table": lambda c: {}, "cliff_series": lambda c: {}, "download_coco_archive": lambda c: {},
    }
    if rule in simple:
        return simple[rule](config)
    if rule == "reference_features":
        return reference_features_params(config, wildcards["protocol"])
    if rule == "calibrate":
        return calibration_params(config, wildcards["component"], _calibration_scope(config, wildcards["component"]))
    if rule == "prune":
        spec = PruneSpec(wildcards["method"], wildcards["pattern"], float(wildcards["sparsity"]), wildcards["scope"])
        return prune_params(config, wildcards["component"], spec)
    if rule == "generate_images":
        return generation_params(config, int(wildcards["seed"]))
    raise KeyError(f"no params known for rule {rule!r}")


def _calibration_scope(config: Mapping, component: str) -> str:
    """Statistics cover convolutions too if any run prunes them in this component."""
    from sdprune.workflow.experiments import expand_runs

    scopes = {r.spec(component).scope for r in expand_runs(config) if r.spec(component)}
    return "linear+conv" if "linear+conv" in scopes else "linear"
