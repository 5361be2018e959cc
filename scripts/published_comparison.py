"""Rule published_comparison: a publication's values per U-Net method, pattern and sparsity beside our runs."""

from pathlib import Path

import pandas as pd

from sdprune.reporting.published import comparison_heading, comparison_table, unet_only_runs, write_comparison
from sdprune.reporting.tables import read_runs
from sdprune.workflow.jobs import snakemake_job

stage = snakemake.params.stage
with snakemake_job(snakemake) as log:
    runs = read_runs(snakemake.input.runs)
    table = comparison_table(runs, pd.read_csv(snakemake.input.published), seed=stage["seed"])
    ours = unet_only_runs(runs, stage["seed"])
    heading = comparison_heading(published_name=Path(snakemake.input.published).name, fid_protocol=stage["fid_protocol"],
                                 num_images=int(ours.num_images.max()) if len(ours) else None)
    write_comparison(table, csv_path=snakemake.output.csv, markdown_path=snakemake.output.table, heading=heading)
    log.info("%d rows (%d runs of ours) beside %s", len(table), len(ours), snakemake.input.published)
