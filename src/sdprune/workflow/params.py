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
    params = {"source": model["source"], "revision": model["revision"], "dtype": model["dtype"], "seed": config["seed"]}
    if model["source"] == "toy":  # only a trained built-in depends on a training recipe
        params["training"] = dict(model["training"])
    return params


def _scene_prompt_params(config: Mapping, prompts: Mapping) -> dict:
    """Scene-world prompts depend on their count and the world's stream, the top-level seed, alone
    (the file, COCO and dataset keys beside them mean nothing to them)."""
    return {"source": "scenes", "num_prompts": prompts["num_prompts"], "world_seed": config["seed"]}


@canonical
def evaluation_prompt_params(config: Mapping) -> dict:
    if config["data"]["evaluation"]["source"] == "scenes":
        return _scene_prompt_params(config, config["data"]["evaluation"])
    return dict(config["data"]["evaluation"])


@canonical
def calibration_prompt_params(config: Mapping) -> dict:
    """The calibration data's own settings; a hub dataset keeps its own split (`train` by default).

    Only COCO calibration captions depend on the evaluation split: they are drawn from the same
    annotations, disjoint from the evaluation sample.
    """
    if config["data"]["calibration"]["source"] == "scenes":
        return _scene_prompt_params(config, config["data"]["calibration"])
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
        params.update(calibration=_method_calibration(config, component, spec, calibration["calibration"]),
                      num_prompts=calibration["num_prompts"])
    return params


def _method_calibration(config: Mapping, component: str, spec: PruneSpec, settings: dict) -> dict:
    """A method that calibrates its own way: obs_diff weights the U-Net's steps and groups its blocks
    as `pruning.obs_diff` says (the method's own defaults where the config says nothing)."""
    if spec.choice.method.name != "obs_diff":
        return settings
    from sdprune.pruning.methods.obs_diff import ObsDiffSettings

    own = ObsDiffSettings(**config.get("pruning", {}).get("obs_diff", {}))
    return {**settings, **own.overrides(component)}


# `generation` keys that change how fast a run's images are made, not which images: kept out of the
# generate stage's settings, so neither Snakemake nor the cache reruns a run for them (the script
# reads them from the config). Images made with and without them differ by float rounding alone, at
# most one 8-bit level in a few pixels (tests/unit/test_generation_speed_options.py), which is less
# than the device already makes them differ, and the device is not a setting either.
GENERATION_SPEED_OPTIONS = ("batch_size", "compile", "channels_last")


@canonical
def generation_params(config: Mapping, seed: int) -> dict:
    """`GenerationSettings` keyword arguments for a run's images at ``seed`` (the speed options aside:
    `generation_speed_options`), the dtype the run's pipeline is loaded in, the showcase prompts."""
    generation = config["generation"]
    settings = {key: value for key, value in generation.items() if key not in (*GENERATION_SPEED_OPTIONS, "dtype")}
    return {"settings": dict(settings, seed=int(seed)), "dtype": generation_dtype(config),
            "showcase": list(config["reporting"]["showcase_prompts"])}


def generation_dtype(config: Mapping) -> str:
    """generation.dtype, or the model's own where it is null ("auto" is resolved on the job's device)."""
    return config["generation"].get("dtype") or config["model"]["dtype"]


def generation_speed_options(config: Mapping) -> dict:
    """The `GenerationSettings` keyword arguments that only change speed."""
    return {key: config["generation"][key] for key in GENERATION_SPEED_OPTIONS if key in config["generation"]}


def fid_protocols(config: Mapping) -> list[str]:
    """The FID protocols every run is scored with, the primary (the `fid` column) first."""
    protocols = config["scoring"]["fid_protocol"]
    return [protocols] if isinstance(protocols, str) else list(protocols)


def judges_prompts(config: Mapping) -> bool:
    """Scene-world captions have an exact judge: the score stage adds prompt accuracy for them."""
    return config["data"]["evaluation"]["source"] == "scenes"


@canonical
def score_params(config: Mapping) -> dict:
    scoring = config["scoring"]
    params = {"protocols": fid_protocols(config), "batch_size": scoring["batch_size"],
              "metric_weights": scoring["metric_weights"], "fid_reference": scoring["fid_reference"],
              "clip_model": scoring["clip_model"], "clip_pretrained": scoring["clip_pretrained"]}
    if judges_prompts(config):  # only then: every other config's params (and caches) stay as they were
        params["judge_prompts"] = True
    for metric in ("cmmd", "image_reward"):  # likewise: a key only when switched on
        if scoring.get(metric):
            params[metric] = True
    return params


@canonical
def cmmd_weights_params(config: Mapping) -> dict:
    from sdprune.evaluation.metrics.cmmd import MODEL_NAME, PRETRAINED

    return {"model": MODEL_NAME, "pretrained": PRETRAINED, "seed": config["seed"]}


@canonical
def image_reward_weights_params(config: Mapping) -> dict:
    from sdprune.evaluation.metrics.image_reward import CHECKPOINT, REPO_ID

    return {"repo": REPO_ID, "checkpoint": CHECKPOINT}


@canonical
def reference_embeddings_params(config: Mapping) -> dict:
    """CMMD's reference embeddings depend on the reference images and the embedding network alone."""
    scoring = config["scoring"]
    return {"batch_size": scoring["batch_size"], "metric_weights": scoring["metric_weights"],
            "fid_reference": scoring["fid_reference"]}


@canonical
def image_reward_params(config: Mapping) -> dict:
    return {"repo": image_reward_weights_params(config)["repo"]}


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
def reference_scenes_params(config: Mapping) -> dict:
    """The renders are of the evaluation prompts' scenes: the same count and stream."""
    return _scene_prompt_params(config, config["data"]["evaluation"])


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
def published_comparison_params(config: Mapping) -> dict:
    """Which runs sit beside the published rows (the base seed's), and the FID protocol the heading names."""
    return {"seed": config["seed"], "fid_protocol": fid_protocols(config)[0]}


@canonical
def cliff_params(config: Mapping, method: str) -> dict:
    """The search's settings; ``layers`` is the scope its runs prune (`experiments.method_scope`)."""
    from sdprune.workflow.experiments import method_scope

    cliff = config["reporting"]["cliff"]
    return {"criterion": dict(cliff["criterion"]), "step": cliff["step"], "coarse": list(cliff["coarse"]),
            "layers": method_scope(config, method)}


def _settings_of_config(function: Callable[[Mapping], dict]) -> Callable[[Mapping, Mapping[str, str]], dict]:
    """A stage whose settings do not depend on its job's wildcards."""
    def settings(config: Mapping, wildcards: Mapping[str, str]) -> dict:
        return function(config)
    return settings


def _no_settings(config: Mapping, wildcards: Mapping[str, str]) -> dict:
    return {}


def _reference_features_settings(config: Mapping, wildcards: Mapping[str, str]) -> dict:
    return reference_features_params(config, wildcards["protocol"])


def _calibrate_settings(config: Mapping, wildcards: Mapping[str, str]) -> dict:
    return calibration_params(config, wildcards["component"], _calibration_scope(config, wildcards["component"]))


def _prune_settings(config: Mapping, wildcards: Mapping[str, str]) -> dict:
    spec = PruneSpec(wildcards["method"], wildcards["pattern"], float(wildcards["sparsity"]), wildcards["scope"])
    return prune_params(config, wildcards["component"], spec)


def _generate_images_settings(config: Mapping, wildcards: Mapping[str, str]) -> dict:
    return generation_params(config, int(wildcards["seed"]))


def _cliff_round_settings(config: Mapping, wildcards: Mapping[str, str]) -> dict:
    return cliff_params(config, wildcards["method"])


# rule -> its jobs' settings (config, wildcards) -> dict: the one table the rules and the cache read.
STAGE_SETTINGS: dict[str, Callable[[Mapping, Mapping[str, str]], dict]] = {
    "download_model": _settings_of_config(model_params),
    "download_fid_weights": _settings_of_config(fid_weights_params),
    "download_clip_weights": _settings_of_config(clip_weights_params),
    "download_coco_archive": _no_settings,
    "prepare_evaluation_prompts": _settings_of_config(evaluation_prompt_params),
    "prepare_calibration_prompts": _settings_of_config(calibration_prompt_params),
    "extract_reference_images": _settings_of_config(reference_images_params),
    "render_reference_scenes": _settings_of_config(reference_scenes_params),
    "calibrate": _calibrate_settings,
    "prune": _prune_settings,
    "generate_images": _generate_images_settings,
    "reference_features": _reference_features_settings,
    "score": _settings_of_config(score_params),
    "download_cmmd_weights": _settings_of_config(cmmd_weights_params),
    "download_image_reward_weights": _settings_of_config(image_reward_weights_params),
    "reference_embeddings": _settings_of_config(reference_embeddings_params),
    "score_image_reward": _settings_of_config(image_reward_params),
    "aggregate_tables": _settings_of_config(aggregate_params),
    "paper_tables": _settings_of_config(report_params),
    "figures": _settings_of_config(report_params),
    "published_comparison": _settings_of_config(published_comparison_params),
    "cliff_round": _cliff_round_settings,
    "cliff_series": _no_settings,
    "cliffs_table": _no_settings,
}


def expected_params(config: Mapping, rule: str, wildcards: Mapping[str, str]):
    """The params a rule's job gets under ``config``: what the rule passes, and what a cached artifact's
    record must match."""
    try:
        settings = STAGE_SETTINGS[rule]
    except KeyError:
        raise KeyError(f"no params known for rule {rule!r}") from None
    return settings(config, wildcards)


def _calibration_scope(config: Mapping, component: str) -> str:
    """Statistics cover convolutions too if any run prunes them in this component."""
    from sdprune.workflow.experiments import expand_runs

    scopes = {r.spec(component).scope for r in expand_runs(config) if r.spec(component)}
    return "linear+conv" if "linear+conv" in scopes else "linear"
