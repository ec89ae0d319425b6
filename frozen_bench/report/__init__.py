"""The report: figures, tables and statistics drawn from all.csv alone (no torch, no datasets)."""
