"""Rule extract_reference_images: the sampled COCO images, named by sample index."""

from sdprune.evaluation.prompts import extract_images, read_prompt_records
from sdprune.workflow.jobs import snakemake_job

stage = snakemake.params.stage
with snakemake_job(snakemake):
    records = read_prompt_records(snakemake.input.prompts)
    extract_images(snakemake.input.archive, stage["split"], records, snakemake.output.images)
