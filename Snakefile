# sdprune: post-training pruning of text-to-image diffusion models, as one reproducible DAG.
#
#   download_model -> calibrate -> prune -> generate_images -> score -> aggregate_tables
#   -> paper_tables, figures, cliffs (rebuilt from scores alone)
#
# `snakemake --cores all` runs config.yaml (the paper's Stable Diffusion 2 experiment);
# `snakemake --cores 2 --configfile config/tiny.yaml` runs the same DAG offline on a CPU.

from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the default. A --configfile replaces it instead of being merged into it,
# so a preset (config/tiny.yaml, ...) never inherits the paper's settings by accident.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/data.smk"
include: "rules/calibrate.smk"
include: "rules/prune.smk"
include: "rules/generate.smk"
include: "rules/score.smk"
include: "rules/aggregate.smk"
include: "rules/report.smk"


rule all:
    input:
        report_targets(),
    default_target: True
