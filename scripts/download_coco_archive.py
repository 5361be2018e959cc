"""Rule download_coco_archive: an official COCO 2017 archive (or a mirror's), MD5-verified."""

from pathlib import Path

from sdprune.evaluation.prompts import fetch_coco_archive
from sdprune.workflow.jobs import snakemake_job

# Where to download from is read from the config, not passed as params: a mirror serves the same
# archives (checked by MD5), so switching mirrors must not make Snakemake rerun anything.
evaluation = snakemake.config["data"]["evaluation"]
with snakemake_job(snakemake):
    name = snakemake.wildcards.archive.replace("_trainval2017", "")
    fetch_coco_archive(name, Path(snakemake.output.archive).parent, base_url=evaluation["coco_url"],
                       md5=evaluation["coco_md5"].get(name))
