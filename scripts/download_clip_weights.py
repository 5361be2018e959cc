"""Rule download_clip_weights: an open_clip model as a local folder, or our seeded stand-in."""

from sdprune.workflow.jobs import snakemake_job
from sdprune.evaluation.metrics.clip_score import fetch_clip
from sdprune.evaluation.metrics.standins import save_standin_clip

stage = snakemake.params.stage
with snakemake_job(snakemake):
    if snakemake.wildcards.clip_net == "standin":
        save_standin_clip(snakemake.output.weights, seed=stage["seed"])
    else:
        fetch_clip(snakemake.output.weights, model_name=stage["model"],
                   pretrained=stage["pretrained"])
