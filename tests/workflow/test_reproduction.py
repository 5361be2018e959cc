"""The paper's tables, figures and drop-off finder on the tiny preset (rebuilt from scores alone: test_cache)."""

import json
import zipfile

import pandas as pd
import pytest
import yaml

from .conftest import REPO, copy_workflow, snakemake

pytestmark = pytest.mark.workflow

def test_every_paper_table_in_three_formats(tiny_run):
    paper = tiny_run / "results/tiny/tables/paper"
    for number in range(2, 11):
        for ext in ("csv", "md", "tex"):
            assert (paper / f"table{number}.{ext}").stat().st_size > 0
    grid = pd.read_csv(paper / "table3.csv", index_col=0, keep_default_na=False)
    assert grid.loc["50%", "25:75"] == "N/A" and float(grid.loc["50%", "75:25"]) > 0
    assert "owl_magnitude" not in (paper / "table6.md").read_text()
    assert len(pd.read_csv(paper / "table10.csv")) == 3  # dense + two OWL threshold steps


def test_figures_exist_as_png_and_pdf(tiny_run):
    figures = tiny_run / "results/tiny/figures"
    expected = ["curves-text_encoder-magnitude", "curves-text_encoder-wanda", "curves-unet-magnitude",
                "methods-text_encoder", "thresholds-magnitude", "thresholds-owl_magnitude",
                "grid-text_encoder-magnitude", "grid-unet-magnitude", "grid-thresholds-magnitude"]
    for name in expected:
        assert (figures / f"{name}.png").stat().st_size > 1000
        assert (figures / f"{name}.pdf").stat().st_size > 1000


def test_the_cliff_finder_brackets_the_drop_off(tiny_run):
    cliffs = pd.read_csv(tiny_run / "results/tiny/tables/cliffs.csv")
    row = cliffs.iloc[0]
    assert (row.component, row.method) == ("text_encoder", "magnitude")
    assert row.first_bad - row.threshold <= 0.15 + 1e-9
    assert row.evaluated >= 3  # the coarse grid and at least one refinement
    assert "fid > 3" in row.criterion


def test_report_builds_offline(tiny_run):
    result = snakemake(tiny_run, "--report", "report.html", "--configfile", "config/tiny.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tiny_run / "report.html").read_text(errors="ignore")
    assert len(html) > 10_000 and "Figures" in html


def test_coco_data_rules_on_a_local_fixture(tmp_path):
    """The paper's sample from a COCO-format fixture: captions, calibration disjoint, references extracted."""
    work = copy_workflow(tmp_path / "coco")
    coco = work / "coco"
    coco.mkdir()
    images = [{"id": i, "file_name": f"{i:012d}.jpg"} for i in range(1, 41)]
    captions = [{"id": 100 + i, "image_id": 40 - i % 40, "caption": f"caption {i}"} for i in range(80)]
    with zipfile.ZipFile(coco / "annotations_trainval2017.zip", "w") as z:
        z.writestr("annotations/captions_val2017.json",
                   json.dumps({"images": images, "annotations": captions}))
    with zipfile.ZipFile(coco / "val2017.zip", "w") as z:
        for image in images:
            z.writestr(f"val2017/{image['file_name']}", f"jpeg of {image['id']}")
    config = yaml.safe_load((REPO / "config/tiny.yaml").read_text())
    config["model"]["name"] = "coco-fixture"
    config["data"] = {"evaluation": {"source": "coco", "split": "val2017", "num_prompts": 10, "seed": 0,
                                     "coco_dir": "coco"},
                      "calibration": {"source": "coco", "num_prompts": 5, "seed": 1}}
    config["scoring"]["fid_reference"] = "data"
    (work / "coco.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/coco-fixture/data/reference_images", "results/coco-fixture/data/calibration_prompts.json"]
    result = snakemake(work, *targets, "--cores", "1", "--configfile", "coco.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = pd.read_json(work / "results/coco-fixture/data/evaluation_prompts.json")
    calibration = pd.read_json(work / "results/coco-fixture/data/calibration_prompts.json")
    assert len(evaluation) == 10 and len(calibration) == 5
    assert not set(evaluation.image_id) & set(calibration.image_id)
    references = sorted(p for p in (work / "results/coco-fixture/data/reference_images").iterdir()
                        if not p.name.startswith("."))  # Snakemake keeps a timestamp file in directory outputs
    assert [p.name for p in references] == [f"{i:06d}.jpg" for i in range(10)]
    first = evaluation.iloc[0]
    assert references[0].read_bytes() == f"jpeg of {first.image_id}".encode()
