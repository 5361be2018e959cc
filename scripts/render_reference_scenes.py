"""Rule render_reference_scenes: the exact renders of the evaluation prompts' scenes, named by prompt index."""

from sdprune.evaluation.prompts import read_prompt_records
from sdprune.evaluation.scene_references import render_reference_scenes
from sdprune.workflow.jobs import snakemake_job

stage = snakemake.params.stage
with snakemake_job(snakemake) as log:
    records = read_prompt_records(snakemake.input.prompts)
    render_reference_scenes(records, snakemake.output.images, seed=stage["world_seed"])
    log.info("%d reference renders", len(records))
