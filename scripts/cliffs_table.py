"""Rule cliffs_table: every searched series' threshold, first bad sparsity and criterion."""

import pandas as pd

from sdprune.io import read_json
from sdprune.workflow.jobs import snakemake_job
from sdprune.reporting.tables import write_table

with snakemake_job(snakemake):
    rows = []
    for path in snakemake.input.states:
        state = read_json(path)
        rows.append({"component": state["component"], "method": state["method"], "threshold": state["threshold"],
                     "first_bad": state["first_bad"], "step": state["step"], "criterion": state["criterion"]["text"],
                     "evaluated": len(state["evaluated"])})
    write_table(pd.DataFrame(rows), csv_path=snakemake.output.csv, markdown_path=snakemake.output.table)
