"""The paper's Tables 2-10, rebuilt from our runs table, with published values beside ours.

Input is the tidy `runs.csv` (one row per run). Each builder returns a DataFrame in
the paper's layout; `write_tables` renders every one as CSV, Markdown and LaTeX.
Where the config has no runs for a table, the table says so instead of vanishing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from sdprune.reporting.cliffs import Criterion
from sdprune.io import atomic_path, write_text
from sdprune.reporting.tables import has_values, to_markdown

RATIOS = ("75:25", "50:50", "25:75")


def in_experiments(runs: pd.DataFrame, names: set[str]) -> pd.Series:
    """Which rows belong to any of the named experiments: a boolean mask, also for no rows at all
    (an empty `.apply` result is not boolean, and indexing with it would select columns)."""
    return pd.Series([bool(set(str(v).split(";")) & names) for v in runs.experiments.fillna("")],
                     index=runs.index, dtype=bool)


def base_runs(runs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Runs at the base seed that produced results (N/A rows and seed replicates left out)."""
    ok = runs[runs.status == "ok"]
    return ok[ok.seed == seed]


def dense_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows where neither component is pruned."""
    return runs[(runs.text_method == "dense") & (runs.unet_method == "dense")]


def experiments_of_kind(kinds: Mapping[str, str], kind: str) -> set[str]:
    """The names of the experiments of one kind ("allocation", "zip", ...)."""
    return {name for name, of_kind in kinds.items() if of_kind == kind}


def dense_noise(runs: pd.DataFrame, reference_seed: int | None = None) -> dict:
    """Dense FID / CLIP over every seed: the error bar of 'better than dense'.

    ``reference_seed``: when the FID reference is the dense model's own images at that
    seed, its FID is trivially 0 and is left out of the FID spread.
    """
    dense = dense_runs(runs[runs.status == "ok"])

    def stats(values):
        values = values.astype(float)
        return (float(values.mean()) if len(values) else float("nan"),
                float(values.std(ddof=1)) if len(values) > 1 else float("nan"))

    fid_rows = dense if reference_seed is None else dense[dense.seed != reference_seed]
    fid_mean, fid_std = stats(fid_rows.fid)
    clip_mean, clip_std = stats(dense.clip_score)
    return {"seeds": int(len(dense)), "fid_seeds": int(len(fid_rows)), "fid_mean": fid_mean, "fid_std": fid_std,
            "clip_mean": clip_mean, "clip_std": clip_std, "fid_self_referenced": reference_seed is not None}


def _published_lookup(published: pd.DataFrame | None):
    """(text method, text sparsity, unet sparsity) -> published row; dense text counts as magnitude at 0."""
    table = {}
    if published is not None:
        for row in published.itertuples(index=False):
            table[(row.text_method, round(row.text_sparsity, 4), round(row.unet_sparsity, 4))] = row
    def find(text_method: str, text_s: float, unet_s: float):
        method = "magnitude" if text_method == "dense" else text_method
        return table.get((method, round(float(text_s), 4), round(float(unet_s), 4)))
    return find


PUBLISHED_FID_PROTOCOL = "paper"  # the released code's JPEG + pytorch-fid procedure (data/published/README.md)
FID_NOT_COMPARED = ("Published FIDs are not shown beside these runs: the paper measured FID with its own "
                    "protocol (`paper`: JPEG quality 75, 299x299 bicubic, pytorch-fid), these runs were scored "
                    "with `{protocols}`. Add `paper` to scoring.fid_protocol to compare.")


def paper_protocol_view(runs: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The runs with `fid` holding the FID the published numbers are comparable with, if any was scored.

    Returns (runs, comparable). A run scored with several protocols shows its `paper` FID here.
    """
    if "fid_paper" in runs:
        scored = runs.fid_paper.notna()
        runs = runs.assign(fid=runs.fid.where(~scored, runs.fid_paper),
                           fid_protocol=runs.fid_protocol.where(~scored, PUBLISHED_FID_PROTOCOL))
    ok = runs[runs.status == "ok"]
    protocols = set(ok.fid_protocol) if "fid_protocol" in ok else set()
    return runs, protocols == {PUBLISHED_FID_PROTOCOL}


def _with_published(frame: pd.DataFrame, find, compare_fid: bool) -> pd.DataFrame:
    """Add published CLIP (and, where comparable, FID) and our difference from them, row by row."""
    hits = [find(row.text_method, row.text_sparsity, row.unet_sparsity) for row in frame.itertuples(index=False)]
    frame = frame.copy()
    if compare_fid:
        frame["fid_published"] = [hit.fid if hit is not None else np.nan for hit in hits]
        frame["fid_difference"] = frame["fid"] - frame["fid_published"]
    frame["clip_published"] = [hit.clip_score if hit is not None else np.nan for hit in hits]
    frame["clip_difference"] = frame["clip_score"] - frame["clip_published"]
    return frame


def score_columns(runs: pd.DataFrame) -> list[str]:
    """FID and CLIP score, and the prompt accuracy where the runs were scored on scene captions."""
    return ["fid", "clip_score"] + (["prompt_accuracy"] if has_values(runs, "prompt_accuracy") else [])


def _experiment_rows(runs: pd.DataFrame, names: set[str], text_method: str) -> pd.DataFrame:
    if not names:
        return runs.iloc[0:0]
    member = in_experiments(runs, names)
    return runs[member & (runs.text_method == text_method)]


def best_single_component(runs: pd.DataFrame, criterion: Criterion, methods: Mapping[str, str]) -> pd.DataFrame:
    """Table 2: per component, the sparsest single-component run the criterion does not call broken."""
    if criterion.metric not in runs:
        raise ValueError(f"the criterion's metric {criterion.metric} is not in the runs table (the scene "
                         "accuracies are scored only on scene captions)")
    dense = dense_runs(runs)
    dense_value = float(dense[criterion.metric].iloc[0]) if len(dense) else math.nan
    rows = []
    for short, other in (("text", "unet"), ("unet", "text")):
        single = runs[(runs[f"{other}_method"] == "dense") & (runs[f"{short}_method"] == methods[short])]
        good = single[[not criterion.is_bad(float(v), dense_value) for v in single[criterion.metric]]]
        if len(good):
            rows.append(good.sort_values(f"{short}_sparsity").iloc[-1])
    columns = ["nominal_full_sparsity", "true_full_sparsity", "text_method", "text_sparsity", "unet_method",
               "unet_sparsity", *score_columns(runs)]
    return pd.DataFrame(rows, columns=runs.columns)[columns].reset_index(drop=True)


def allocation_grid(runs: pd.DataFrame, names: set[str], text_method: str, metric: str, infeasible: pd.DataFrame,
                    find=None) -> pd.DataFrame:
    """Tables 3/4 (7/8 with OWL): total sparsity x text:image ratio; N/A where no component can take it.

    ``find`` (published lookup) is None where the metric's published values are not comparable.
    """
    rows = _experiment_rows(runs, names, text_method)
    na = infeasible[in_experiments(infeasible, names)]
    labels = list(rows.allocation) + list(na.allocation)
    totals = sorted({float(a.split("@")[0]) for a in labels if a})
    ratios = [r for r in RATIOS if any(str(a).endswith("@" + r) for a in labels)]
    ratios += sorted({a.split("@")[1] for a in labels if a} - set(ratios))
    grid = pd.DataFrame(index=[f"{t:.0%}" for t in totals], columns=ratios, dtype=object)
    grid.index.name = "total sparsity"
    for total in totals:
        for ratio in ratios:
            label = f"{total:g}@{ratio}"
            match = rows[[label in str(labels).split(";") for labels in rows.allocation.fillna("")]]
            if len(match):
                row = match.iloc[0]
                value = float(row[metric])
                cell = f"{value:.4g}" if metric == "fid" else f"{value:.3f}"
                hit = find(row.text_method, row.text_sparsity, row.unet_sparsity) if find else None
                if hit is not None:
                    pub = float(getattr(hit, "fid" if metric == "fid" else "clip_score"))
                    cell += f" (pub {pub:.4g}, {value - pub:+.3g})"
                grid.loc[f"{total:.0%}", ratio] = cell
            else:
                grid.loc[f"{total:.0%}", ratio] = "N/A"
    return grid


def allocation_list(runs: pd.DataFrame, names: set[str], text_method: str, find=None,
                    compare_fid: bool = True) -> pd.DataFrame:
    """Tables 5/9: every allocated configuration with its component sparsities and both metrics."""
    rows = _experiment_rows(runs, names, text_method).copy()
    first_label = rows.allocation.str.split(";").str[0].str.split("@")  # "<total>@<ratio>"
    rows["target_total"] = first_label.str[0].astype(float)
    rows["ratio"] = first_label.str[1]
    rows = rows.sort_values(["target_total", "ratio"], ascending=[True, False])
    columns = ["target_total", "ratio", "text_sparsity", "unet_sparsity", "nominal_full_sparsity",
               "true_full_sparsity", *score_columns(runs)]
    frame = rows[columns + ["text_method"]]
    if find:
        frame = _with_published(frame, find, compare_fid)
    return frame.drop(columns="text_method").reset_index(drop=True)


def thresholds(runs: pd.DataFrame, names: set[str], text_method: str, find=None,
               compare_fid: bool = True) -> pd.DataFrame:
    """Tables 6/10: the dense model, then both components stepped down from their thresholds."""
    dense = dense_runs(runs)
    rows = _experiment_rows(runs, names, text_method).sort_values("text_sparsity", ascending=False)
    frame = pd.concat([dense, rows])
    columns = ["nominal_full_sparsity", "true_full_sparsity", "text_method", "text_sparsity", "unet_sparsity",
               *score_columns(runs), "unet_method"]
    frame = frame[columns]
    if find:
        frame = _with_published(frame, find, compare_fid)
    return frame.drop(columns="unet_method").reset_index(drop=True)


def paper_tables(runs: pd.DataFrame, *, kinds: Mapping[str, str], seed: int, criterion: Criterion = Criterion(),
                 published: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the paper this config has runs for, keyed table2 ... table10.

    Published FIDs sit beside ours only where our FID used the published protocol; a table
    that leaves them out says why (``frame.attrs["note"]``).
    """
    runs, compare_fid = paper_protocol_view(runs)
    infeasible = runs[runs.status.fillna("").str.startswith("N/A")]
    base = base_runs(runs, seed)
    find = _published_lookup(published) if published is not None else None
    fid_find = find if compare_fid else None
    allocated = experiments_of_kind(kinds, "allocation")
    zipped = experiments_of_kind(kinds, "zip")
    tables = {"table2": best_single_component(base, criterion, {"text": "magnitude", "unet": "magnitude"})}
    if find is not None:
        tables["table2"] = _with_published(tables["table2"], find, compare_fid)
    for number, text_method in ((3, "magnitude"), (7, "owl_magnitude")):
        tables[f"table{number}"] = allocation_grid(base, allocated, text_method, "fid", infeasible, fid_find)
        tables[f"table{number + 1}"] = allocation_grid(base, allocated, text_method, "clip_score", infeasible, find)
        tables[f"table{number + 2}"] = allocation_list(base, allocated, text_method, find, compare_fid)
    tables["table6"] = thresholds(base, zipped, "magnitude", find, compare_fid)
    tables["table10"] = thresholds(base, zipped, "owl_magnitude", find, compare_fid)
    if find is not None and not compare_fid:
        protocols = ", ".join(sorted(set(base.get("fid_protocol", pd.Series(["clean"])))))
        for name in ("table2", "table3", "table5", "table6", "table7", "table9", "table10"):
            tables[name].attrs["note"] = FID_NOT_COMPARED.format(protocols=protocols)
    return dict(sorted(tables.items(), key=lambda item: int(item[0][5:])))


CAPTIONS = {
    "table2": "Best model obtained pruning each component alone (the sparsest the criterion does not call broken)",
    "table3": "FID at allocations of a total sparsity between text encoder and U-Net (magnitude)",
    "table4": "CLIP score at allocations of a total sparsity (magnitude)",
    "table5": "Full-model pruning at the allocations of Table 1 (magnitude)",
    "table6": "Both components stepped down from their drop-off thresholds (magnitude)",
    "table7": "FID at allocations of a total sparsity (text encoder: magnitude with OWL)",
    "table8": "CLIP score at allocations of a total sparsity (text encoder: magnitude with OWL)",
    "table9": "Full-model pruning at the allocations of Table 1 (text encoder: magnitude with OWL)",
    "table10": "Both components stepped down from their thresholds (text encoder: magnitude with OWL)",
}


def _noise_note(noise: Mapping | None) -> str:
    """The dense model's seed spread under every table, where more than one seed was run."""
    if not noise or noise.get("seeds", 0) <= 1:
        return ""
    note = f"\nDense CLIP score over {noise['seeds']} seeds: {noise['clip_mean']:.4f} ± {noise['clip_std']:.2g} (mean ± sd). "
    if not noise["fid_self_referenced"]:
        return note + f"Dense FID: {noise['fid_mean']:.4g} ± {noise['fid_std']:.2g}.\n"
    spread = f" ± {noise['fid_std']:.2g}" if noise["fid_std"] == noise["fid_std"] else ""  # NaN: one other seed
    return note + (f"The FID reference is the dense model's own images, so dense FID is 0 at their seed; "
                   f"at {noise['fid_seeds']} other seed(s) it is {noise['fid_mean']:.4g}{spread}"
                   ": compare pruned runs' FID with that noise level.\n")


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path, *, noise: Mapping | None = None) -> list[Path]:
    """table<N>.csv, .md and .tex for every table; an empty table says it has no runs."""
    out_dir = Path(out_dir)
    written = []
    for name, frame in tables.items():
        index = frame.index.name is not None
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=index)
        shown = frame.reset_index() if index else frame
        body = to_markdown(shown) if len(shown) else "_No runs of this kind in this config._\n"
        note = _noise_note(noise)
        if frame.attrs.get("note"):
            note += f"\n{frame.attrs['note']}\n"
        write_text(out_dir / f"{name}.md", f"**{name.replace('table', 'Table ')}.** {CAPTIONS[name]}.\n\n{body}{note}")
        latex = shown.to_latex(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", caption=CAPTIONS[name],
                               label=f"tab:{name}") if len(shown) else f"% {name}: no runs of this kind\n"
        write_text(out_dir / f"{name}.tex", latex)
        written += [out_dir / f"{name}.{ext}" for ext in ("csv", "md", "tex")]
    return written
