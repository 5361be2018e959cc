"""The paper's figures from the runs table and the runs' showcase images (matplotlib, PNG + PDF).

- sparsity curves: FID and CLIP score against one component's sparsity, per method
  (the paper's Figures 1, 3, 5, 7 and 10), with the dense model's seed spread as a band;
- method comparison on one component (Figure 9);
- prompt faithfulness (the scene world's accuracies) against one component's sparsity, every method
  on one axis, where the prompts were scene captions;
- the threshold approach: both components stepped down together (Figure 12);
- image grids: the showcase prompts across sparsities, the same seed per prompt
  (Figures 2, 4, 6, 8, 11, 13 and 14).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on GPU nodes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from sdprune.evaluation.generation import image_name  # noqa: E402
from sdprune.io import atomic_path  # noqa: E402
from sdprune.reporting.paper_tables import (base_runs, dense_noise, dense_runs, experiments_of_kind,  # noqa: E402
                                            in_experiments, paper_protocol_view)
from sdprune.reporting.metrics import ACCURACY_METRICS  # noqa: E402
from sdprune.reporting.tables import OTHER, SHORT, has_values  # noqa: E402


def save(fig, out_dir: Path, name: str) -> list[Path]:
    paths = []
    for ext in ("png", "pdf"):
        with atomic_path(out_dir / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        paths.append(out_dir / f"{name}.{ext}")
    plt.close(fig)
    return paths


def metric_axes():
    """A figure with FID on the left and CLIP score on the right."""
    return plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")


def spoken(component: str) -> str:
    return component.replace("_", " ")


def single_component(runs: pd.DataFrame, component: str, method: str) -> pd.DataFrame:
    """Runs pruning only ``component`` with ``method`` (dense other component), plus the dense run at 0."""
    short, other = SHORT[component], OTHER[component]
    rows = runs[(runs[f"{other}_method"] == "dense") &
                ((runs[f"{short}_method"] == method) | (runs[f"{short}_method"] == "dense"))]
    return rows.sort_values(f"{short}_sparsity")


def single_component_methods(runs: pd.DataFrame, component: str) -> list[str]:
    """The methods with runs pruning only ``component`` (the other one dense)."""
    short, other = SHORT[component], OTHER[component]
    single = runs[(runs[f"{other}_method"] == "dense") & (runs[f"{short}_method"] != "dense")]
    return sorted(single[f"{short}_method"].unique())


def _dense_band(ax, noise: Mapping, column: str) -> None:
    """Dense mean ± 2 sd over seeds (not for a self-referenced FID, whose base value is 0 by construction)."""
    mean, std = noise[f"{column}_mean"], noise[f"{column}_std"]
    if column == "fid" and noise.get("fid_self_referenced"):
        return
    if noise["seeds"] > 1 and std == std:
        ax.axhspan(mean - 2 * std, mean + 2 * std, color="grey", alpha=0.2, label=f"dense ±2 sd ({noise['seeds']} seeds)")


def sparsity_curves(runs: pd.DataFrame, noise: Mapping, component: str, method: str, out_dir: Path,
                    published: pd.DataFrame | None = None, compare_fid: bool = True) -> list[Path]:
    """FID and CLIP score against sparsity; published curves beside ours where the protocols match."""
    rows = single_component(runs, component, method)
    x = rows[f"{SHORT[component]}_sparsity"] * 100
    fig, (ax_fid, ax_clip) = metric_axes()
    for ax, column in ((ax_fid, "fid"), (ax_clip, "clip_score")):
        ax.plot(x, rows[column], "o-", label="ours")
        _dense_band(ax, noise, "fid" if column == "fid" else "clip")
        if published is not None and (column != "fid" or compare_fid):
            pub = _published_series(published, component, method)
            if len(pub):
                ax.plot(pub.x * 100, pub[column], "s--", alpha=0.7, label="published")
    _label_sparsity_axes(ax_fid, ax_clip, component)
    fig.suptitle(f"Pruning only the {spoken(component)}: {method}")
    return save(fig, out_dir, f"curves-{component}-{method}")


def _label_sparsity_axes(ax_fid, ax_clip, component: str) -> None:
    for ax, label in ((ax_fid, "FID"), (ax_clip, "CLIP score")):
        ax.set_xlabel(f"{spoken(component)} sparsity (%)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_fid.legend(fontsize=8)


def _published_series(published: pd.DataFrame, component: str, method: str) -> pd.DataFrame:
    if component == "text_encoder":
        rows = published[(published.unet_sparsity == 0) & (published.text_method == method)]
        return rows.assign(x=rows.text_sparsity).sort_values("x")
    rows = published[(published.text_sparsity == 0) & (published.text_method == "magnitude")]
    return rows.assign(x=rows.unet_sparsity).sort_values("x")


def method_comparison(runs: pd.DataFrame, noise: Mapping, component: str, methods: Sequence[str],
                      out_dir: Path) -> list[Path]:
    fig, (ax_fid, ax_clip) = metric_axes()
    for method in methods:
        rows = single_component(runs, component, method)
        x = rows[f"{SHORT[component]}_sparsity"] * 100
        ax_fid.plot(x, rows.fid, "o-", label=method)
        ax_clip.plot(x, rows.clip_score, "o-", label=method)
    _dense_band(ax_fid, noise, "fid")
    _dense_band(ax_clip, noise, "clip")
    _label_sparsity_axes(ax_fid, ax_clip, component)
    fig.suptitle(f"Methods compared on the {spoken(component)}")
    return save(fig, out_dir, f"methods-{component}")


def accuracy_comparison(runs: pd.DataFrame, component: str, methods: Sequence[str], out_dir: Path) -> list[Path]:
    """Prompt accuracy, then each criterion's accuracy, against sparsity: one panel per metric, one line
    per method, the dense model's value dashed. Nothing is drawn for runs scored on other prompts."""
    metrics = [name for name in ACCURACY_METRICS if has_values(runs, name)]
    if "prompt_accuracy" not in metrics or not methods:
        return []
    columns = min(3, len(metrics))
    rows_of_panels = -(-len(metrics) // columns)  # ceiling division
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(3.6 * columns, 3.0 * rows_of_panels), sharex=True,
                             sharey=True, squeeze=False, layout="constrained")
    dense = dense_runs(runs)
    for ax, metric in zip(axes.flat, metrics):
        for method in methods:
            rows = single_component(runs, component, method)
            ax.plot(rows[f"{SHORT[component]}_sparsity"] * 100, rows[metric], "o-", label=method)
        if len(dense):
            ax.axhline(float(dense[metric].iloc[0]), color="grey", linestyle="--", label="dense")
        ax.set_title("prompt (all of it right)" if metric == "prompt_accuracy" else metric.replace("_", " "),
                     fontsize=9)
        ax.set_ylim(-0.02, 1.02)  # accuracies: the whole range, so panels compare at a glance
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"{spoken(component)} sparsity (%)")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Prompt faithfulness, methods compared on the {spoken(component)}")
    return save(fig, out_dir, f"accuracy-{component}")


def threshold_curve(rows: pd.DataFrame, noise: Mapping, text_method: str, out_dir: Path) -> list[Path]:
    rows = rows.sort_values("nominal_full_sparsity")
    fig, (ax_fid, ax_clip) = metric_axes()
    for ax, column, label, band in ((ax_fid, "fid", "FID", "fid"), (ax_clip, "clip_score", "CLIP score", "clip")):
        ax.plot(rows.nominal_full_sparsity * 100, rows[column], "o-")
        for _, row in rows.iterrows():
            ax.annotate(f"{row.text_sparsity:.3g}/{row.unet_sparsity:.3g}", (row.nominal_full_sparsity * 100, row[column]),
                        fontsize=6, alpha=0.7)
        _dense_band(ax, noise, band)
        ax.set_xlabel("nominal full-model sparsity (%)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Stepping both components down from their thresholds (text: {text_method})")
    return save(fig, out_dir, f"thresholds-{text_method}")


def speed_quality(runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Each U-Net-pruned run's measured speedup over dense against its quality: what a pruned model buys.

    Masks alone (unstructured, N:M on dense kernels) sit at a speedup of about 1 whatever their
    sparsity; only physically smaller U-Nets (structured) or sparse kernels move right.
    """
    rows = runs[(runs.text_method == "dense") & runs.speedup.notna()]
    metrics = ["fid"] + (["prompt_accuracy"] if has_values(rows, "prompt_accuracy") else [])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method, group in rows.groupby("unet_method"):
            ax.scatter(group.speedup, group[metric], label=method, s=18)
            for _, row in group.iterrows():
                ax.annotate(row.unet_spec if method != "dense" else "dense", (row.speedup, row[metric]),
                            fontsize=5, alpha=0.7)
        ax.axvline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(f"U-Net speedup over dense, measured per step ({rows.efficiency_device.iloc[0]})")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("What pruning the U-Net buys: measured speed against quality")
    return save(fig, out_dir, "speed-quality-unet")


def image_grid(columns: Sequence[tuple[str, Path]], prompts: Sequence[str], out_dir: Path, name: str,
               title: str) -> list[Path]:
    """Rows: prompts; columns: runs (label, showcase folder). Same seed per prompt in every column."""
    fig, axes = plt.subplots(len(prompts), len(columns), figsize=(1.6 * len(columns), 1.6 * len(prompts)),
                             squeeze=False)
    for j, (label, folder) in enumerate(columns):
        for i, prompt in enumerate(prompts):
            ax = axes[i][j]
            ax.imshow(Image.open(Path(folder) / image_name(i)))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(label, fontsize=8)
            if j == 0:  # wrapped: a scene caption is longer than an image is tall
                ax.set_ylabel(textwrap.fill(prompt, 22), fontsize=6)
    fig.suptitle(title, fontsize=9)
    return save(fig, out_dir, name)


def all_figures(runs: pd.DataFrame, *, kinds: Mapping[str, str], seed: int, showcase_dir, prompts: Sequence[str],
                out_dir: str | Path, published: pd.DataFrame | None = None, self_referenced: bool = False) -> list[Path]:
    """Every figure this config has runs for. ``showcase_dir(te, unet, seed)`` gives a run's showcase folder."""
    out_dir = Path(out_dir)
    runs, compare_fid = paper_protocol_view(runs)
    noise = dense_noise(runs, seed if self_referenced else None)
    base = base_runs(runs, seed)
    written: list[Path] = []
    for component in ("text_encoder", "unet"):
        short = SHORT[component]
        methods = single_component_methods(base, component)
        for method in methods:
            written += sparsity_curves(base, noise, component, method, out_dir, published, compare_fid)
            rows = single_component(base, component, method)
            columns = [(f"{s:.1%}" if s else "dense", showcase_dir(t, u, seed))
                       for s, t, u in zip(rows[f"{short}_sparsity"], rows.text_spec, rows.unet_spec)]
            written += image_grid(columns, prompts, out_dir, f"grid-{component}-{method}",
                                  f"{spoken(component)} pruned with {method}")
        if len(methods) > 1:
            written += method_comparison(base, noise, component, methods, out_dir)
        written += accuracy_comparison(base, component, methods, out_dir)
    if has_values(base, "speedup"):
        written += speed_quality(base, out_dir)
    zipped = experiments_of_kind(kinds, "zip")
    member = in_experiments(base, zipped)
    for text_method in sorted(base[member].text_method.unique()):
        rows = base[member & (base.text_method == text_method)]
        written += threshold_curve(rows, noise, text_method, out_dir)
        dense = dense_runs(base)
        ordered = pd.concat([dense, rows.sort_values("text_sparsity", ascending=False)])
        columns = [("dense" if r.text_method == "dense" else f"{r.nominal_full_sparsity:.1%}",
                    showcase_dir(r.text_spec, r.unet_spec, seed)) for r in ordered.itertuples()]
        written += image_grid(columns, prompts, out_dir, f"grid-thresholds-{text_method}",
                              f"both components from their thresholds down (text: {text_method})")
    return written
