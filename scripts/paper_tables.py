"""Rule paper_tables: the paper's Tables 2-10 as CSV, Markdown and LaTeX."""

import pandas as pd

from sdprune.reporting.cliffs import Criterion
from sdprune.workflow.jobs import snakemake_job
from sdprune.reporting.tables import read_runs
from sdprune.reporting.paper_tables import dense_noise, paper_tables, write_tables

stage = snakemake.params.stage
with snakemake_job(snakemake) as log:
    runs = read_runs(snakemake.input.runs)
    published = pd.read_csv(snakemake.input.published) if snakemake.input.published else None
    tables = paper_tables(runs, kinds=stage["kinds"], seed=stage["seed"],
                          criterion=Criterion(**stage["criterion"]), published=published)
    reference_seed = stage["seed"] if stage["self_referenced"] else None
    written = write_tables(tables, snakemake.output.tables, noise=dense_noise(runs, reference_seed))
    log.info("%d tables, %d files", len(tables), len(written))
