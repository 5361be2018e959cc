"""Rule score: FID and CLIP score of one run's images."""

from sdprune import stages
from sdprune.data import read_prompt_records
from sdprune.log import job_logging

with job_logging(snakemake.log[0], threads=snakemake.threads):
    stages.score(
        images_dir=snakemake.input.images,
        prompts=[r.prompt for r in read_prompt_records(snakemake.input.prompts)],
        reference_features_path=snakemake.input.reference,
        fid_dir=snakemake.input.fid_weights,
        clip_dir=snakemake.input.clip_weights,
        out_path=snakemake.output.scores,
        device=snakemake.params.device,
        batch_size=snakemake.params.batch_size,
    )
