"""Rule calibrate: input-norm statistics of the dense component."""

from sdprune import stages
from sdprune.data import read_prompt_records
from sdprune.jobs import snakemake_job
from sdprune.pruning import CalibrationSettings

stage = snakemake.params.stage
with snakemake_job(snakemake):
    stages.calibrate(
        model_dir=snakemake.input.model,
        component=snakemake.wildcards.component,
        prompts=[r.prompt for r in read_prompt_records(snakemake.input.prompts)][: stage["num_prompts"]],
        calibration=CalibrationSettings(**stage["calibration"]),
        scope=stage["scope"],
        out_path=snakemake.output.statistics,
        device=snakemake.params.device,
        dtype=stage["dtype"],
    )
