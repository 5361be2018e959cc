"""Rule reference_features: FID features of the reference images, computed once."""

from sdprune import stages
from sdprune.log import job_logging

with job_logging(snakemake.log[0], threads=snakemake.threads):
    stages.reference_features(
        images_dir=snakemake.input.images,
        metrics_dir=snakemake.input.weights,
        out_path=snakemake.output.features,
        device=snakemake.params.device,
        batch_size=snakemake.params.batch_size,
    )
