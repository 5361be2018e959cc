"""Rule download_model: save the configured pipeline (hub id or built-in) under resources/."""

from sdprune.log import job_logging
from sdprune.models.loading import fetch_pipeline

with job_logging(snakemake.log[0]):
    fetch_pipeline(
        snakemake.params.source,
        snakemake.output.model,
        revision=snakemake.params.revision,
        dtype=snakemake.params.dtype,
        seed=snakemake.params.seed,
    )
