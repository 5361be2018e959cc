"""The results table: one tidy row per run, from each run's generation record and scores."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from sdprune.pruning.spec import PruneSpec
from sdprune.io import atomic_path, read_json, write_text
from sdprune.models.components import COMPONENTS
from sdprune.reporting.metrics import ACCURACY_METRICS, OPTIONAL_METRICS

SHORT = {"text_encoder": "text", "unet": "unet"}  # a component's column prefix
OTHER = {"text_encoder": "unet", "unet": "text"}  # the other component's column prefix
# Columns that hold text; a column left empty in every row must still read back as text, not NaN floats.
TEXT_COLUMNS = ("model", "text_spec", "unet_spec", "experiments", "allocation", "status", "text_method",
                "text_pattern", "text_layers", "unet_method", "unet_pattern", "unet_layers", "fid_protocol",
                "efficiency_device")


def read_runs(path: str | Path) -> pd.DataFrame:
    """The runs table as `write_table` wrote it, text columns as strings ("" where empty)."""
    runs = pd.read_csv(path)
    text = [column for column in TEXT_COLUMNS if column in runs]
    runs[text] = runs[text].astype(object).fillna("").astype(str)  # all-empty columns read as float NaN
    return runs


def run_row(model: str, run: dict, record: dict, scores: dict) -> dict:
    accounting = record["accounting"]
    row: dict = {"model": model, "text_spec": run["text_encoder"], "unet_spec": run["unet"],
                 "experiments": ";".join(run["experiments"]),
                 "allocation": ";".join(run.get("allocations", [])), "status": "ok"}
    for component in COMPONENTS:
        spec = None if run[component] == "dense" else PruneSpec.parse(run[component])
        measured = accounting["components"][component]
        short = SHORT[component]
        row[f"{short}_method"] = spec.method if spec else "dense"
        row[f"{short}_pattern"] = spec.pattern.slug if spec else ""
        row[f"{short}_layers"] = spec.scope if spec else ""
        row[f"{short}_sparsity"] = spec.sparsity if spec else 0.0
        row[f"{short}_realised"] = measured["realised_sparsity"]
    row.update(
        nominal_full_sparsity=accounting["nominal_full_sparsity"],
        true_full_sparsity=accounting["true_full_sparsity"],
        fid=scores["fid"],
        clip_score=scores["clip_score"],
        **scene_accuracies(scores),
        **optional_metrics(scores),
        num_images=scores["num_images"],
        fid_protocol=scores.get("fid_protocol", "clean"),
        **other_protocols_fid(scores),
        clip_image_similarity=scores.get("paired_with_dense", {}).get("clip_image_similarity_mean"),
        ssim=scores.get("paired_with_dense", {}).get("ssim_mean"),
        psnr_median=scores.get("paired_with_dense", {}).get("psnr_median"),
        seed=record["generation"]["seed"],
        num_steps=record["generation"]["num_steps"],
        guidance_scale=record["generation"]["guidance_scale"],
        generate_seconds=record["seconds"],
        score_seconds=scores["seconds"],
        **step_efficiency(record),
    )
    return row


def step_efficiency(record: dict) -> dict:
    """The U-Net's size, counted GFLOPs per step and measured speedup over dense, where the run measured
    them (generation records before this measurement have none: no columns)."""
    cost = record.get("efficiency")
    if not cost:
        return {}
    return {"unet_parameters": cost["parameters"], "unet_nonzero_parameters": cost["nonzero_parameters"],
            "gflops_per_step": cost["flops_per_step"] / 1e9, "ms_per_step": 1000 * cost["seconds_per_step"],
            "speedup": cost["speedup"], "efficiency_device": cost.get("device", ""),
            # 2:4 runs on a GPU: the same U-Net with PyTorch's semi-structured kernels
            "speedup_semi_structured": (cost.get("semi_structured") or {}).get("speedup", float("nan"))}


def other_protocols_fid(scores: dict) -> dict:
    """`fid_<protocol>` for every protocol scored besides the primary (whose value is `fid`)."""
    primary = scores.get("fid_protocol", "clean")
    return {f"fid_{protocol}": value for protocol, value in scores.get("fid_by_protocol", {}).items()
            if protocol != primary}


def scene_accuracies(scores: dict) -> dict:
    """The judge's accuracies, where the prompts were scene captions (other prompt sets have none:
    no column, so their tables stay as they were)."""
    return {name: scores[name] for name in ACCURACY_METRICS if name in scores}


def optional_metrics(scores: dict) -> dict:
    """CMMD and ImageReward where the run was scored with them (no column otherwise, as for the accuracies)."""
    return {name: scores[name] for name in OPTIONAL_METRICS if name in scores}


def has_values(table: pd.DataFrame, column: str) -> bool:
    """Whether any row of the table has a value in ``column`` (a metric some runs were scored with)."""
    return column in table and bool(table[column].notna().any())


def infeasible_row(model: str, item: dict) -> dict:
    """An N/A row: a full-model allocation no component can take, with the reason."""
    return {"model": model, "experiments": item["experiment"], "allocation": f"{item['total']:g}@{item['ratio']}",
            "status": f"N/A: {item['reason']}", "nominal_full_sparsity": item["total"]}


def runs_table(*, model: str, runs: Sequence[dict], records: Sequence[str | Path], scores: Sequence[str | Path],
               infeasible: Sequence[dict] = ()) -> pd.DataFrame:
    """runs, records and scores are parallel lists (one entry per run, same order)."""
    if not len(runs) == len(records) == len(scores):
        raise ValueError("runs, records and scores must have the same length")
    rows = [run_row(model, run, read_json(r), read_json(s)) for run, r, s in zip(runs, records, scores)]
    rows += [infeasible_row(model, item) for item in infeasible]
    table = pd.DataFrame(rows)
    return table.sort_values(["text_method", "text_sparsity", "unet_method", "unet_sparsity", "seed"], kind="stable",
                             ignore_index=True)


def to_markdown(table: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-style Markdown table (no extra dependency)."""
    def cell(value) -> str:
        if isinstance(value, float) and value != value:  # NaN: not applicable
            return ""
        if isinstance(value, float):
            return format(value, floatfmt)
        return str(value)

    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def write_table(table: pd.DataFrame, *, csv_path: str | Path, markdown_path: str | Path | None = None) -> None:
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    if markdown_path:
        write_text(markdown_path, to_markdown(table))
