"""The figures on a synthetic runs table: the accuracy figure where scene accuracies were scored, none without."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sdprune.evaluation.generation import image_name
from sdprune.reporting import figures
from sdprune.reporting.figures import accuracy_comparison, all_figures
from sdprune.reporting.metrics import ACCURACY_METRICS

PROMPTS = ["a small red circle", "a large blue square"]


def run(text_method, ts, unet_method, us, accuracy):
    te = "dense" if text_method == "dense" else f"{text_method}-unstructured-{ts:g}"
    unet = "dense" if unet_method == "dense" else f"{unet_method}-unstructured-{us:g}"
    row = {"text_spec": te, "unet_spec": unet, "experiments": "grid", "status": "ok", "seed": 0,
           "text_method": text_method, "text_sparsity": ts, "unet_method": unet_method, "unet_sparsity": us,
           "nominal_full_sparsity": (ts + us) / 2, "fid": 10 + 20 * (1 - accuracy), "clip_score": 0.3,
           "fid_protocol": "clean"}
    # each criterion a little more forgiving than the whole caption, so the panels differ
    return row | {name: min(1.0, accuracy + 0.02 * i) for i, name in enumerate(ACCURACY_METRICS)}


@pytest.fixture
def scored():
    return pd.DataFrame([run("dense", 0, "dense", 0, 0.9),
                         run("magnitude", 0.3, "dense", 0, 0.85), run("magnitude", 0.6, "dense", 0, 0.4),
                         run("wanda", 0.3, "dense", 0, 0.88), run("wanda", 0.6, "dense", 0, 0.7),
                         run("dense", 0, "magnitude", 0.3, 0.8)])


def drawn(tmp_path, runs):
    showcase = tmp_path / "showcase"
    for te, unet in zip(runs.text_spec, runs.unet_spec):
        folder = showcase / f"{te}+{unet}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(len(PROMPTS)):
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(folder / image_name(i))
    written = all_figures(runs, kinds={"grid": "grid"}, seed=0, prompts=PROMPTS, out_dir=tmp_path / "figures",
                          showcase_dir=lambda te, unet, seed: showcase / f"{te}+{unet}")
    return {path.name for path in written}


def test_an_accuracy_figure_per_component_where_scored(scored, tmp_path):
    names = drawn(tmp_path, scored)
    for component in ("text_encoder", "unet"):
        for ext in ("png", "pdf"):
            assert f"accuracy-{component}.{ext}" in names
            assert (tmp_path / "figures" / f"accuracy-{component}.{ext}").stat().st_size > 1000
    assert "methods-text_encoder.png" in names  # the figures that were there still are


def test_no_accuracy_figure_without_the_column(scored, tmp_path):
    plain = scored.drop(columns=list(ACCURACY_METRICS))
    names = drawn(tmp_path, plain)
    assert not any(name.startswith("accuracy-") for name in names)
    assert not list((tmp_path / "figures").glob("accuracy-*"))
    assert {"curves-text_encoder-wanda.png", "methods-text_encoder.png"} <= names
    assert accuracy_comparison(plain, "text_encoder", ["magnitude"], tmp_path) == []


def test_every_method_and_the_dense_value_on_each_panel(scored, tmp_path, monkeypatch):
    shown = {}

    def keep(fig, out_dir, name):  # look at the figure instead of writing it
        shown[name] = fig
        return []

    monkeypatch.setattr(figures, "save", keep)
    accuracy_comparison(scored, "text_encoder", ["magnitude", "wanda"], tmp_path)
    panels = [ax for ax in shown["accuracy-text_encoder"].axes if ax.get_visible()]
    assert len(panels) == len(ACCURACY_METRICS)
    for ax, metric in zip(panels, ACCURACY_METRICS):
        methods, dense = ax.lines[:2], ax.lines[2]
        assert [list(line.get_xdata()) for line in methods] == [[0, 30, 60], [0, 30, 60]]
        assert list(methods[0].get_ydata()) == list(scored[metric].iloc[[0, 1, 2]])  # dense at 0, then magnitude
        assert list(dense.get_ydata()) == [scored[metric].iloc[0]] * 2  # the dense value, dashed across
    assert panels[0].get_title() == "prompt (all of it right)"
    figures.plt.close(shown["accuracy-text_encoder"])


def test_speed_quality_figure_only_where_runs_measured_their_step(scored, tmp_path):
    assert not any(name.startswith("speed-quality") for name in drawn(tmp_path / "before", scored))
    measured = scored.assign(speedup=[1.0, 1.0, 1.0, 1.0, 1.0, 1.02], efficiency_device="cpu")
    names = drawn(tmp_path / "after", measured)
    assert {"speed-quality-unet.png", "speed-quality-unet.pdf"} <= names
    assert (tmp_path / "after" / "figures" / "speed-quality-unet.png").stat().st_size > 1000
