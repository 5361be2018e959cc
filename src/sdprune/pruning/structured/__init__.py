"""Structured pruning of transformer blocks: whole attention heads and feed-forward units, layers sliced.

- units: which units each Attention / FeedForward has, as column groups of its output projection
- obs: OBS group saliency and the compensating update (greedy or one shot)
- pruner: `UnitPruner`, which applies them module by module during sequential calibration
- sliced_unet: the slicing itself and `SlicedUNet2DConditionModel`, whose config records the
  removed units (standalone: `export` ships it beside the weights)
- portable: writing a sliced pipeline that `from_pretrained` loads
"""
