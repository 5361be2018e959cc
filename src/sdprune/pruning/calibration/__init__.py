"""Activation statistics through one hook mechanism, for every method and component.

- settings: `CalibrationSettings` (how data is fed)
- feeds: what runs the model (`TextEncoderFeed`, `DenoisingFeed`, `make_feed`, timestep weights)
- hooks: `capture_inputs`, `collect_statistics`
- groups: the ordered groups of blocks of sequential calibration
- statistics: the accumulator interface and safetensors form; the accumulators
  themselves (`norms`, `hessian`) are imported lazily, by kind, and never from here.
"""

from sdprune.pruning.calibration.feeds import (
    DenoisingFeed,
    TextEncoderFeed,
    call_steps,
    called_timestep,
    make_feed,
    timestep_weights,
)
from sdprune.pruning.calibration.groups import calibration_groups
from sdprune.pruning.calibration.hooks import (
    CalibrationState,
    Feed,
    StopForward,
    capture_inputs,
    collect_statistics,
    input_rows,
)
from sdprune.pruning.calibration.settings import CalibrationSettings
from sdprune.pruning.calibration.statistics import (
    STATISTIC_KINDS,
    LayerStatistics,
    accumulator_class,
    load_statistics,
    save_statistics,
)

__all__ = [
    "STATISTIC_KINDS", "CalibrationSettings", "CalibrationState", "DenoisingFeed", "Feed", "LayerStatistics",
    "StopForward", "TextEncoderFeed", "accumulator_class", "call_steps", "called_timestep", "calibration_groups",
    "capture_inputs", "collect_statistics", "input_rows", "load_statistics", "make_feed", "save_statistics",
    "timestep_weights",
]
