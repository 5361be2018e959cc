"""Rule cliffs_table: every searched series' threshold, first bad sparsity and criterion."""

import pandas as pd

from sdprune.io import atomic_path, read_json, write_text
from sdprune.workflow.jobs import snakemake_job
from sdprune.reporting.tables import to_markdown

with snakemake_job(snakemake):
    rows = []
    for path in snakemake.input.states:
        state = read_json(path)
        rows.append({"component": state["component"], "method": state["method"], "threshold": state["threshold"],
                     "first_bad": state["first_bad"], "step": state["step"], "criterion": state["criterion"]["text"],
                     "evaluated": len(state["evaluated"])})
    table = pd.DataFrame(rows)
    with atomic_path(snakemake.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    write_text(snakemake.output.table, to_markdown(table))
