import json
import subprocess
import sys

import torch
from diffusers import StableDiffusionPipeline

from sdprune.cli import main
from sdprune.models.components import find_layers


def test_prune_then_export_gives_a_pipeline_diffusers_loads(tiny_model_dir, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("A dog in a field\nAn ocean sunset\n")
    assert main(["prune", "--model", str(tiny_model_dir), "--component", "text_encoder", "--method", "wanda",
                 "--sparsity", "0.5", "--calibration-prompts", str(prompts), "--out", str(tmp_path / "te")]) == 0
    assert main(["prune", "--model", str(tiny_model_dir), "--component", "unet", "--method", "magnitude",
                 "--sparsity", "0.3", "--out", str(tmp_path / "unet")]) == 0
    report = json.loads((tmp_path / "te" / "report.json").read_text())
    assert abs(report["realised_sparsity"] - 0.5) < 1e-3
    assert main(["export", str(tmp_path / "te"), str(tmp_path / "unet"), "--out", str(tmp_path / "pipe")]) == 0

    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "pipe", local_files_only=True)
    for component, target in (("text_encoder", 0.5), ("unet", 0.3)):
        layers = find_layers(getattr(pipe, component))
        zeros = sum(int((l.weight == 0).sum()) for l in layers.values())
        total = sum(l.weight.numel() for l in layers.values())
        assert abs(zeros / total - target) < 1e-3
    image = pipe("A dog", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)


def test_bad_arguments_fail_before_any_work(tiny_model_dir, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "sdprune", *args], capture_output=True, text=True)

    out = run("prune", "--model", str(tiny_model_dir), "--component", "unet", "--method", "magnitude",
              "--sparsity", "1.2", "--out", str(tmp_path / "a"))
    assert out.returncode == 2 and "sparsity must be in [0, 1)" in out.stderr
    out = run("prune", "--model", str(tmp_path), "--component", "unet", "--method", "magnitude",
              "--sparsity", "0.5", "--out", str(tmp_path / "a"))
    assert out.returncode == 2 and "not a saved pipeline" in out.stderr
    out = run("prune", "--model", str(tiny_model_dir), "--component", "unet", "--method", "wanda",
              "--sparsity", "0.5", "--out", str(tmp_path / "a"))
    assert out.returncode != 0 and "needs --calibration-prompts" in out.stderr
    assert not (tmp_path / "a").exists()
