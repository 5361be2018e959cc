"""Rule download_clip_weights: an open_clip model as a local folder, or our seeded stand-in."""

from sdprune.log import job_logging
from sdprune.metrics.clip_score import fetch_clip
from sdprune.metrics.standins import save_standin_clip

with job_logging(snakemake.log[0]):
    if snakemake.wildcards.clip_net == "standin":
        save_standin_clip(snakemake.output.weights, seed=snakemake.params.seed)
    else:
        fetch_clip(snakemake.output.weights, model_name=snakemake.params.model,
                   pretrained=snakemake.params.pretrained)
