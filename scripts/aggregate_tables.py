"""Rule aggregate_tables: one tidy row per run, as CSV and Markdown."""

from sdprune.workflow.jobs import snakemake_job
from sdprune.reporting.tables import runs_table, write_table

stage = snakemake.params.stage
with snakemake_job(snakemake) as log:
    table = runs_table(
        model=stage["model"],
        runs=stage["runs"],
        records=snakemake.input.records,
        scores=snakemake.input.scores,
        infeasible=stage["infeasible"],
    )
    write_table(table, csv_path=snakemake.output.csv, markdown_path=snakemake.output.markdown)
    log.info("%d runs -> %s", len(table), snakemake.output.csv)
