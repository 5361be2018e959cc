"""The metrics the reports know: which way each one is better, the scene world's accuracies, and the
metrics scored only when switched on (CMMD, ImageReward).

The accuracies are `sdprune.scenes.judge.prompt_accuracy`'s keys; `score` writes them at the top
level of a run's `scores.json` only when the evaluation prompts are scene captions. They are
spelled out here, not imported, so the reporting stages do not depend on the judge's code.
"""

from __future__ import annotations

# prompt_accuracy: every part of the caption right; the others: one criterion each.
ACCURACY_METRICS = ("prompt_accuracy", "count_accuracy", "colour_accuracy", "shape_accuracy",
                    "attribute_accuracy", "relation_accuracy")

# Scored only where the config switches them on (scoring.cmmd, scoring.image_reward): a column then.
OPTIONAL_METRICS = ("cmmd", "image_reward")

LOWER_IS_BETTER = {"fid": True, "clip_score": False, "ssim": False, "clip_image_similarity": False,
                   **{name: False for name in ACCURACY_METRICS}, "cmmd": True, "image_reward": False}
