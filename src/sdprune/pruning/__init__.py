"""The pruning library: masks, methods, calibration, sparsity plans, accounting, artifacts."""
