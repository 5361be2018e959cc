"""Rule cliff_series: the last round of one series' drop-off search, under a name that does not move."""

from sdprune.io import read_json, write_json
from sdprune.workflow.jobs import snakemake_job

with snakemake_job(snakemake) as log:
    state = read_json(snakemake.input.final)
    write_json(snakemake.output.state, state)
    log.info("%s %s: threshold %s after %d evaluations", state["component"], state["method"], state["threshold"],
             len(state["evaluated"]))
