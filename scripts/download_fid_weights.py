"""Rule download_fid_weights: clean-fid's Inception, or our seeded stand-in for offline presets."""

from sdprune.io import atomic_directory
from sdprune.log import job_logging
from sdprune.metrics.fid import fetch_inception
from sdprune.metrics.standins import save_standin_inception

with job_logging(snakemake.log[0]):
    if snakemake.wildcards.fid_net == "standin":
        save_standin_inception(snakemake.output.weights, seed=snakemake.params.seed)
    else:
        with atomic_directory(snakemake.output.weights) as tmp:
            fetch_inception(tmp)
