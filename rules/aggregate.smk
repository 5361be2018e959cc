# aggregate-tables stage: one tidy row per run, as CSV and Markdown.


rule aggregate_tables:
    input:
        scores=all_scores(),
        records=all_records(),
    output:
        csv=f"{RESULTS}/tables/runs.csv",
        markdown=f"{RESULTS}/tables/runs.md",
    params:
        runs=[
            dict(text_encoder=run.key[0], unet=run.key[1], experiments=list(run.experiments),
                 allocations=list(run.allocations))
            for run in RUNS
        ],
        infeasible=infeasible_allocations(config),
        model=MODEL,
    conda:
        ENV
    log:
        f"logs/{MODEL}/aggregate_tables.log",
    localrule: True
    script:
        "../scripts/aggregate_tables.py"
