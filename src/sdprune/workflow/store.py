"""DVC as the artifact store: publish a finished run, restore it on a fresh clone.

Snakemake owns the DAG; DVC only stores and versions what the jobs wrote. Each
job leaves a provenance record (`*.provenance.json`). Publishing gathers them
into `provenance/<model>.json` (in git) and gives every output its own `.dvc`
file. Restoring adopts an artifact only where its record matches the current
config (`sdprune.workflow.params`) and code, and every workflow input it was made from is
adopted too; the rest is never pulled, so Snakemake reruns exactly that.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from sdprune.io import canonical_json, write_json
from sdprune.workflow.params import expected_params
from sdprune.workflow.provenance import code_fingerprint, fingerprint

log = logging.getLogger(__name__)

# With `--only scores`: what tables and figures are rebuilt from (no checkpoint, no image set).
REPORTING_RULES = {"score", "generate_images", "cliff_round", "cliff_series"}


class PublishRefused(RuntimeError):
    pass


@dataclass
class RestoreReport:
    adopted: list[str] = field(default_factory=list)  # record paths
    rejected: dict[str, str] = field(default_factory=dict)  # record path -> reason
    pulled: list[str] = field(default_factory=list)  # output paths


def _run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    log.info("$ %s", " ".join(cmd))
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def _snakemake(workdir: Path, configfile: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "snakemake", "--configfile", configfile, *args], workdir, check)


def _dvc(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "dvc", *args], workdir)


def manifest_path(workdir: Path, model: str) -> Path:
    return workdir / "provenance" / f"{model}.json"


def gather_records(workdir: Path, model: str) -> dict[str, dict]:
    """Every job record of a model's results and of the resources they used, keyed by record path."""
    roots = [workdir / "results" / model, workdir / "resources"]
    records = {}
    for root in roots:
        for path in sorted(root.rglob("*.provenance.json")) if root.exists() else []:
            record = json.loads(path.read_text())
            if path.is_relative_to(workdir / "resources") and record["rule"] == "download_model" \
                    and record["wildcards"].get("model") != model:
                continue  # another model's download
            records[str(path.relative_to(workdir))] = record
    return records


def _mtimes(paths: Iterable[Path]) -> dict[Path, tuple[float, float]]:
    times = {}
    for path in paths:
        for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
            stat = item.stat()
            times[item] = (stat.st_atime, stat.st_mtime)
    return times


def publish(*, workdir: str | Path, configfile: str, model: str, commit: bool = False, push: bool = True) -> dict:
    """Track every output of a finished run with its own .dvc file, push it, record the provenance.

    Refused unless `snakemake -n` says there is nothing left to do.
    """
    workdir = Path(workdir)
    dry = _snakemake(workdir, configfile, "-n")
    if "Nothing to be done" not in dry.stdout + dry.stderr:
        raise PublishRefused("the run is not finished: `snakemake -n` still has jobs to do; run the workflow first")
    records = gather_records(workdir, model)
    if not records:
        raise PublishRefused(f"no provenance records under results/{model}: nothing to publish")
    outputs = sorted({o for r in records.values() for o in r["outputs"] if (workdir / o).exists()})
    # dvc add re-links files from its cache; keep their times so Snakemake still sees a finished run.
    times = _mtimes(workdir / o for o in outputs)
    _dvc(workdir, "add", "--quiet", *outputs)
    for item, (atime, mtime) in times.items():
        os.utime(item, (atime, mtime))
    manifest = {"model": model, "configfile": configfile, "records": records}
    write_json(manifest_path(workdir, model), manifest)
    if push:
        _dvc(workdir, "push", "--quiet", *(f"{o}.dvc" for o in outputs))
    tracked = [str(manifest_path(workdir, model).relative_to(workdir))] + [f"{o}.dvc" for o in outputs]
    tracked += sorted({str(Path(o).parent / ".gitignore") for o in outputs if (workdir / o).parent.joinpath(".gitignore").exists()})
    _run(["git", "add", "--force", *tracked], workdir)
    if commit:
        _run(["git", "commit", "--quiet", "-m", f"Publish {model} results ({len(outputs)} artifacts)"], workdir)
    size = sum(f.stat().st_size for o in outputs for f in ([workdir / o] if (workdir / o).is_file()
                                                           else (workdir / o).rglob("*")) if f.is_file())
    return {"artifacts": len(outputs), "records": len(records), "bytes": size}


def adoption(records: Mapping[str, dict], config: Mapping, workdir: Path) -> tuple[set[str], dict[str, str]]:
    """Which records the current config and code would have produced, and why the others not."""
    producer = {o: key for key, r in records.items() for o in r["outputs"]}
    verdicts: dict[str, str | None] = {}  # record -> None (adopted) or the reason it is not

    def judge(key: str, seen: tuple[str, ...] = ()) -> str | None:
        if key in verdicts:
            return verdicts[key]
        record = records[key]
        reason = None
        try:
            expected = expected_params(config, record["rule"], record["wildcards"])
        except KeyError as error:
            expected, reason = None, str(error)
        if reason is None and canonical_json(expected) != canonical_json(record["params"]):
            reason = "config differs from the one that made it"
        elif reason is None and code_fingerprint(record["rule"], record["wildcards"], workdir) != record["code"]:
            reason = "code differs from the one that made it"
        for path, recorded in record["inputs"].items():
            if reason is not None:
                break
            if path in producer and producer[path] not in seen:
                upstream = judge(producer[path], (*seen, key))
                if upstream is not None:
                    reason = f"made from {path}, which is not adopted ({upstream})"
            elif path not in producer and fingerprint(workdir / path) != recorded:
                reason = f"input {path} differs from the one it was made from"
        verdicts[key] = reason
        return reason

    for key in records:
        judge(key)
    adopted = {k for k, v in verdicts.items() if v is None}
    return adopted, {k: v for k, v in verdicts.items() if v is not None}


def restore(*, workdir: str | Path, configfile: str, config: Mapping, only: str = "all") -> RestoreReport:
    """Pull what matches the current config and code, mark it up to date; leave the rest to rerun.

    only: "all", or "scores" (scores, run records, showcase images, cliff states: enough to
    rebuild tables and figures without checkpoints or image sets).
    """
    workdir = Path(workdir)
    model = config["model"]["name"]
    path = manifest_path(workdir, model)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: nothing was published for {model}")
    records = json.loads(path.read_text())["records"]
    adopted, rejected = adoption(records, config, workdir)
    report = RestoreReport(sorted(adopted), rejected)
    wanted = []
    for key in sorted(adopted):
        record = records[key]
        if only == "scores" and record["rule"] not in REPORTING_RULES:
            continue
        outputs = record["outputs"]
        if only == "scores":
            outputs = [o for o in outputs if not o.endswith("/images")]
        wanted += outputs
        write_json(workdir / key, record)  # the provenance output itself, as the job wrote it
    if wanted:
        _dvc(workdir, "pull", "--quiet", *(f"{o}.dvc" for o in wanted))
    report.pulled = wanted
    for key, reason in sorted(rejected.items()):
        log.info("not adopted: %s (%s)", key, reason)
    # Order the pulled outputs' times along the DAG and record current params and code in
    # Snakemake's metadata, so a later config change still triggers its reruns. Only pulled
    # outputs are targets: the rest (a drop-off search's later rounds, say) is Snakemake's to run.
    if wanted:
        _snakemake(workdir, configfile, "--touch", "--forceall", "--quiet", "--cores", "1", *wanted)  # targets last: --quiet takes values
    return report
