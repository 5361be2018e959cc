"""Rule generate_images: one PNG per evaluation prompt for one run."""

from sdprune import stages
from sdprune.data import read_prompt_records
from sdprune.generation import GenerationSettings
from sdprune.log import job_logging
from sdprune.models.components import COMPONENTS

with job_logging(snakemake.log[0], threads=snakemake.threads):
    stages.generate(
        model_dir=snakemake.input.model,
        artifacts={c: snakemake.input[c] for c in COMPONENTS if c in snakemake.input.keys()},
        requested=snakemake.params.requested,
        scopes=snakemake.params.scopes,
        prompts=[r.prompt for r in read_prompt_records(snakemake.input.prompts)],
        settings=GenerationSettings(**snakemake.params.settings),
        images_dir=snakemake.output.images,
        record_path=snakemake.output.record,
        device=snakemake.params.device,
        dtype=snakemake.params.dtype,
    )
