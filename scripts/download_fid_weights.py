"""Rule download_fid_weights: clean-fid's or pytorch-fid's Inception, or our seeded stand-in."""

from sdprune.io import atomic_directory
from sdprune.jobs import snakemake_job
from sdprune.metrics.fid import fetch_inception, fetch_pytorch_fid_inception
from sdprune.metrics.standins import save_standin_inception

stage = snakemake.params.stage
with snakemake_job(snakemake):
    network = snakemake.wildcards.fid_net
    if network == "standin":
        save_standin_inception(snakemake.output.weights, seed=stage["seed"])
    else:
        with atomic_directory(snakemake.output.weights) as tmp:
            (fetch_inception if network == "inception" else fetch_pytorch_fid_inception)(tmp)
