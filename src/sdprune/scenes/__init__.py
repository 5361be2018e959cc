"""The toy scene world: seeded scenes with captions (`world`) and an exact judge of images against them (`judge`).

A layer of its own just above the foundation, because both the toy model's training
(`sdprune.models.toy`) and the evaluation (`prompt_accuracy`, the scene FID network) use it.
"""
