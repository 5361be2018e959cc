import json

import pandas as pd

from sdprune.reporting.metrics import ACCURACY_METRICS
from sdprune.reporting.tables import read_runs, run_row, runs_table, to_markdown, write_table
from sdprune.scenes.judge import prompt_accuracy
from sdprune.scenes.world import caption, render, scenes


def record(te_realised, unet_realised, nominal, true):
    return {"accounting": {"components": {"text_encoder": {"realised_sparsity": te_realised},
                                          "unet": {"realised_sparsity": unet_realised}},
                           "nominal_full_sparsity": nominal, "true_full_sparsity": true},
            "generation": {"seed": 0, "num_steps": 4, "guidance_scale": 7.5}, "seconds": 1.0}


def test_runs_table_has_a_row_per_run_and_na_rows_with_reasons(tmp_path):
    runs = [{"text_encoder": "dense", "unet": "dense", "experiments": ["dense"]},
            {"text_encoder": "magnitude-unstructured-0.53", "unet": "magnitude-unstructured-0.07",
             "experiments": ["ratios"], "allocations": ["0.2@75:25"]}]
    records, scores = [], []
    for i, rec in enumerate([record(0, 0, 0, 0), record(0.53, 0.07, 0.2, 0.1)]):
        (tmp_path / f"r{i}.json").write_text(json.dumps(rec))
        (tmp_path / f"s{i}.json").write_text(json.dumps({"fid": 1.5 * i, "clip_score": 0.3, "num_images": 8, "seconds": 2.0}))
        records.append(tmp_path / f"r{i}.json")
        scores.append(tmp_path / f"s{i}.json")
    infeasible = [{"experiment": "ratios", "total": 0.4, "ratio": "75:25", "reason": "the text encoder would need 106%"}]
    table = runs_table(model="m", runs=runs, records=records, scores=scores, infeasible=infeasible)
    assert len(table) == 3
    pruned = table[table.allocation == "0.2@75:25"].iloc[0]
    assert (pruned.text_sparsity, pruned.unet_sparsity, pruned.status) == (0.53, 0.07, "ok")
    na = table[table.status.str.startswith("N/A")].iloc[0]
    assert "106%" in na.status and pd.isna(na.fid) and na.nominal_full_sparsity == 0.4
    write_table(table, csv_path=tmp_path / "t.csv", markdown_path=tmp_path / "t.md")
    assert len(pd.read_csv(tmp_path / "t.csv")) == 3
    assert "| N/A: the text encoder would need 106% |" in (tmp_path / "t.md").read_text()
    assert "nan" not in to_markdown(table)


SCORES = {"fid": 12.5, "clip_score": 0.31, "num_images": 8, "seconds": 2.0}
PRUNED = {"text_encoder": "magnitude-unstructured-0.5", "unet": "dense", "experiments": ["text"]}


def test_scene_accuracies_become_columns_only_where_scored(tmp_path):
    accuracies = {name: 0.5 + i / 20 for i, name in enumerate(ACCURACY_METRICS)}
    plain = run_row("m", PRUNED, record(0.5, 0, 0.14, 0.07), SCORES)
    scened = run_row("m", PRUNED, record(0.5, 0, 0.14, 0.07), {**SCORES, **accuracies})
    assert not set(ACCURACY_METRICS) & set(plain)  # other prompt sets: the table as it was
    assert {name: scened[name] for name in ACCURACY_METRICS} == accuracies
    assert list(scened) == [*list(plain)[:list(plain).index("clip_score") + 1], *ACCURACY_METRICS,
                            *list(plain)[list(plain).index("clip_score") + 1:]]  # beside CLIP score, rest in order
    write_table(pd.DataFrame([scened]), csv_path=tmp_path / "t.csv", markdown_path=tmp_path / "t.md")
    assert read_runs(tmp_path / "t.csv").prompt_accuracy.iloc[0] == 0.5
    assert "| prompt_accuracy | count_accuracy |" in (tmp_path / "t.md").read_text()


def test_the_accuracy_columns_are_the_judges_keys():
    """The runs table spells the judge's keys out (no import of the judge): they must stay the same."""
    drawn = scenes(2, seed=0, split="eval")
    assert set(prompt_accuracy([render(s) for s in drawn], [caption(s) for s in drawn])) == set(ACCURACY_METRICS)
