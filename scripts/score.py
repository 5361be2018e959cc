"""Rule score: FID (every configured protocol), CLIP score, paired signals, and where switched on CMMD and
ImageReward (scored by rule score_image_reward) of one run's images."""

from sdprune.workflow.stages.score import score
from sdprune.evaluation.prompts import read_prompt_records
from sdprune.workflow.jobs import snakemake_job

stage = snakemake.params.stage
with snakemake_job(snakemake):
    score(
        images_dir=snakemake.input.images,
        prompts=[r.prompt for r in read_prompt_records(snakemake.input.prompts)],
        fid={p: (snakemake.input[f"fid_weights_{p}"], snakemake.input[f"reference_{p}"]) for p in stage["protocols"]},
        clip_dir=snakemake.input.clip_weights,
        dense_images_dir=snakemake.input.get("dense_images"),
        out_path=snakemake.output.scores,
        per_image_path=snakemake.output.per_image,
        device=snakemake.params.device,
        batch_size=stage["batch_size"],
        judge_prompts=stage.get("judge_prompts", False),  # present only for scene-world prompts
        cmmd=(snakemake.input.cmmd_weights, snakemake.input.reference_cmmd) if stage.get("cmmd") else None,
        image_reward_path=snakemake.input.get("image_reward"),
    )
