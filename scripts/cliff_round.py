"""Checkpoint cliff_round: bracket the drop-off from the sparsities evaluated so far; pick the next."""

from sdprune.reporting.cliffs import Criterion, next_round
from sdprune.io import read_json, write_json
from sdprune.workflow.jobs import snakemake_job

stage = snakemake.params.stage
with snakemake_job(snakemake) as log:
    criterion = Criterion(**stage["criterion"])
    dense = read_json(snakemake.input.dense)[criterion.metric]
    evaluated = {float(s): read_json(path)[criterion.metric] for s, path in snakemake.params.points.items()}
    state = next_round(evaluated, dense, criterion, stage["step"])
    write_json(snakemake.output.state, {**state, "component": snakemake.wildcards.component,
                                        "method": snakemake.wildcards.method})
    log.info("threshold %s, first bad %s, next %s", state["threshold"], state["first_bad"], state["next"])
