"""Rule reference_embeddings: CMMD's CLIP embeddings of the reference images, computed once."""

from sdprune.workflow.stages.reference_embeddings import reference_embeddings
from sdprune.workflow.jobs import snakemake_job

stage = snakemake.params.stage
with snakemake_job(snakemake):
    reference_embeddings(
        images_dir=snakemake.input.images,
        weights_dir=snakemake.input.weights,
        out_path=snakemake.output.embeddings,
        device=snakemake.params.device,
        batch_size=stage["batch_size"],
    )
