"""Config validation with one readable line per problem.

jsonschema's own messages for nested `oneOf` schemas run to pages; here each
error is reduced to its most specific cause and the key path it sits at.
`scene_problems` checks the toy scene world's combinations of data and scoring keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def load_config(configfile: str | Path, schema_path: str | Path) -> dict:
    """Read a workflow config, check it and fill in the schema's defaults, as the workflow does."""
    from snakemake.utils import validate

    from sdprune.workflow.experiments import check_config

    config = yaml.safe_load(Path(configfile).read_text())
    problems = schema_problems(config, schema_path)
    if not problems:
        validate(config, schema=str(schema_path))
        problems = check_config(config)
    if problems:
        raise ValueError(f"invalid config {configfile}:\n  - " + "\n  - ".join(problems))
    return config


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def schema_problems(config: dict, schema_path: str | Path) -> list[str]:
    """Every schema violation as 'key.path: message' (empty when the config is valid)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema: dict[str, Any] = yaml.safe_load(Path(schema_path).read_text())
    validator = Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        cause = best_match([error])
        keys = [str(part) for part in cause.absolute_path if not isinstance(part, int)]
        hint = _HINTS.get(keys[-1] if keys else "", "")
        problems.append(f"{_where(cause.absolute_path)}: {_message(cause)}{hint}")
    return problems


# What a key's value must look like, added to schema errors about it
_HINTS = {
    "sparsity": " (a sparsity must be in [0, 1))",
    "total_sparsity": " (a sparsity must be in [0, 1))",
    "ratio": " (a ratio gives the text:image shares, like '75:25')",
}


def _message(cause) -> str:
    """jsonschema's message, except for a value that is none of a `oneOf`'s types: jsonschema says only
    'not valid under any of the given schemas'; this names the types."""
    if cause.validator in ("oneOf", "anyOf") and cause.context and all(e.validator == "type" for e in cause.context):
        types = dict.fromkeys(str(t) for e in cause.context for t in _as_list(e.validator_value))
        return f"{cause.instance!r} is not of type " + " or ".join(repr(t) for t in types)
    return cause.message


def _as_list(value) -> list:
    return list(value) if isinstance(value, list) else [value]


def scene_problems(config: dict) -> list[str]:
    """Combinations of the scene world's data and scoring settings that cannot run, one line each.

    Reads keys with their schema defaults, so it also serves a config not yet filled in.
    """
    data, scoring = config.get("data", {}), config.get("scoring", {})
    evaluation = data.get("evaluation", {}).get("source", "coco")
    reference = scoring.get("fid_reference", "data")
    protocols = scoring.get("fid_protocol", "clean")
    problems = []
    if reference == "scenes" and evaluation != "scenes":
        problems.append(f"scoring.fid_reference: 'scenes' renders the evaluation prompts' scenes, which needs "
                        f"data.evaluation.source 'scenes' (got {evaluation!r}); use 'dense' (or 'data' with COCO prompts)")
    if reference == "data" and evaluation == "scenes":
        problems.append("scoring.fid_reference: 'data' means COCO's images, which scene-world prompts "
                        "(data.evaluation.source 'scenes') have none of; use 'scenes' (their exact renders) or 'dense'")
    if scoring.get("metric_weights") == "scenes" and "paper" in ([protocols] if isinstance(protocols, str) else protocols):
        problems.append("scoring.fid_protocol: 'paper' is the released code's procedure for pytorch-fid's Inception; "
                        "scoring.metric_weights 'scenes' (the scene feature network) has only the 'clean' protocol")
    cliff_metric = config.get("reporting", {}).get("cliff", {}).get("criterion", {}).get("metric", "fid")
    if cliff_metric.endswith("accuracy") and evaluation != "scenes":
        problems.append(f"reporting.cliff.criterion.metric: {cliff_metric!r} is judged only on scene-world captions "
                        f"(data.evaluation.source 'scenes'; got {evaluation!r}); use fid or clip_score")
    return problems
