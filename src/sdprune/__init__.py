"""sdprune: reproducible post-training pruning of text-to-image diffusion models.

The workflow (Snakefile) calls thin scripts over this library; `python -m sdprune`
exposes the same stages for pipelines of your own.
"""

__version__ = "0.1.0"
