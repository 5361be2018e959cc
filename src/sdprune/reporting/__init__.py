"""Tables, paper tables, figures and drop-off thresholds, built from scores alone."""
