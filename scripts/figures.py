"""Rule figures: curves, method comparison, threshold approach and image grids (PNG + PDF)."""

import pandas as pd

from sdprune.reporting.figures import all_figures
from sdprune.workflow.jobs import snakemake_job
from sdprune.reporting.tables import read_runs

stage = snakemake.params.stage
with snakemake_job(snakemake) as log:
    template = snakemake.params.showcase_template
    written = all_figures(
        read_runs(snakemake.input.runs),
        kinds=stage["kinds"],
        seed=stage["seed"],
        showcase_dir=lambda te, unet, seed: template.format(te=te, unet=unet, seed=seed),
        prompts=stage["prompts"],
        out_dir=snakemake.output.figures,
        published=pd.read_csv(snakemake.input.published) if snakemake.input.published else None,
        self_referenced=stage["self_referenced"],
    )
    log.info("%d figure files", len(written))
