"""Rule generate_images: one PNG per evaluation prompt for one run, plus the showcase prompts.

The speed options (batch size, compile, channels-last) come from the config, not from the rule's
params: they do not change the images, so changing them must not make Snakemake rerun the run.
"""

from sdprune.workflow.stages.generate import generate
from sdprune.evaluation.prompts import read_prompt_records
from sdprune.evaluation.generation import GenerationSettings
from sdprune.models.loading import resolve_dtype
from sdprune.workflow.jobs import snakemake_job
from sdprune.workflow.params import generation_speed_options
from sdprune.models.components import COMPONENTS

stage = snakemake.params.stage
with snakemake_job(snakemake):
    generate(
        model_dir=snakemake.input.model,
        artifacts={c: snakemake.input[c] for c in COMPONENTS if c in snakemake.input.keys()},
        requested=snakemake.params.requested,
        scopes=snakemake.params.scopes,
        prompts=[r.prompt for r in read_prompt_records(snakemake.input.prompts)],
        showcase_prompts=stage["showcase"],
        settings=GenerationSettings(**stage["settings"], **generation_speed_options(snakemake.config)),
        images_dir=snakemake.output.images,
        showcase_dir=snakemake.output.showcase,
        record_path=snakemake.output.record,
        device=snakemake.params.device,
        dtype=resolve_dtype(stage["dtype"], snakemake.params.device),
    )
