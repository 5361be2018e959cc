"""Published numbers beside ours, for a publication that reports one row per (method, pattern, sparsity).

`data/published/` holds two shapes of file (its README describes each):

- ``paper_grid``: Ramesh & Zhao's configurations (text method, text and U-Net sparsities), which the
  paper tables (`paper_tables`) are keyed to;
- ``method_rows``: a row per U-Net method, pattern and sparsity (OBS-Diff's SD 2.1-base table: fid,
  clip_score, image_reward), which `comparison_table` puts beside our U-Net-only runs.

`published_kind` tells them apart by their columns, so the workflow picks the table from the file the
config names (`reporting.published`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from sdprune.io import write_text
from sdprune.pruning.masks import parse_pattern
from sdprune.reporting.tables import to_markdown

SHAPES = {"paper_grid": {"text_method", "text_sparsity", "unet_sparsity", "fid", "clip_score"},
          "method_rows": {"method", "pattern", "sparsity"}}
METRICS = ("fid", "clip_score", "image_reward")  # compared where both sides have the column
OUR_METHOD_NAMES = {"obs-diff": "obs_diff"}  # a publication's spelling -> the method's name here
DENSE_KEY = ("dense", "", 0.0)


def published_kind(path: str | Path) -> str:
    """``paper_grid`` or ``method_rows``, from the file's header; ValueError for anything else."""
    columns = set(pd.read_csv(path, nrows=0).columns)
    for kind, required in SHAPES.items():
        if required <= columns:
            return kind
    raise ValueError(f"{path}: columns {sorted(columns)} are of no known published shape "
                     f"({'; '.join(f'{k}: {sorted(v)}' for k, v in SHAPES.items())})")


def match_key(method: str, pattern: str, sparsity: float) -> tuple[str, str, float]:
    """(method, pattern slug, sparsity) in one spelling for ours and theirs: 'obs-diff' is obs_diff, '2:4' is
    2of4, and a dense model is one key whatever its pattern column says."""
    method = OUR_METHOD_NAMES.get(str(method), str(method))
    if method == "dense":
        return DENSE_KEY
    return method, parse_pattern(str(pattern)).slug, round(float(sparsity), 4)


def unet_only_runs(runs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Our finished runs at ``seed`` with a dense text encoder (what a U-Net-only publication reports)."""
    chosen = runs[(runs.status == "ok") & (runs.seed == seed) & (runs.text_method == "dense")]
    return chosen.reset_index(drop=True)


def comparison_table(runs: pd.DataFrame, published: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """Our U-Net-only runs at ``seed``, each with the published row of the same method, pattern and sparsity:
    per metric ours, `<metric>_published` and `<metric>_difference` (ours - published). Published rows no run
    matches follow, with our columns empty. Layers: the scope our run pruned (theirs: see the file's README)."""
    ours = unet_only_runs(runs, seed)
    theirs = {match_key(r.method, r.pattern, r.sparsity): r for r in published.itertuples(index=False)}
    metrics = [m for m in METRICS if m in published]
    rows, matched = [], set()
    for run in ours.itertuples(index=False):
        key = match_key(run.unet_method, run.unet_pattern, run.unet_sparsity)
        hit = theirs.get(key)
        if hit is not None:
            matched.add(key)
        row = {"method": key[0], "pattern": key[1], "sparsity": key[2], "layers": run.unet_layers}
        for metric in metrics:
            value = float(getattr(run, metric)) if metric in ours else math.nan
            reported = float(getattr(hit, metric)) if hit is not None else math.nan
            row.update({metric: value, f"{metric}_published": reported, f"{metric}_difference": value - reported})
        rows.append(row)
    for key, hit in theirs.items():
        if key not in matched:
            row = {"method": key[0], "pattern": key[1], "sparsity": key[2], "layers": ""}
            for metric in metrics:
                row.update({metric: math.nan, f"{metric}_published": float(getattr(hit, metric)),
                            f"{metric}_difference": math.nan})
            rows.append(row)
    columns = ["method", "pattern", "sparsity", "layers"] + [f"{m}{s}" for m in metrics
                                                               for s in ("", "_published", "_difference")]
    return pd.DataFrame(rows, columns=columns)


def comparison_heading(*, published_name: str, fid_protocol: str, num_images: int | None) -> str:
    """What the table compares, and why its FIDs are not like with like."""
    images = f"{num_images} images" if num_images else "our evaluation set"
    return (f"**Published values beside ours** ({published_name}; ours: U-Net-only runs, dense text encoder, "
            f"base seed). `_difference` is ours - published.\n\n"
            f"Protocols differ: our FID is `{fid_protocol}` FID on {images}; the publication's FID implementation, "
            "prompt set and image count are its own (data/published/README.md), so compare each method's "
            "direction against dense, not the values. CLIP score and ImageReward depend on the prompts too.\n\n")


def write_comparison(table: pd.DataFrame, *, csv_path: str | Path, markdown_path: str | Path, heading: str) -> None:
    from sdprune.io import atomic_path

    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    write_text(markdown_path, heading + to_markdown(table))
