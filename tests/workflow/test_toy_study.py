"""The toy preset end to end (`make demo`): a model that draws, and pruning that visibly hurts it.

One run of config/toy.yaml per session (the `toy_run` fixture): the download stage trains the toy
model, then the study in miniature runs. These tests read what it wrote.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from sdprune.models.build import build_pipeline
from sdprune.models.loading import load_pipeline
from sdprune.scenes.judge import prompt_accuracy

pytestmark = pytest.mark.workflow

def runs(toy_run) -> pd.DataFrame:
    return pd.read_csv(toy_run / "results/toy/tables/runs.csv")


def dense(table: pd.DataFrame) -> pd.Series:
    return table[(table.te_method == "dense") & (table.unet_method == "dense") & (table.seed == 0)].iloc[0]


def single(table: pd.DataFrame, component: str, method: str) -> pd.DataFrame:
    mine, other = ("unet", "te") if component == "unet" else ("te", "unet")
    rows = table[(table[f"{mine}_method"] == method) & (table[f"{other}_method"] == "dense") & (table.seed == 0)]
    return rows.set_index(f"{mine}_sparsity").sort_index()


def _judge(pipe, prompts: list[str], settings: dict) -> dict:
    generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
    images = pipe(prompts, num_inference_steps=settings["num_steps"], guidance_scale=settings["guidance_scale"],
                  generator=generators, height=64, width=64, output_type="np").images
    return prompt_accuracy([(image * 255).round().astype(np.uint8) for image in images], prompts)


def test_trained_toy_model_draws_what_it_is_asked_and_an_untrained_one_does_not(toy_run):
    prompts = json.loads((toy_run / "results/toy/data/evaluation_prompts.json").read_text())["prompts"]
    settings = {"num_steps": 20, "guidance_scale": 4.0}
    trained = _judge(load_pipeline(toy_run / "resources/models/toy"), prompts, settings)
    untrained = _judge(build_pipeline("toy", seed=0), prompts, settings)
    assert untrained["prompt_accuracy"] <= 0.05
    assert trained["prompt_accuracy"] >= untrained["prompt_accuracy"] + 0.15
    assert trained["colour_accuracy"] >= untrained["colour_accuracy"] + 0.3
    assert dense(runs(toy_run)).prompt_accuracy == pytest.approx(trained["prompt_accuracy"], abs=0.1)


def test_accuracy_falls_as_unet_magnitude_sparsity_rises(toy_run):
    table = runs(toy_run)
    curve = single(table, "unet", "magnitude")
    low, high = curve.loc[0.25], curve.loc[0.75]
    assert low.prompt_accuracy >= dense(table).prompt_accuracy - 0.15
    assert high.prompt_accuracy <= low.prompt_accuracy - 0.15
    assert high.fid > low.fid


@pytest.mark.parametrize("component", ["text_encoder", "unet"])
def test_cliff_threshold_lies_between_the_last_good_and_the_first_bad_sparsity(toy_run, component):
    state = json.loads((toy_run / f"results/toy/cliffs/{component}/magnitude/final.json").read_text())
    evaluated = {float(s): v for s, v in state["evaluated"].items()}
    limit = state["criterion"]["limit"]
    good = [s for s, v in evaluated.items() if v >= state["dense_value"] - limit]
    assert state["threshold"] in evaluated and state["threshold"] in good
    if state["first_bad"] is not None:
        assert evaluated[state["first_bad"]] < state["dense_value"] - limit
        assert 0 < state["first_bad"] - state["threshold"] <= state["step"] + 1e-9
        assert all(s > state["threshold"] for s in evaluated if s not in good)
