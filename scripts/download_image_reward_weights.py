"""Rule download_image_reward_weights: THUDM/ImageReward's checkpoint (converted to safetensors with
weights_only=True, refused otherwise), its med_config and BERT's tokenizer files."""

from sdprune.workflow.jobs import snakemake_job
from sdprune.evaluation.metrics.image_reward import fetch_image_reward

with snakemake_job(snakemake):
    fetch_image_reward(snakemake.output.weights)
