"""Rule reference_features: FID features of the reference images, computed once per protocol."""

from sdprune.workflow.stages.reference_features import reference_features
from sdprune.workflow.jobs import snakemake_job

stage = snakemake.params.stage
with snakemake_job(snakemake):
    reference_features(
        images_dir=snakemake.input.images,
        metrics_dir=snakemake.input.weights,
        out_path=snakemake.output.features,
        protocol=snakemake.wildcards.protocol,
        device=snakemake.params.device,
        batch_size=stage["batch_size"],
    )
