"""Rule download_coco_archive: an official COCO 2017 archive, MD5-verified."""

from pathlib import Path

from sdprune.data import fetch_coco_archive
from sdprune.jobs import snakemake_job

with snakemake_job(snakemake):
    fetch_coco_archive(snakemake.wildcards.archive.replace("_trainval2017", ""), Path(snakemake.output.archive).parent)
