"""Rule extract_reference_images: the sampled COCO images, named by sample index."""

from sdprune.data import extract_images, read_prompt_records
from sdprune.log import job_logging

with job_logging(snakemake.log[0]):
    records = read_prompt_records(snakemake.input.prompts)
    extract_images(snakemake.input.archive, snakemake.params.split, records, snakemake.output.images)
