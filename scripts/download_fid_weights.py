"""Rule download_fid_weights: clean-fid's or pytorch-fid's Inception, our seeded stand-in, or the toy
world's scene network (trained here, in seconds)."""

from sdprune.io import atomic_directory
from sdprune.workflow.jobs import snakemake_job
from sdprune.evaluation.metrics.fid import fetch_inception, fetch_pytorch_fid_inception
from sdprune.evaluation.metrics.scene_features import save_scene_net
from sdprune.evaluation.metrics.standins import save_standin_inception

# A mirror's URL is read from the config, not passed as params: the weights are the same
# wherever they come from, so switching mirrors must not make Snakemake rerun anything.
PROTOCOL = {"inception": "clean", "pytorch_inception": "paper"}
FETCH = {"inception": fetch_inception, "pytorch_inception": fetch_pytorch_fid_inception}

stage = snakemake.params.stage
with snakemake_job(snakemake):
    network = snakemake.wildcards.fid_net
    if network == "standin":
        save_standin_inception(snakemake.output.weights, seed=stage["seed"])
    elif network == "scenes":
        save_scene_net(snakemake.output.weights, seed=stage["seed"])
    else:
        url = snakemake.config["scoring"]["fid_weights_url"].get(PROTOCOL[network])
        with atomic_directory(snakemake.output.weights) as tmp:
            FETCH[network](tmp, url=url)
