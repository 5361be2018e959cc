"""Rule aggregate_tables: one tidy row per run, as CSV and Markdown."""

from sdprune.log import job_logging
from sdprune.tables import runs_table, write_table

with job_logging(snakemake.log[0]) as log:
    table = runs_table(
        model=snakemake.params.model,
        runs=snakemake.params.runs,
        records=snakemake.input.records,
        scores=snakemake.input.scores,
        infeasible=snakemake.params.infeasible,
    )
    write_table(table, csv_path=snakemake.output.csv, markdown_path=snakemake.output.markdown)
    log.info("%d runs -> %s", len(table), snakemake.output.csv)
