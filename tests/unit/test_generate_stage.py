"""The generate stage's record: what the run's U-Net costs per step beside the dense one."""

from sdprune.evaluation.generation import GenerationSettings
from sdprune.reporting.tables import step_efficiency
from sdprune.workflow.stages.generate import generate


def test_generation_record_measures_the_step_against_dense(tiny_model_dir, tmp_path):
    record = generate(model_dir=tiny_model_dir, artifacts={}, requested={}, scopes={}, prompts=["a red circle"],
                      settings=GenerationSettings(num_steps=2, batch_size=1, seed=0),
                      images_dir=tmp_path / "images", record_path=tmp_path / "generation.json", device="cpu")
    cost = record["efficiency"]
    assert record["runtime"]["device"] == "cpu" and record["runtime"]["batch_size"] >= 1
    assert cost["parameters"] == cost["dense_parameters"] > 0
    assert cost["flops_per_step"] == cost["dense_flops_per_step"] > 0
    assert (cost["height"], cost["width"], cost["batch"]) == (64, 64, 2)  # the tiny model's native size, CFG
    assert cost["device"] == "cpu" and cost["dtype"] == "float32"
    columns = step_efficiency(record)
    assert columns["gflops_per_step"] == cost["flops_per_step"] / 1e9
    assert columns["speedup"] == cost["speedup"] > 0
    assert step_efficiency({"accounting": {}}) == {}  # records from before the measurement: no columns


def test_a_structured_run_is_measured_smaller_and_cheaper_than_dense(tiny_model_dir, tmp_path):
    from sdprune.pruning.masks import STRUCTURED
    from sdprune.pruning.spec import PruneSpec
    from sdprune.workflow.stages.prune import prune

    spec = PruneSpec("magnitude", STRUCTURED, 0.5, "transformer")
    prune(model_dir=tiny_model_dir, component="unet", spec=spec, out_dir=tmp_path / "prune", device="cpu")
    record = generate(model_dir=tiny_model_dir, artifacts={"unet": tmp_path / "prune/artifact.safetensors"},
                      requested={"unet": 0.5}, scopes={"unet": "transformer"}, prompts=["a red circle"],
                      settings=GenerationSettings(num_steps=2, batch_size=1, seed=0),
                      images_dir=tmp_path / "images", record_path=tmp_path / "generation.json", device="cpu")
    cost = record["efficiency"]
    assert cost["parameters"] < cost["dense_parameters"]
    assert cost["flops_per_step"] < cost["dense_flops_per_step"]  # sliced layers: fewer operations counted
    unet = record["accounting"]["components"]["unet"]
    assert unet["total_params"] == cost["dense_parameters"]  # counted against the dense shapes
    assert unet["sliced_weights"] == unet["zeros"] > 0
    assert 0.3 < unet["realised_sparsity"] <= 0.5  # half the units of each module, its biases not counted
