"""Rule download_cmmd_weights: CMMD's CLIP ViT-L/14@336 as an open_clip local-dir folder, or our seeded stand-in."""

from sdprune.workflow.jobs import snakemake_job
from sdprune.evaluation.metrics.cmmd import fetch_cmmd_clip
from sdprune.evaluation.metrics.standins import save_standin_clip

stage = snakemake.params.stage
with snakemake_job(snakemake):
    if snakemake.wildcards.cmmd_net == "standin":
        save_standin_clip(snakemake.output.weights, seed=stage["seed"])
    else:
        fetch_cmmd_clip(snakemake.output.weights)
