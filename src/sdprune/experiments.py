"""From the config's experiment grids to the list of runs, and the checks a schema cannot make.

A run is one pruned pipeline: a spec per component (method, pattern, sparsity),
or dense. Specs have path-safe slugs: ``magnitude-unstructured-0.5``, ``dense``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .masks import parse_pattern
from .methods import available_methods, get_method
from .models.architectures import BUILT_IN
from .models.components import COMPONENTS

DENSE = "dense"
_SPEC = re.compile(r"^(?P<method>[a-z][a-z0-9_]*)-(?P<pattern>unstructured|\d+of\d+)-(?P<sparsity>0(\.\d+)?)$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def sparsity_slug(value: float) -> str:
    """Shortest stable text for a sparsity: 0.5 -> '0.5', 0.1 + 0.2 -> '0.3'."""
    return f"{float(value):.6g}"


@dataclass(frozen=True, order=True)
class ComponentSpec:
    method: str
    pattern: str  # path form: unstructured, 2of4
    sparsity: float

    @property
    def slug(self) -> str:
        return f"{self.method}-{self.pattern}-{sparsity_slug(self.sparsity)}"

    @classmethod
    def parse(cls, slug: str) -> "ComponentSpec | None":
        if slug == DENSE:
            return None
        match = _SPEC.match(slug)
        if not match:
            raise ValueError(f"not a component spec: {slug!r}")
        return cls(match["method"], match["pattern"], float(match["sparsity"]))


def spec_slug(spec: ComponentSpec | None) -> str:
    return DENSE if spec is None else spec.slug


@dataclass(frozen=True)
class Run:
    text_encoder: ComponentSpec | None
    unet: ComponentSpec | None
    experiments: tuple[str, ...] = field(default=(), compare=False)

    def spec(self, component: str) -> ComponentSpec | None:
        return getattr(self, component)

    @property
    def key(self) -> tuple[str, str]:
        return spec_slug(self.text_encoder), spec_slug(self.unet)

    @property
    def is_dense(self) -> bool:
        return self.text_encoder is None and self.unet is None


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def component_specs(grid: dict | None) -> list[ComponentSpec | None]:
    if not grid:
        return [None]
    specs = []
    for method, pattern, sparsity in itertools.product(
        _as_list(grid["method"]), _as_list(grid.get("pattern", "unstructured")), _as_list(grid["sparsity"])
    ):
        specs.append(ComponentSpec(method, parse_pattern(pattern).slug, float(sparsity)))
    return specs


def expand_runs(config: dict) -> list[Run]:
    """Every run the config asks for, dense baseline first, each once (experiments merged)."""
    runs: dict[tuple[str, str], list[str]] = {(DENSE, DENSE): ["dense"]}
    specs_by_key: dict[tuple[str, str], tuple] = {(DENSE, DENSE): (None, None)}
    for experiment in config["experiments"]:
        for text, unet in itertools.product(component_specs(experiment.get("text_encoder")),
                                            component_specs(experiment.get("unet"))):
            key = (spec_slug(text), spec_slug(unet))
            specs_by_key.setdefault(key, (text, unet))
            names = runs.setdefault(key, [])
            if experiment["name"] not in names:
                names.append(experiment["name"])
    return [Run(*specs_by_key[key], experiments=tuple(names)) for key, names in runs.items()]


def pruned_components(runs: Iterable[Run]) -> set[tuple[str, ComponentSpec]]:
    return {(c, r.spec(c)) for r in runs for c in COMPONENTS if r.spec(c) is not None}


def check_config(config: dict) -> list[str]:
    """Problems the JSON schema cannot see. An empty list means the config is usable."""
    problems: list[str] = []
    source = config["model"]["source"]
    looks_like_path = source.startswith((".", "/", "~"))
    if looks_like_path and not Path(source).expanduser().is_dir():
        problems.append(f"model.source: local model folder {source!r} does not exist")
    elif not looks_like_path and source not in BUILT_IN and not _HUB_ID.match(source):
        problems.append(
            f"model.source: {source!r} is neither a built-in model ({', '.join(sorted(BUILT_IN))}) "
            "nor a Hugging Face id like 'stabilityai/stable-diffusion-2'"
        )
    for experiment in config["experiments"]:
        where = f"experiments[{experiment['name']}]"
        if not any(experiment.get(c) for c in COMPONENTS):
            problems.append(f"{where}: prunes neither text_encoder nor unet")
        for component in COMPONENTS:
            grid = experiment.get(component)
            if not grid:
                continue
            for method in _as_list(grid["method"]):
                if method not in available_methods():
                    problems.append(f"{where}.{component}.method: unknown method {method!r} "
                                    f"(known: {', '.join(available_methods())})")
            for pattern_text in _as_list(grid.get("pattern", "unstructured")):
                try:
                    pattern = parse_pattern(pattern_text)
                except ValueError as error:
                    problems.append(f"{where}.{component}.pattern: {error}")
                    continue
                for sparsity in _as_list(grid["sparsity"]):
                    if not 0 <= sparsity < 1:
                        problems.append(f"{where}.{component}.sparsity: {sparsity} is outside [0, 1)")
                    elif pattern.structured and abs(sparsity - pattern.sparsity) > 1e-9:
                        problems.append(f"{where}.{component}: pattern {pattern} prunes exactly "
                                        f"{pattern.sparsity:g}, not {sparsity:g}")
    if problems:  # the checks below expand the grids, which needs valid specs
        return problems
    names = [e["name"] for e in config["experiments"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"experiments: duplicate names {duplicates}")
    evaluation = config.get("data", {}).get("evaluation", {})
    if evaluation.get("source") == "file" and not evaluation.get("file"):
        problems.append("data.evaluation.file: source is 'file' but no file is given")
    calibration = config.get("data", {}).get("calibration", {})
    if calibration.get("source") == "file" and not calibration.get("file") and needs_calibration(config):
        problems.append("data.calibration.file: source is 'file' but no file is given")
    for key in ("evaluation", "calibration"):
        path = config.get("data", {}).get(key, {}).get("file")
        if path and not Path(path).is_file():
            problems.append(f"data.{key}.file: {path!r} does not exist")
    if config.get("scoring", {}).get("fid_reference") == "data" and evaluation.get("source") == "file":
        problems.append("scoring.fid_reference: 'data' needs reference images, which a prompt file has none of; "
                        "use 'dense' or data.evaluation.source 'coco'")
    return problems


def needs_calibration(config: dict) -> bool:
    """True if any run uses a method that needs activation statistics."""
    for _, spec in pruned_components(expand_runs(config)):
        if spec.method in available_methods() and get_method(spec.method).statistics is not None:
            return True
    return False
