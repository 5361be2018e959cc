# generate-images stage: one PNG per evaluation prompt for a run (a pruned text encoder and
# U-Net, or dense) at one base seed, plus the showcase prompts for the image grids.
# Resumable: an interrupted job keeps its finished images in images.partial/.
# generation's speed options (batch_size, compile, channels_last) are not params: the script reads
# them from the config, so changing them reruns nothing (they do not change the images).


rule generate_images:
    input:
        unpack(generate_inputs),
    output:
        images=directory(run_path("{te}", "{unet}", "{seed}", "images")),
        showcase=directory(run_path("{te}", "{unet}", "{seed}", "showcase")),
        record=run_path("{te}", "{unet}", "{seed}", "generation.json"),
        provenance=run_path("{te}", "{unet}", "{seed}", "generation.provenance.json"),
    params:
        stage=stage_settings("generate_images"),
        requested=requested_sparsity,
        scopes=run_scopes,
        device=config["device"],
    conda:
        ENV
    log:
        f"logs/{MODEL}/generate_images/te={{te}}/unet={{unet}}/seed={{seed}}.log",
    benchmark:
        run_path("{te}", "{unet}", "{seed}", "benchmark_generate.tsv")
    threads: 1
    resources:
        gpu=GPU,
        runtime=720,
    script:
        "../scripts/generate_images.py"
