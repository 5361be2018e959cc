# Paper tables, figures, the published comparison and drop-off thresholds, rebuilt from the runs
# table (and the runs' showcase images) alone: no GPU stage runs when only scores are present.

rule paper_tables:
    input:
        runs=RUNS_TABLE,
        published=PAPER_PUBLISHED,
    output:
        tables=report(
            directory(f"{RESULTS}/tables/paper"),
            patterns=["{name}.md"],
            caption="../report/tables.rst",
            category="Tables",
        ),
        provenance=f"{RESULTS}/tables/paper.provenance.json",
    params:
        stage=stage_settings("paper_tables"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/paper_tables.log",
    localrule: True
    script:
        "../scripts/paper_tables.py"


rule figures:
    input:
        runs=RUNS_TABLE,
        showcase=showcase_dirs,
        published=PAPER_PUBLISHED,
    output:
        figures=report(
            directory(f"{RESULTS}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
        provenance=f"{RESULTS}/figures.provenance.json",
    params:
        stage=stage_settings("figures"),
        showcase_template=showcase_template,
    conda:
        ENV
    log:
        f"logs/{MODEL}/figures.log",
    localrule: True
    script:
        "../scripts/figures.py"


# A publication reporting one row per U-Net method, pattern and sparsity (reporting.published of that
# shape, e.g. OBS-Diff's): its values beside our U-Net-only runs, matched on those three.
rule published_comparison:
    input:
        runs=RUNS_TABLE,
        published=PUBLISHED,
    output:
        table=report(f"{RESULTS}/tables/published_comparison.md", caption="../report/tables.rst", category="Tables"),
        csv=f"{RESULTS}/tables/published_comparison.csv",
        provenance=f"{RESULTS}/tables/published_comparison.provenance.json",
    params:
        stage=stage_settings("published_comparison"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/published_comparison.log",
    localrule: True
    script:
        "../scripts/published_comparison.py"


checkpoint cliff_round:
    input:
        unpack(cliff_round_inputs),
    output:
        state=f"{RESULTS}/cliffs/{{component}}/{{method}}/round{{round}}.json",
        provenance=f"{RESULTS}/cliffs/{{component}}/{{method}}/round{{round}}.provenance.json",
    params:
        stage=stage_settings("cliff_round"),
        points=cliff_points,
    wildcard_constraints:
        round="[0-9]+",
    conda:
        ENV
    log:
        f"logs/{MODEL}/cliffs/{{component}}-{{method}}-round{{round}}.log",
    localrule: True
    script:
        "../scripts/cliff_round.py"


rule cliff_series:
    input:
        final=cliff_final_state,
    output:
        state=f"{RESULTS}/cliffs/{{component}}/{{method}}/final.json",
        provenance=f"{RESULTS}/cliffs/{{component}}/{{method}}/final.provenance.json",
    params:
        stage=stage_settings("cliff_series"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/cliffs/{{component}}-{{method}}-final.log",
    localrule: True
    script:
        "../scripts/cliff_series.py"


rule cliffs_table:
    input:
        states=cliff_series_results(),
    output:
        table=report(f"{RESULTS}/tables/cliffs.md", caption="../report/cliffs.rst", category="Tables"),
        csv=f"{RESULTS}/tables/cliffs.csv",
        provenance=f"{RESULTS}/tables/cliffs.provenance.json",
    params:
        stage=stage_settings("cliffs_table"),
    conda:
        ENV
    log:
        f"logs/{MODEL}/cliffs_table.log",
    localrule: True
    script:
        "../scripts/cliffs_table.py"
