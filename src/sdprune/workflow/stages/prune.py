"""prune: one component to one `PruneSpec`; the artifact and its measured report."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from sdprune.io import load_tensors, write_json
from sdprune.models.loading import component_fingerprint, load_pipeline
from sdprune.pruning.accounting import pipeline_accounting
from sdprune.pruning.spec import OwlSettings
from sdprune.pruning.artifact import save_artifact
from sdprune.pruning.calibration import load_statistics
from sdprune.pruning.calibration import CalibrationSettings
from sdprune.pruning.prune import prune_component
from sdprune.pruning.spec import PruneSpec
from sdprune.workflow.provenance import environment_record


def prune(*, model_dir: str | Path, component: str, spec: PruneSpec, calibration: CalibrationSettings | None = None,
          prompts: Sequence[str] = (), owl: OwlSettings = OwlSettings(), statistics_path: str | Path | None = None,
          out_dir: str | Path, device: str = "auto", dtype: str = "float32") -> dict:
    """Prune one component; write ``artifact.safetensors`` and ``report.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    pipe = load_pipeline(model_dir, device=device, dtype=dtype)
    needs = spec.choice.statistics
    reuse = statistics_path is not None and spec.choice.reuses_dense_norms
    dense_stats = load_statistics(load_tensors(statistics_path)) if reuse else None
    calibration = (calibration or spec.choice.method.calibration_for(component, CalibrationSettings())) if needs else None
    result = prune_component(pipe, component, spec, prompts=prompts if needs else (), calibration=calibration,
                             owl=owl, dense_statistics=dense_stats)
    result.artifact.base_fingerprint = component_fingerprint(model_dir, component)
    report = {
        **result.report,
        "base_model": str(Path(model_dir).resolve()),
        "full_model": pipeline_accounting(pipe, {component: spec.sparsity}, {component: spec.scope}),
        "calibration": asdict(calibration) if calibration else None,
        "num_calibration_prompts": len(prompts) if calibration else 0,
        "environment": environment_record(),
    }
    save_artifact(out_dir / "artifact.safetensors", result.artifact)
    write_json(out_dir / "report.json", report)  # written last: its presence means the artifact is complete
    return report
