"""`toy`: a small text-to-image model of the real classes that draws, trained on a CPU on the scene world.

Its shapes are `models.architectures.TOY_*`; `layouts` (the fixed latent the autoencoder is fitted to),
`training` (the two-stage recipe and its settings).
"""
