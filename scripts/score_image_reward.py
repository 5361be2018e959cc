"""Rule score_image_reward: ImageReward of one run's images, in ImageReward's own environment."""

from sdprune.evaluation.prompts import read_prompt_records
from sdprune.workflow.jobs import snakemake_job
from sdprune.workflow.stages.score_image_reward import score_image_reward

with snakemake_job(snakemake):
    score_image_reward(
        images_dir=snakemake.input.images,
        prompts=[r.prompt for r in read_prompt_records(snakemake.input.prompts)],
        weights_dir=snakemake.input.weights,
        out_path=snakemake.output.rewards,
        device=snakemake.params.device,
        # read from the config, not params: which interpreter runs it is no part of the result
        python=snakemake.config["scoring"].get("image_reward_python"),
    )
