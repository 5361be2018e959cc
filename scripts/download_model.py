"""Rule download_model: save the configured pipeline (hub id or built-in) under resources/."""

from sdprune.workflow.jobs import snakemake_job
from sdprune.models.loading import fetch_pipeline

with snakemake_job(snakemake):
    stage = snakemake.params.stage
    fetch_pipeline(stage["source"], snakemake.output.model, revision=stage["revision"], dtype=stage["dtype"],
                   seed=stage["seed"], training=stage.get("training"))
