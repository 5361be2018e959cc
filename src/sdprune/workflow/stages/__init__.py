"""One module per workflow stage, shared by the Snakemake scripts and the command line.

Each stage takes explicit paths and settings, writes its outputs atomically and
returns the record it wrote; none reads a config file or `snakemake`. A stage
module imports only what its stage runs, so its code fingerprint
(`sdprune.workflow.provenance`) changes only when that code does.
"""
