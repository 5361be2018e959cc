"""From the config's experiment grids to the list of runs, and the checks a schema cannot make.

A run is one pruned pipeline: a `PruneSpec` per component (method, pattern,
sparsity, layer scope), or dense; its path is ``te=<slug>/unet=<slug>``.

An experiment either lists each component's sparsities (crossed), or gives a
full-model ``total_sparsity`` and a text:image ``ratio`` that `allocation.allocate`
turns into component sparsities; combinations no component can take are kept as
N/A rows with their reason.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from sdprune.pruning.allocation import Allocation, allocate
from sdprune.pruning.masks import Pattern, parse_pattern
from sdprune.pruning.spec import PruneSpec, sparsity_slug
from sdprune.pruning.methods import available_methods, parse_method
from sdprune.models.architectures import BUILT_IN, KNOWN_PARAMETER_COUNTS, built_in_parameter_counts
from sdprune.models.components import COMPONENTS, LAYER_SCOPES
from sdprune.workflow.validation import scene_problems

DENSE = "dense"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def spec_slug(spec: PruneSpec | None) -> str:
    return DENSE if spec is None else spec.slug


def parse_spec_slug(slug: str) -> PruneSpec | None:
    """A run's component slug: a `PruneSpec` slug, or ``dense`` (None)."""
    return None if slug == DENSE else PruneSpec.parse(slug)


@dataclass(frozen=True)
class Run:
    text_encoder: PruneSpec | None
    unet: PruneSpec | None
    seed: int = 0  # base seed of the run's images
    experiments: tuple[str, ...] = field(default=(), compare=False)
    allocations: tuple[str, ...] = field(default=(), compare=False)  # "total@text:image" that gave this run

    def spec(self, component: str) -> PruneSpec | None:
        return getattr(self, component)

    @property
    def key(self) -> tuple[str, str]:
        return spec_slug(self.text_encoder), spec_slug(self.unet)

    @property
    def is_dense(self) -> bool:
        return self.text_encoder is None and self.unet is None


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def method_scope(config: Mapping, method: str) -> str:
    """The layer scope of a grid that names none: the method's own (obs_diff: transformer), else
    the config's `pruning.layers`."""
    return parse_method(method).method.default_scope or config.get("pruning", {}).get("layers", "linear")


def component_specs(grid: Mapping | None, config: Mapping,
                    sparsities: Iterable[float] | None = None) -> list[PruneSpec | None]:
    """Every spec of one component's grid; ``sparsities`` overrides the grid's (allocations)."""
    if not grid:
        return [None]
    specs = []
    for method in _as_list(grid["method"]):
        for pattern, sparsity, scope in itertools.product(
            _as_list(grid.get("pattern", "unstructured")),
            _as_list(grid["sparsity"]) if sparsities is None else list(sparsities),
            _as_list(grid.get("layers", method_scope(config, method))),
        ):
            specs.append(PruneSpec(method, parse_pattern(pattern), float(sparsity), scope))
    return specs


def model_parameter_counts(config: Mapping) -> dict[str, int]:
    """Component sizes for full-model allocation, known before the model is downloaded."""
    model = config["model"]
    if model.get("parameter_counts"):
        return dict(model["parameter_counts"])
    if model["source"] in BUILT_IN:
        return built_in_parameter_counts(model["source"])
    if model["source"] in KNOWN_PARAMETER_COUNTS:
        return dict(KNOWN_PARAMETER_COUNTS[model["source"]])
    raise ValueError(f"model.parameter_counts: the sizes of {model['source']!r} are not known; "
                     "give them in the config to allocate a total sparsity")


def allocations(config: Mapping, experiment: Mapping) -> list[Allocation]:
    counts = model_parameter_counts(config)
    rounding = experiment.get("rounding", 0.01)
    return [allocate(float(total), ratio, counts, rounding=rounding)
            for total in _as_list(experiment["total_sparsity"]) for ratio in _as_list(experiment["ratio"])]


def _experiment_pairs(config: Mapping, experiment: Mapping):
    """(text spec, unet spec, allocation label) for every run an experiment asks for."""
    if experiment.get("zip"):  # paired sparsities: the i-th text encoder value with the i-th U-Net value
        text_grid, unet_grid = experiment["text_encoder"], experiment["unet"]
        for text_s, unet_s in zip(_as_list(text_grid["sparsity"]), _as_list(unet_grid["sparsity"])):
            for text, unet in itertools.product(component_specs(text_grid, config, [text_s]),
                                                component_specs(unet_grid, config, [unet_s])):
                yield text, unet, None
        return
    if "total_sparsity" not in experiment:
        for text, unet in itertools.product(component_specs(experiment.get("text_encoder"), config),
                                            component_specs(experiment.get("unet"), config)):
            yield text, unet, None
        return
    for allocation in allocations(config, experiment):
        if not allocation.feasible:
            continue
        label = f"{sparsity_slug(allocation.total)}@{allocation.ratio}"
        for text, unet in itertools.product(
            component_specs(experiment["text_encoder"], config, [allocation.text_encoder]),
            component_specs(experiment["unet"], config, [allocation.unet]),
        ):
            yield text, unet, label


def experiment_kinds(config: Mapping) -> dict[str, str]:
    """name -> "grid", "allocation" (total_sparsity + ratio) or "zip" (paired sparsities)."""
    return {e["name"]: "allocation" if "total_sparsity" in e else "zip" if e.get("zip") else "grid"
            for e in config["experiments"]}


def expand_runs(config: Mapping) -> list[Run]:
    """Every run the config asks for, dense baseline first, each once (experiments merged).

    All runs use the config's seed; the dense model is also run at every seed of
    ``scoring.seed_variance``, which gives the noise level of the metrics.
    """
    seed = int(config.get("seed", 0))
    found: dict[tuple[str, str], dict] = {(DENSE, DENSE): {"specs": (None, None), "names": ["dense"], "alloc": []}}
    for experiment in config["experiments"]:
        for text, unet, label in _experiment_pairs(config, experiment):
            entry = found.setdefault((spec_slug(text), spec_slug(unet)), {"specs": (text, unet), "names": [], "alloc": []})
            if experiment["name"] not in entry["names"]:
                entry["names"].append(experiment["name"])
            if label and label not in entry["alloc"]:
                entry["alloc"].append(label)
    runs = [Run(*e["specs"], seed, experiments=tuple(e["names"]), allocations=tuple(e["alloc"])) for e in found.values()]
    extra = [s for s in config.get("scoring", {}).get("seed_variance", []) if s != seed]
    return runs + [Run(None, None, int(s), experiments=("seed_variance",)) for s in dict.fromkeys(extra)]


def infeasible_allocations(config: Mapping) -> list[dict]:
    """The N/A cells: allocations no component can take, with the reason."""
    rows = []
    for experiment in config["experiments"]:
        if "total_sparsity" in experiment:
            for allocation in allocations(config, experiment):
                if not allocation.feasible:
                    rows.append({"experiment": experiment["name"], "total": allocation.total,
                                 "ratio": allocation.ratio, "reason": allocation.reason})
    return rows


def pruned_components(runs: Iterable[Run]) -> set[tuple[str, PruneSpec]]:
    return {(c, r.spec(c)) for r in runs for c in COMPONENTS if r.spec(c) is not None}


def _check_model(config: Mapping) -> list[str]:
    source = config["model"]["source"]
    looks_like_path = source.startswith((".", "/", "~"))
    if looks_like_path and not Path(source).expanduser().is_dir():
        return [f"model.source: local model folder {source!r} does not exist"]
    if not looks_like_path and source not in BUILT_IN and not _HUB_ID.match(source):
        return [f"model.source: {source!r} is neither a built-in model ({', '.join(sorted(BUILT_IN))}) "
                "nor a Hugging Face id like 'stabilityai/stable-diffusion-2'"]
    return []


def _check_scheduler(config: Mapping) -> list[str]:
    name = config.get("generation", {}).get("scheduler")
    if name is None:
        return []
    import diffusers  # lazy: only the named class's module is imported

    if not name.endswith("Scheduler") or not hasattr(getattr(diffusers, name, None), "from_config"):
        return [f"generation.scheduler: unknown diffusers scheduler {name!r} (e.g. DDIMScheduler, "
                "EulerDiscreteScheduler; null keeps the model's own)"]
    return []


def _check_grid(where: str, grid: Mapping, allocated: bool) -> list[str]:
    problems = []
    methods = _as_list(grid["method"])
    for method in methods:
        if method not in available_methods():
            problems.append(f"{where}.method: unknown method {method!r} (known: {', '.join(available_methods())})")
    for scope in _as_list(grid.get("layers", "linear")):
        if scope not in LAYER_SCOPES:
            problems.append(f"{where}.layers: unknown layer scope {scope!r} (known: {', '.join(LAYER_SCOPES)})")
    if allocated and "sparsity" in grid:
        problems.append(f"{where}.sparsity: set by total_sparsity and ratio in this experiment; remove it")
    if not allocated and "sparsity" not in grid:
        problems.append(f"{where}.sparsity: missing (or give the experiment total_sparsity and ratio)")
    for pattern_text in _as_list(grid.get("pattern", "unstructured")):
        try:
            pattern = parse_pattern(pattern_text)
        except ValueError as error:
            problems.append(f"{where}.pattern: {error}")
            continue
        if pattern.n_m and any(m in available_methods() and parse_method(m).plan != "uniform" for m in methods):
            problems.append(f"{where}: an OWL plan varies sparsity per layer and cannot use the N:M pattern {pattern}")
        if pattern.n_m and allocated:
            problems.append(f"{where}: an allocated sparsity cannot be held to the N:M pattern {pattern}")
        problems += _spec_problems(where, pattern, _as_list(grid.get("sparsity", [])))
    return problems


def _spec_problems(where: str, pattern: Pattern, sparsities: list) -> list[str]:
    """What `PruneSpec` itself rejects: a sparsity outside [0, 1), or one an N:M pattern cannot prune."""
    problems = []
    for sparsity in sparsities:
        try:
            PruneSpec("any", pattern, sparsity)  # the method and scope are checked above
        except ValueError as error:
            problems.append(f"{where}: {error}")
    return problems


def check_config(config: Mapping) -> list[str]:
    """Problems the JSON schema cannot see. An empty list means the config is usable."""
    problems = _check_model(config) + _check_scheduler(config)
    for experiment in config["experiments"]:
        where = f"experiments[{experiment['name']}]"
        allocated = "total_sparsity" in experiment
        if allocated and not all(experiment.get(c) for c in COMPONENTS):
            problems.append(f"{where}: total_sparsity needs a method for both text_encoder and unet")
        if not any(experiment.get(c) for c in COMPONENTS):
            problems.append(f"{where}: prunes neither text_encoder nor unet")
        for component in COMPONENTS:
            if experiment.get(component):
                problems += _check_grid(f"{where}.{component}", experiment[component], allocated)
        if experiment.get("zip"):
            lengths = [len(_as_list(experiment.get(c, {}).get("sparsity", []))) for c in COMPONENTS]
            if allocated or 0 in lengths or lengths[0] != lengths[1]:
                problems.append(f"{where}.zip: needs text_encoder and unet sparsity lists of the same length "
                                f"(got {lengths[0]} and {lengths[1]})")
        if allocated and ("ratio" not in experiment):
            problems.append(f"{where}: total_sparsity needs a text:image ratio")
        elif allocated and not problems:  # an unknown model has no known sizes: one problem, said once
            try:
                allocations(config, experiment)
            except ValueError as error:
                problems.append(f"{where}: {error}")
    if problems:  # the checks below expand the grids, which needs valid specs
        return problems
    names = [e["name"] for e in config["experiments"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"experiments: duplicate names {duplicates}")
    data = config.get("data", {})
    evaluation, calibration = data.get("evaluation", {}), data.get("calibration", {})
    if evaluation.get("source") == "file" and not evaluation.get("file"):
        problems.append("data.evaluation.file: source is 'file' but no file is given")
    if calibration.get("source") == "file" and not calibration.get("file") and needs_calibration(config):
        problems.append("data.calibration.file: source is 'file' but no file is given")
    if calibration.get("source") == "huggingface" and not calibration.get("dataset") and needs_calibration(config):
        problems.append("data.calibration.dataset: source is 'huggingface' but no dataset is given")
    for key in ("evaluation", "calibration"):
        path = data.get(key, {}).get("file")
        if path and not Path(path).is_file():
            problems.append(f"data.{key}.file: {path!r} does not exist")
    reward_python = config.get("scoring", {}).get("image_reward_python")
    if config.get("scoring", {}).get("image_reward") and reward_python and not Path(reward_python).is_file():
        problems.append(f"scoring.image_reward_python: {reward_python!r} does not exist "
                        "(make venv-image-reward creates .venv-image-reward/bin/python; envs/README.md)")
    if config.get("scoring", {}).get("fid_reference") == "data" and evaluation.get("source") == "file":
        problems.append("scoring.fid_reference: 'data' needs reference images, which a prompt file has none of; "
                        "use 'dense' or data.evaluation.source 'coco'")
    return problems + scene_problems(config)


def needs_calibration(config: Mapping) -> bool:
    """True if any run uses a method (or plan) that needs activation statistics."""
    return any(parse_method(spec.method).statistics is not None for _, spec in pruned_components(expand_runs(config)))
