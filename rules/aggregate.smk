# aggregate-tables stage: one tidy row per run, as CSV and Markdown.


rule aggregate_tables:
    input:
        scores=all_runs("scores.json"),
        records=all_runs("generation.json"),
    output:
        csv=RUNS_TABLE,
        markdown=f"{RESULTS}/tables/runs.md",
        provenance=f"{RESULTS}/tables/runs.provenance.json",
    params:
        stage=stage_settings("aggregate_tables"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/aggregate_tables.log",
    localrule: True
    script:
        "../scripts/aggregate_tables.py"
