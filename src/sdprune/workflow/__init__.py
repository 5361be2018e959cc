"""The workflow's glue: config to runs, per-rule settings, provenance, the DVC store, one module per stage."""
