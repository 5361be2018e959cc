# generate-images stage: one PNG per evaluation prompt for a run (a pruned text encoder and
# U-Net, or dense). Resumable: an interrupted job keeps its finished images in images.partial/.


rule generate_images:
    input:
        unpack(generate_inputs),
    output:
        images=directory(run_path("{te}", "{unet}", "images")),
        record=run_path("{te}", "{unet}", "generation.json"),
    params:
        settings=generation_settings(),
        requested=requested_sparsity,
        scopes=run_scopes,
        device=config["device"],
        dtype=config["model"]["dtype"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/generate_images/te={{te}}/unet={{unet}}.log",
    benchmark:
        run_path("{te}", "{unet}", "benchmark_generate.tsv")
    threads: 1
    resources:
        gpu=GPU,
        runtime=720,
    script:
        "../scripts/generate_images.py"
