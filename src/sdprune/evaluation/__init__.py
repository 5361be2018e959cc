"""Evaluation layer: generation, metrics and prompt sets (including the procedural toy scene world)."""
