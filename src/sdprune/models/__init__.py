"""Building, fetching and loading Stable Diffusion pipelines; which of their layers are prunable."""
