"""Names, prompts and paths with spaces, quotes and `;` reach no shell unquoted.

Statically: every rule runs a `script:` (Snakemake passes it the `snakemake` object, not a
command line), and nothing under src/ or scripts/ starts a shell. Dynamically: the tiny
workflow's first jobs, run from a folder whose path is a shell payload, on prompt files whose
names and lines are payloads: no payload runs, and every prompt arrives byte for byte.
"""

from __future__ import annotations

import ast
import json
import re

import pytest

from tests.workflow.conftest import REPO, copy_workflow, snakemake

PAYLOAD = "; touch PWNED"
ACTIONS = re.compile(r"^\s+(shell|run|script|notebook|wrapper|cwl|template_engine):", re.MULTILINE)


def test_every_rule_runs_a_script_and_no_shell():
    actions = {path.name: ACTIONS.findall(path.read_text()) for path in sorted((REPO / "rules").glob("*.smk"))}
    rules = {path.name: len(re.findall(r"^(?:rule|checkpoint) \w+:", path.read_text(), re.MULTILINE))
             for path in (REPO / "rules").glob("*.smk")}
    assert sum(rules.values()) > 10
    for name, found in actions.items():
        assert found == ["script"] * rules[name], f"{name}: {found}"


def _shell_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
            yield name
        if any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False) for k in node.keywords):
            yield f"{name}(shell=...)"


def test_no_library_code_or_script_starts_a_shell():
    files = sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "scripts").glob("*.py"))
    assert len(files) > 50
    found = {str(f.relative_to(REPO)): list(_shell_calls(ast.parse(f.read_text()))) for f in files}
    assert {f: calls for f, calls in found.items() if calls} == {}


EVALUATION = ['A dog; touch PWNED', 'A "quoted" cat $(touch PWNED)', "It's `touch PWNED` o'clock", "a\\b && touch PWNED"]
CALIBRATION = ["A bowl of soup' ; touch PWNED; '", 'Two "birds"; rm -rf PWNED_DIR']


@pytest.mark.workflow
def test_payloads_in_paths_and_prompts_run_nowhere(tmp_path):
    workdir = copy_workflow(tmp_path / f"work dir 'single' \"double\"{PAYLOAD}")
    (workdir / "PWNED_DIR").mkdir()  # the calibration payload would remove it
    prompts = workdir / "config" / f"prompts {PAYLOAD} 'x'"
    prompts.mkdir()
    evaluation, calibration = prompts / f"eval {PAYLOAD}.txt", prompts / f'calib "{PAYLOAD}".txt'
    evaluation.write_text("\n".join(EVALUATION) + "\n")
    calibration.write_text("\n".join(CALIBRATION) + "\n")
    config = (workdir / "config" / "tiny.yaml").read_text()
    for preset, payload in (("tiny-evaluation.txt", evaluation), ("tiny-calibration.txt", calibration)):
        config = config.replace(f"file: config/prompts/{preset}", f"file: {json.dumps(str(payload.relative_to(workdir)))}")
    config = config.replace("num_prompts: 32", f"num_prompts: {len(EVALUATION)}")
    config = config.replace("num_prompts: 16", f"num_prompts: {len(CALIBRATION)}")
    (workdir / "config" / "payloads.yaml").write_text(config)

    targets = ["results/tiny/data/evaluation_prompts.json", "results/tiny/data/calibration_prompts.json"]
    result = snakemake(workdir, *targets, "--cores", "2", "--configfile", "config/payloads.yaml", timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]

    assert not list(tmp_path.rglob("PWNED")) and (workdir / "PWNED_DIR").is_dir()
    records = [json.loads((workdir / t).read_text()) for t in targets]
    assert [r["prompt"] for r in records[0]] == EVALUATION
    assert sorted(r["prompt"] for r in records[1]) == sorted(CALIBRATION)


def test_a_model_name_with_a_payload_is_refused(tmp_path):
    from sdprune.workflow.validation import schema_problems

    problems = schema_problems({"model": {"name": f"tiny{PAYLOAD}", "source": "tiny"}, "experiments": [{"name": "x"}]},
                               REPO / "schemas" / "config.schema.yaml")
    assert problems == [f"model.name: 'tiny{PAYLOAD}' does not match '^[A-Za-z0-9][A-Za-z0-9_.-]*$'"]
