"""Rule calibrate: input-norm statistics of the dense component."""

from sdprune.evaluation.prompts import read_prompt_records
from sdprune.pruning.calibration import CalibrationSettings
from sdprune.workflow.jobs import snakemake_job
from sdprune.workflow.stages.calibrate import calibrate

stage = snakemake.params.stage
with snakemake_job(snakemake):
    calibrate(
        model_dir=snakemake.input.model,
        component=snakemake.wildcards.component,
        prompts=[r.prompt for r in read_prompt_records(snakemake.input.prompts)][: stage["num_prompts"]],
        calibration=CalibrationSettings(**stage["calibration"]),
        scope=stage["scope"],
        out_path=snakemake.output.statistics,
        device=snakemake.params.device,
        dtype=stage["dtype"],
    )
