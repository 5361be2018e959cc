"""Rule calibrate: input-norm statistics of the dense component."""

from sdprune import stages
from sdprune.data import read_prompt_records
from sdprune.log import job_logging
from sdprune.pruning import CalibrationSettings

with job_logging(snakemake.log[0], threads=snakemake.threads):
    prompts = [r.prompt for r in read_prompt_records(snakemake.input.prompts)][: snakemake.params.num_prompts]
    stages.calibrate(
        model_dir=snakemake.input.model,
        component=snakemake.wildcards.component,
        prompts=prompts,
        calibration=CalibrationSettings(**snakemake.params.calibration),
        scope=snakemake.params.scope,
        out_path=snakemake.output.statistics,
        device=snakemake.params.device,
        dtype=snakemake.params.dtype,
    )
